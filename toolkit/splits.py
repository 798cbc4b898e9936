"""Deterministic split assignment: each article's split depends only on its id, the seed and the ratios.

A stable hash (not Python's salted `hash`) maps each article id to a point in [0, 1); the ratios cut
that interval. Adding articles never moves an existing one, and annotations follow their article.
"""

from __future__ import annotations

import hashlib

from toolkit.manifest import Splits

SPLIT_ORDER = ("train", "validation", "test")


def split_point(article_id: str, seed: int) -> float:
    """A uniform point in [0, 1) for the article, the same on every machine and Python version."""
    digest = hashlib.blake2b(f"{seed}\x00{article_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_split(article_id: str, splits: Splits) -> str:
    """The split ('train', 'validation' or 'test') of an article."""
    point = split_point(article_id, splits.seed)
    edge = 0.0
    ratios = splits.ratios()
    for name, share in ratios.items():
        edge += share
        if point < edge:
            return name
    return next(reversed(ratios))  # rounding: the last non-empty split takes the remainder
