"""Corpora built to hold duplicates: distinct articles, exact copies under new ids, near copies, re-scrapes.

Texts are 20 sentences of 10 words drawn (seeded) from invented words, so two distinct articles
share no 5-word shingle, and a copy with one sentence edited stays above a 0.8 Jaccard similarity.
"""

from __future__ import annotations

import random

SYLLABLES = ("ka", "lo", "mi", "tu", "re", "sa", "no", "vi", "de", "po", "ga", "zu", "be", "ri", "fa", "xe")


def words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def body(seed: int, sentences: int = 20) -> str:
    rng = random.Random(seed)
    return " ".join(" ".join(words(rng, 10)).capitalize() + "." for _ in range(sentences))


def edited(text: str, sentence: int = 3, seed: int = 999) -> str:
    """`text` with one sentence replaced by another of the same length."""
    parts = text.split(". ")
    parts[sentence] = " ".join(words(random.Random(seed), 10)).capitalize()
    return ". ".join(parts)


def news(i: int, **overrides: object) -> dict:
    """A distinct, valid article numbered i (source alternating between two outlets)."""
    record = {"id": f"n{i:03d}", "title": f"Headline number {i}", "text": body(i), "language": "en",
              "url": f"https://news.example.org/story/{i}", "published_at": f"2024-{1 + i % 12:02d}-10",
              "source": {"name": ["Wire", "Gazette"][i % 2], "domain": "example.org"}}
    record.update(overrides)
    return record


def corpus(n: int = 30) -> list[dict]:
    return [news(i) for i in range(n)]


def ids(articles: list[dict]) -> list[str]:
    return [a["id"] for a in articles]
