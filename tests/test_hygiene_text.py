"""What counts as blank, the same text, the same URL; MinHash estimates against the true Jaccard similarity."""

from __future__ import annotations

import numpy as np
import pytest
from hygiene_data import body, edited

from toolkit.hygiene.fingerprints import fingerprints
from toolkit.hygiene.minhash import band_buckets, lsh_shape, signatures, similarities
from toolkit.hygiene.text import is_blank, normalized, shingles, title_key, url_key


@pytest.mark.parametrize("value", ["", "   ", "\n\t", "\u200b", " \u200b\u2060\ufeff\n", "\u00ad", "\u200e\u200f"])
def test_blank(value):
    assert is_blank(value)


@pytest.mark.parametrize("value", ["a", " x ", "\u200ba", "é", "\u200b\u200b.", "😀"])
def test_not_blank(value):
    assert not is_blank(value)


VARIANTS = ["Café opens today. More soon.", "Cafe\u0301 opens\u200b  today.\n\nMore\u00a0  soon. ",
            "\ufeffCafé opens today.\tMore soon.", "Café opens today. More soon!", "café opens today. More soon.",
            "Cafe opens today. More soon.", "Café opens today.", "Café", "Café opens today. More soon. Later more."]


def test_exact_hash_is_equal_exactly_when_normalised_texts_are():
    assert normalized(VARIANTS[1]) == VARIANTS[0]
    exact, _ = fingerprints(VARIANTS)
    for i, a in enumerate(VARIANTS):
        for j, b in enumerate(VARIANTS):
            assert (exact[i] == exact[j]) == (normalized(a) == normalized(b)), (a, b)


def test_url_key_matches_rescrapes_of_one_page():
    assert url_key("https://www.Example.org/a/b/#comments") == url_key("http://example.org/a/b")
    assert url_key("https://example.org/a?id=1") != url_key("https://example.org/a?id=2")


def test_title_key_is_per_source():
    assert title_key("Wire", "Storm  hits coast") == title_key("Wire", "storm hits coast")
    assert title_key("Wire", "Storm hits coast") != title_key("Gazette", "Storm hits coast")


def _jaccard(a: str, b: str) -> float:
    left, right = set(shingles(normalized(a))), set(shingles(normalized(b)))
    return len(left & right) / len(left | right)


def test_minhash_estimates_the_jaccard_similarity():
    pairs = [(body(1), edited(body(1))), (body(2), edited(edited(body(2)), 7, 5)), (body(3), body(4)),
             ("Short text here", "short  TEXT here"), ("Short text here", "Short text there")]
    texts = [t for pair in pairs for t in pair]
    true = [_jaccard(*pair) for pair in pairs]
    for sigs in (signatures([shingles(normalized(t)) for t in texts]), fingerprints(texts)[1]):
        estimated = similarities(sigs[0::2], sigs[1::2])
        assert np.allclose(estimated, true, atol=0.1)
        assert estimated[0] >= 0.8 > estimated[1] and estimated[2] == 0 and estimated[3] == 1 and estimated[4] == 0


def test_lsh_shape_and_buckets():
    bands, rows = lsh_shape(0.8)
    assert (bands, rows) == (14, 9)
    _, sigs = fingerprints([body(1), body(1).replace(" ", "\n"), body(2)])
    buckets = band_buckets(sigs, bands, rows)
    assert buckets.shape == (3, 14)
    assert (buckets[0] == buckets[1]).all() and not (buckets[0] == buckets[2]).any()
