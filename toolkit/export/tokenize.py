"""The built-in tokenizer of the `ner-<layer>` views: Unicode-aware, cut at span edges, whitespace never a token.

A token is a run of word characters (`\\w`, plus combining marks and the zero-width (non-)joiners,
which belong to the letter before them: `é` written e + U+0301 and Persian words with a ZWNJ stay
one token), or any other single character that is not whitespace (punctuation, symbols, emoji).
Offsets are code points into the field, end exclusive, like the spans'.

Cut points (the edges of the spans a row tags) split tokens: no token ever crosses a span edge,
so every span is exactly a run of whole tokens. A paragraph ends at a line break (and the
whitespace after it) unless a span covers that break — a span is never cut in two rows.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import pairwise

import numpy as np

Offsets = tuple[int, int]

# str.splitlines()'s line boundaries; the whitespace after a break belongs to the break.
_BREAK = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


@cache
def _token_pattern() -> re.Pattern[str]:
    """The token regex; built once, on first use (scanning the code space takes ~0.2 s)."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Mn", "Mc", "Me")]
    ranges: list[list[int]] = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    joined = "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)
    # Each match is (the whitespace before a token, the token): `findall` then gives strings, not
    # match objects, and the offsets follow from the lengths — three times faster on long texts.
    return re.compile(rf"(\s*)([\w{joined}\u200c\u200d]+|[^\w\s])")


def tokenize(text: str, start: int, end: int, cuts: Sequence[int]) -> tuple[list[str], list[Offsets]]:
    """Tokens of `text[start:end]` and their (start, end) offsets in `text`, none crossing a cut in `cuts` (sorted)."""
    pattern = _token_pattern()
    edges = [start, *(c for c in cuts[bisect_right(cuts, start):] if c < end), end]
    tokens: list[str] = []
    offsets: list[Offsets] = []
    for left, right in pairwise(edges):
        position = left
        # `endpos` stops a match at the cut without copying the text.
        for space, token in pattern.findall(text, left, right):
            position += len(space)
            tokens.append(token)
            offsets.append((position, position + len(token)))
            position += len(token)
    return tokens, offsets


def tokens_between(text: str, start: int, end: int, cuts: Sequence[int]) -> list[Offsets]:
    """The offsets of `tokenize`'s tokens."""
    return tokenize(text, start, end, cuts)[1]


def paragraphs(text: str, spans: Iterable[Offsets]) -> list[Offsets]:
    """(start, end) of each paragraph of `text`: cut at line breaks, except breaks a span covers.

    `spans` must be sorted and must not overlap. Paragraphs holding only whitespace are kept
    here (they give no token, and the caller drops rows without tokens).
    """
    ordered = list(spans)
    bounds: list[Offsets] = []
    begin, i = 0, 0
    for match in _BREAK.finditer(text):
        while i < len(ordered) and ordered[i][1] <= match.start():
            i += 1
        if i < len(ordered) and ordered[i][0] < match.end():
            continue  # the break lies inside a span: the paragraph goes on
        bounds.append((begin, match.start()))
        begin = match.end()
    bounds.append((begin, len(text)))
    return bounds


def trim(text: str, start: int, end: int) -> Offsets | None:
    """The span without its leading and trailing whitespace (what its tokens cover); None if nothing is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(stripped)


# --- the same rules over a whole batch of fields at once (numpy), for the views' hot path ---------
#
# Each code point gets a class; a token is then a maximal run of WORD code points or a single OTHER
# one, and a paragraph break is a BREAK code point with the whitespace after it. These are exactly
# the regex's classes (`_token_pattern`, `_BREAK`), decided per code point by the same `re` checks,
# so the two spellings cannot disagree; `tests/test_views_ner.py` runs both on random texts.

OTHER, WORD, SPACE, BREAK = 0, 1, 2, 3
_UNKNOWN = 255
_MARKS = ("Mn", "Mc", "Me")
_WORD_CHAR = re.compile(r"[\w\u200c\u200d]")
_SPACE_CHAR = re.compile(r"\s")
_BREAK_CHAR = re.compile(r"[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")


def char_class(char: str) -> int:
    """The tokenizer's class of one code point: WORD, SPACE, BREAK (a line break, also whitespace) or OTHER."""
    if _BREAK_CHAR.match(char):
        return BREAK
    if _SPACE_CHAR.match(char):
        return SPACE
    if _WORD_CHAR.match(char) or unicodedata.category(char) in _MARKS:
        return WORD
    return OTHER


@cache
def _class_table() -> np.ndarray:
    """Code point → class, filled as code points are met: a corpus uses a few hundred of the 1.1M."""
    return np.full(sys.maxunicode + 1, _UNKNOWN, dtype=np.uint8)


def char_classes(codepoints: np.ndarray) -> np.ndarray:
    """The class of each code point of `codepoints` (uint32), from the lazily filled table."""
    table = _class_table()
    classes = table[codepoints]
    unknown = classes == _UNKNOWN
    if unknown.any():
        for point in np.unique(codepoints[unknown]).tolist():
            table[point] = char_class(chr(point))
        classes = table[codepoints]
    return classes


def codepoints(text: str) -> np.ndarray:
    """The code points of `text` as uint32 (UTF-32 is one unit per code point, so offsets are indices)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def token_bounds(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the tokens of a class array: runs of WORD, single OTHER code points; no cuts."""
    word = classes == WORD
    other = classes == OTHER
    before = np.concatenate(([False], word[:-1]))
    after = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero(other | (word & ~before))
    ends = np.flatnonzero(other | (word & ~after)) + 1
    return starts, ends


def split_tokens(starts: np.ndarray, ends: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tokens cut at each position of `cuts` that falls strictly inside one (the regex stops at `endpos`)."""
    if not cuts.size or not starts.size:
        return starts, ends
    holder = np.searchsorted(starts, cuts, side="right") - 1
    valid = holder >= 0
    inner = np.unique(cuts[valid][(starts[holder[valid]] < cuts[valid]) & (cuts[valid] < ends[holder[valid]])])
    if not inner.size:
        return starts, ends
    # Tokens are disjoint and each inner cut lies in one: it starts a token after that token's start
    # and ends one before its end (cuts in one token go in in order), so both lists stay sorted.
    within = np.searchsorted(starts, inner, side="right") - 1
    return np.insert(starts, within + 1, inner), np.insert(ends, within, inner)
