"""Exact-text hashes and MinHash signatures of a batch of texts, vectorised over the batch's code points.

The reference spelling is `text.normalized` and `text.shingles` (strings); building those strings
per article cost ~150 µs (regex, split, join, one string per shingle), most of the duplicate
detection's time. Here a batch is one array of code points (UTF-32): a table lookup drops format
characters and marks whitespace, words are the runs between, each word is hashed by a polynomial
over its code points (prefix sums, so no Python loop), a text's exact hash chains its words, and a
shingle token mixes five consecutive word hashes of one text. The tokens go to `rensa` as one flat
buffer. Equal normalised texts get equal hashes; the signature estimates the Jaccard similarity of
`text.shingles` sets (tests/test_hygiene_text.py checks both).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import rensa

from toolkit.hygiene.minhash import NUM_PERM, SEED
from toolkit.hygiene.text import FORMAT, SHINGLE_WORDS, SPACE, code_point_tables

_CHAR_BASE = 0x100000001B3  # odd: invertible modulo 2**64, so a word's hash does not depend on where it sits
_WORD_BASE = 0x9E3779B97F4A7C15
_GRAM_WEIGHTS = np.array([0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93, 0xA0761D6478BD642F,
                          0xE7037ED1A0B428DB][:SHINGLE_WORDS], dtype=np.uint64)


def fingerprints(texts: list[str], num_perm: int = NUM_PERM) -> tuple[np.ndarray, np.ndarray]:
    """(exact hash per text as int64, MinHash signature per text as uint32 rows) of non-blank texts."""
    if not texts:
        return np.empty(0, np.int64), np.empty((0, num_perm), np.uint32)
    codes, starts, ends, docs = _words([unicodedata.normalize("NFC", t) for t in texts])
    exact = _chains(_word_hashes(codes, starts, ends), docs, len(texts))
    lower = code_point_tables()[1][codes]  # the same words lower-cased: one pass over the text, not two
    tokens, offsets = _shingle_tokens(_word_hashes(lower, starts, ends), docs, len(texts))
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(tokens, offsets, num_perm, SEED)
    return exact.view(np.int64), np.asarray(matrix.to_rows(), dtype=np.uint32)


_POWERS: dict[int, np.ndarray] = {}  # base → its powers so far: a batch's code points need as many as it is long


def _powers(base: int, n: int) -> np.ndarray:
    """base**0 … base**(n-1) modulo 2**64 (computed once per process, grown when a longer batch comes)."""
    known = _POWERS.get(base)
    if known is None or len(known) < n:
        values = np.full(max(n, 1 << 20), base, np.uint64)
        values[0] = 1
        known = _POWERS[base] = np.multiply.accumulate(values)
    return known[:n]


def _mix(values: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64's), so nearby sums do not give nearby hashes."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def _span_hashes(values: np.ndarray, starts: np.ndarray, ends: np.ndarray, base: int) -> np.ndarray:
    """sum(values[start + j] * base**j) for each [start, end), from one prefix sum.

    In place where numpy allows: a batch holds millions of code points, and each temporary array of
    them cost as much as the arithmetic (25% of the fingerprints' time, measured).
    """
    n = len(values)
    with np.errstate(over="ignore"):
        prefix = np.empty(n + 1, np.uint64)
        prefix[0] = 0
        np.multiply(values, _powers(base, n), out=prefix[1:])
        np.cumsum(prefix[1:], out=prefix[1:])
        inverse = _powers(pow(base, -1, 1 << 64), n + 1)
        hashes = prefix[ends]
        hashes -= prefix[starts]
        hashes *= inverse[starts]
        return hashes


def _words(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The texts' code points joined by a separator, format characters dropped (so they join what they
    sat between), and each word's [start, end) in them and its text's index."""
    codes = np.frombuffer("\n".join(texts).encode("utf-32-le"), np.uint32)
    text_starts = np.concatenate([[0], np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)[:-1]])
    kinds = code_point_tables()[0][codes]
    kept = kinds != FORMAT
    if not kept.all():
        text_starts = np.concatenate([[0], np.cumsum(kept)])[text_starts]
        codes, kinds = codes[kept], kinds[kept]
    separator = kinds == SPACE
    inside = ~separator
    starts = np.flatnonzero(inside & np.concatenate([[True], separator[:-1]]))
    ends = np.flatnonzero(inside & np.concatenate([separator[1:], [True]])) + 1
    return codes, starts, ends, np.searchsorted(text_starts, starts, side="right") - 1


def _word_hashes(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _mix(_span_hashes(codes.astype(np.uint64) + np.uint64(1), starts, ends, _CHAR_BASE))


def _chains(words: np.ndarray, docs: np.ndarray, n: int) -> np.ndarray:
    """Per text, a hash of its sequence of words (equal for equal normalised texts)."""
    counts = np.bincount(docs, minlength=n)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    with np.errstate(over="ignore"):
        return _mix(_span_hashes(words, bounds[:-1], bounds[1:], _WORD_BASE) ^ counts.astype(np.uint64))


def _shingle_tokens(words: np.ndarray, docs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat token hashes (one per run of `SHINGLE_WORDS` words inside a text; a shorter text is one
    token) and the row offsets rensa reads them by."""
    size = SHINGLE_WORDS
    runs = len(words) - size + 1
    with np.errstate(over="ignore"):
        if runs > 0:
            mixed = sum(words[j:j + runs] * _GRAM_WEIGHTS[j] for j in range(size))
            inside = docs[:runs] == docs[size - 1:]
            grams, gram_docs = _mix(mixed[inside]), docs[:runs][inside]
        else:
            grams, gram_docs = np.empty(0, np.uint64), np.empty(0, np.int64)
        short = np.flatnonzero(np.bincount(docs, minlength=n) < size)
        whole = _chains(words, docs, n)[short]
    tokens = np.concatenate([grams, whole])
    token_docs = np.concatenate([gram_docs, short])
    order = np.argsort(token_docs, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(token_docs, minlength=n))]).astype(np.uint64)
    return np.ascontiguousarray(tokens[order]), offsets
