"""What counts as the same text, URL or title: the normalisations duplicate detection compares.

Pure functions of one article's strings, so the batch stage (any engine, any process) computes them
and the fast and careful validation paths decide blank texts identically. `normalized` and
`shingles` define text equality and near-duplicate shingles; `fingerprints.py` computes the same
vectorised over a batch.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import cache

import numpy as np

SHINGLE_WORDS = 5  # datatrove and dolma shingle by 5 words: an edited sentence leaves most shingles intact


WORD, FORMAT, SPACE = 0, 1, 2  # the kinds of code point `code_point_tables` tells apart


@cache
def code_point_tables() -> tuple[np.ndarray, np.ndarray]:
    """Two tables indexed by code point, built once per process (0.3 s).

    Kinds: part of a word; a format character (Unicode category Cf: zero-width spaces, joiners, the
    BOM, bidi marks, soft hyphens), which renders as nothing and is dropped; or whitespace (where
    Python's str.split() splits). Lower case: `str.lower` of the character, its first code point
    where that is longer (only U+0130, İ, whose lower case is i and a combining dot).
    """
    kinds = np.zeros(sys.maxunicode + 1, np.uint8)
    lower = np.arange(sys.maxunicode + 1, dtype=np.uint32)
    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        if char.isspace():
            kinds[cp] = SPACE
        elif unicodedata.category(char) == "Cf":
            kinds[cp] = FORMAT
        lowered = char.lower()
        if lowered != char:
            lower[cp] = ord(lowered[0])
    return kinds, lower


@cache
def format_characters() -> re.Pattern[str]:
    """A pattern matching every format character. A regex, not `str.translate` with a table: that cost
    2.1 s on 22,000 generated articles, the regex 0.5 s."""
    codes = np.flatnonzero(code_point_tables()[0] == FORMAT)
    breaks = np.flatnonzero(np.diff(codes) != 1)
    firsts, lasts = codes[np.concatenate([[0], breaks + 1])], codes[np.concatenate([breaks, [len(codes) - 1]])]
    ranges = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in zip(firsts, lasts, strict=True))
    return re.compile(f"[{ranges}]")


def is_blank(value: str) -> bool:
    """Whether `value` is empty once whitespace and format characters are removed."""
    stripped = value.strip()
    if not stripped:
        return True
    # The usual text starts with a visible character: decided without building the table.
    if stripped.isascii() or unicodedata.category(stripped[0]) != "Cf":
        return False
    return not format_characters().sub("", stripped).strip()


def normalized(text: str) -> str:
    """NFC, format characters removed, runs of whitespace folded to one space, ends trimmed."""
    if not text.isascii():
        text = format_characters().sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


def shingles(normal: str, size: int = SHINGLE_WORDS) -> list[str]:
    """Overlapping runs of `size` lower-cased words of normalised text (one shingle for shorter texts)."""
    words = normal.lower().split()
    if len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i:i + size]) for i in range(len(words) - size + 1)]


def url_key(url: str) -> str:
    """A URL as re-scrapes of one page share it: no scheme, `www.`, fragment or trailing slash; host lower-cased."""
    # String operations, not urllib.parse.urlsplit (5 times slower): the schema allows only http(s) URLs.
    rest = url.strip().partition("://")[2].partition("#")[0]
    head, _, query = rest.partition("?")
    host, _, path = head.partition("/")
    key = host.lower().removeprefix("www.") + ("/" + path).rstrip("/")
    return f"{key}?{query}" if query else key


def title_key(source: str | None, title: str) -> str:
    """A title within its source: normalised and case-folded, so "Storm hits coast" twice in one outlet match."""
    return f"{source or ''}\x1f{normalized(title).casefold()}"


def blank_fields(record: dict) -> list[str]:
    """Names of the article's `title` and `text` that are blank (the `blank-text` rule, for both validation
    paths); fields that are not strings are the schema's business."""
    return [name for name in ("title", "text") if isinstance(record.get(name), str) and is_blank(record[name])]
