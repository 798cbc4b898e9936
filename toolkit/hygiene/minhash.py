"""MinHash signatures and LSH band buckets, computed per batch; the index itself lives in the store.

Signatures come from `rensa` (R-MinHash, in Rust): on 20,000 generated articles (223 shingles
each) it took 0.7 s where `datasketch.MinHash.bulk` took 8.5 s, with the same estimates
(benchmarks/minhash.py). The LSH index is not a Python object: each article's band buckets
become (article, band, bucket) rows, and candidate pairs are a self-join in DuckDB, which spills
to disk, so the index never has to fit in memory.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import rensa

NUM_PERM = 128
SEED = 0x6E657773  # fixed: signatures of two runs (and two processes) must compare
FALSE_POSITIVE_WEIGHT = 0.1
# Odd 64-bit multipliers mixing a band's rows into one bucket id (wrapping arithmetic is the point).
_MIX = np.array([(0x9E3779B97F4A7C15 ^ (i * 0xBF58476D1CE4E5B9)) & (2**64 - 1) | 1 for i in range(NUM_PERM)],
                dtype=np.uint64)


def signatures(shingle_sets: list[list[str]], num_perm: int = NUM_PERM) -> np.ndarray:
    """One row of `num_perm` uint32 minimum hashes per shingle set."""
    if not shingle_sets:
        return np.empty((0, num_perm), np.uint32)
    rows = rensa.RMinHash.digest_matrix_from_token_sets(shingle_sets, num_perm, SEED).to_rows()
    return np.asarray(rows, dtype=np.uint32)


@cache
def lsh_shape(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows per band) minimising false positives below `threshold` and false negatives above it.

    A pair of Jaccard similarity s shares a bucket in some band with probability 1 - (1 - s^r)^b.
    datasketch's MinHashLSH weighs the areas below and above the threshold equally, which finds
    only 69% of pairs at 0.85 for a threshold of 0.8; a missed copy is a leak, while a false
    candidate only costs a signature comparison in the store, so misses weigh 9 times more here
    (at 0.8: 14 bands of 9 rows, 97.5% of pairs at 0.85 found).
    """
    below = np.linspace(0.0, threshold, 201)
    above = np.linspace(threshold, 1.0, 201)
    shapes = [(bands, rows) for bands in range(1, num_perm + 1) for rows in range(1, num_perm // bands + 1)]
    bands, rows = (np.array(column, dtype=np.float64)[:, None] for column in zip(*shapes, strict=True))
    false_positive = np.trapezoid(1 - (1 - below**rows) ** bands, below, axis=1)
    false_negative = np.trapezoid((1 - above**rows) ** bands, above, axis=1)
    error = FALSE_POSITIVE_WEIGHT * false_positive + (1 - FALSE_POSITIVE_WEIGHT) * false_negative
    return shapes[int(np.argmin(error))]


def band_buckets(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(articles, bands) int64 bucket ids: a band's `rows` values mixed into one number."""
    parts = sigs[:, : bands * rows].astype(np.uint64).reshape(len(sigs), bands, rows)
    with np.errstate(over="ignore"):
        mixed = (parts * _MIX[:rows]).sum(axis=2, dtype=np.uint64)
        mixed ^= mixed >> np.uint64(29)
    return mixed.view(np.int64)


def similarities(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of each row pair: the share of equal minimum hashes."""
    return (left == right).mean(axis=1)
