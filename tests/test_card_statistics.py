"""Card statistics (issue 10 item 8): labels per split, text lengths, agreement, two plots that never change bytes."""

from __future__ import annotations

import hashlib
import struct
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import span
from hypothesis import given
from hypothesis import strategies as st

from toolkit.engines import EngineOptions
from toolkit.export import export, statistics
from toolkit.export.statistics import percentile, text_lengths

# Temporal splits, so which article lands where is known: train before June, validation before
# September, test after.
SPLITS = {"by": "published_at", "cutoffs": {"validation": "2024-06-01", "test": "2024-09-01"}}
TEXTS = {
    # id: (published, text). Code points and words counted by hand in the comments.
    "t1": ("2024-01-10", "Alice Moreau met ACME"),  # 21 code points, 4 words
    "t2": ("2024-02-10", "Alice Moreau met ACME in Łódź 😊 today"),  # 21 + 16 = 37 code points, 8 words
    "t3": ("2024-03-10", "Alice Moreau met ACME,\u00a0again"),  # 22 + 1 + 5 = 28 code points; NBSP splits: 5 words
    "t4": ("2024-04-10", "Alice Moreau met ACME for the fourth time this spring"),  # 53 code points, 10 words
    "v1": ("2024-07-01", "Alice Moreau met ACME in July"),  # 29 code points, 6 words
    "s1": ("2024-10-01", "Alice Moreau met ACME\n\nin the autumn"),  # 21 + 2 + 13 = 36 code points, 7 words
}


def _article(article_id: str) -> dict:
    published, text = TEXTS[article_id]
    return {"id": article_id, "title": f"Title {article_id}", "text": text, "language": "en",
            "published_at": published}


def _entity(ann_id: str, article_id: str, label: str, phrase: str, **extra: object) -> dict:
    return {**span(ann_id, label, phrase, article_id=article_id), **extra}


ANNOTATIONS = [
    _entity("e1", "t1", "PERSON", "Alice Moreau", annotator="ann-1"),
    _entity("e2", "t1", "PERSON", "Alice", annotator="ann-2"),
    _entity("e3", "t2", "ORG", "ACME"),
    _entity("e4", "v1", "ORG", "ACME"),
    _entity("e5", "v1", "PERSON", "Alice Moreau"),
    _entity("e6", "s1", "LOC", "ACME", annotator="model:ner"),
    {"id": "g1", "article_id": "t1", "layer": "genre", "label": "opinion"},
]


@pytest.fixture
def corpus(make_dataset):
    return make_dataset([_article(i) for i in TEXTS], ANNOTATIONS, splits=SPLITS)


def _card(build) -> str:
    return (build / "README.md").read_text(encoding="utf-8")


def test_labels_per_split_by_hand(corpus, tmp_path):
    card = _card(export(corpus, format="hf", out_dir=tmp_path).output)
    # entities: PERSON e1, e2 (train) and e5 (validation); ORG e3 (train), e4 (validation); LOC e6 (test).
    assert ("| label | train | validation | test | all |\n|---|---|---|---|---|\n"
            "| PERSON | 2 | 1 | 0 | 3 |\n| ORG | 1 | 1 | 0 | 2 |\n| LOC | 0 | 0 | 1 | 1 |\n"
            "| **total** | 3 | 2 | 1 | 6 |") in card
    assert "| opinion | 1 | 0 | 0 | 1 |" in card


def test_length_percentiles_by_hand(corpus, tmp_path):
    card = _card(export(corpus, format="hf", out_dir=tmp_path).output)
    # train code points sorted: 21, 28, 37, 53. Nearest rank of p5: ceil(0.05·4) = 1 → 21;
    # p50: ceil(2) = 2 → 28; p95: ceil(3.8) = 4 → 53; max 53. Words: 4, 5, 8, 10 → 4, 5, 10, 10.
    assert "| train | code points | 21 | 28 | 53 | 53 |" in card
    assert "| train | words | 4 | 5 | 10 | 10 |" in card
    # One article in validation (29, 6) and in test (36, 7): every percentile is that article.
    assert "| validation | code points | 29 | 29 | 29 | 29 |" in card and "| test | words | 7 | 7 | 7 | 7 |" in card


def test_percentile_and_lengths_functions():
    counts = Counter({3: 1, 7: 2, 10: 17})  # 20 values: ranks 1 → 3, 2-3 → 7, 4-20 → 10
    assert [percentile(counts, p) for p in (5, 10, 15, 50, 100)] == [3, 7, 7, 10, 10]  # ceil(.05·20)=1, 2, 3, …
    assert percentile(Counter(), 50) is None
    # Tabs, line breaks, em space and no-break space separate words; a zero-width space does not.
    assert text_lengths(pa.array(["", "a\tb\nc\u2003d\u00a0e", "x\u200by", " 😊 "])) == ([0, 9, 3, 3], [0, 5, 1, 1])


def test_the_card_shows_the_plots_and_the_checksums_cover_them(corpus, tmp_path):
    build = export(corpus, format="hf", out_dir=tmp_path).output
    card = _card(build)
    assert "![Annotations per label and split](images/labels.png)" in card
    assert "![Text length per split](images/lengths.png)" in card
    sums = dict(reversed(line.split("  ", 1)) for line in (build / "SHA256SUMS").read_text().splitlines())
    for name in ("images/labels.png", "images/lengths.png"):
        data = (build / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert sums[name] == hashlib.sha256(data).hexdigest()
    # Two people on t1 (ann-1, ann-2): the agreement table is in the card. Exact: 0 shared of 1 and 1
    # → 0.000; overlap: Alice Moreau and Alice overlap, both PERSON → R = P = 1 → 1.000.
    assert "| `entities` | F1, exact spans | (all) | 0.000 | 2 | 1 |" in card
    assert "| `entities` | F1, overlapping spans | (all) | 1.000 | 2 | 1 |" in card


def _png_chunks(data: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        chunks.append(kind)
        at += 12 + length
    return chunks


def test_builds_are_byte_identical_whatever_the_folder_and_workers(corpus, tmp_path):
    first = export(corpus, format="hf", out_dir=tmp_path / "one").output
    second = export(corpus, format="hf", out_dir=tmp_path / "two", engine=EngineOptions(workers=2)).output
    for name in ("images/labels.png", "images/lengths.png", "README.md", "SHA256SUMS"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    for name in ("images/labels.png", "images/lengths.png"):
        chunks = _png_chunks((first / name).read_bytes())
        # No text chunk (matplotlib's Software names its version) and no modification time.
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks), chunks
        assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"


def test_a_silver_build_has_no_agreement_and_no_people(corpus, tmp_path):
    card = _card(export(corpus, format="hf", out_dir=tmp_path, annotators="model").output)
    assert "there is no agreement to report" in card
    assert "| LOC | 0 | 0 | 1 | 1 |" in card  # only the model's span is in this build


def _regex_words(texts: pa.Array) -> list[int]:
    return pc.count_substring_regex(texts, statistics._WORD).to_pylist()


def test_word_counts_agree_with_the_regex_on_every_code_point():
    # Each code point alone, between two letters, and leading a word: `word_counts` replaces the RE2
    # scan only if it draws the same word boundaries everywhere in the code space.
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for shape in ("{}", "a{}b", "{}a {}"):
        texts = pa.array([shape.format(p, p) for p in points], pa.string())
        assert statistics.word_counts(texts).tolist() == _regex_words(texts), shape


@given(st.lists(st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x85\xa0\u2000\u2028\u3000\u200bab\xe9\u4e2d")),
                        max_size=30), max_size=20),
       st.integers(0, 5))
def test_word_counts_agree_with_the_regex_on_slices_of_mixed_texts(texts, cut):
    array = pa.array(texts, pa.string())
    sliced = array.slice(min(cut, len(texts)))  # an offset into the buffers, as a batch's column has
    assert statistics.word_counts(sliced).tolist() == _regex_words(sliced)
    assert text_lengths(sliced)[1] == _regex_words(sliced)
