"""Conversions between offset units. The toolkit's unit is the Unicode code point (a Python str index)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable


def utf16_to_codepoint_mapper(text: str) -> Callable[[int], int]:
    """Return a function mapping a UTF-16 code-unit offset into `text` to a code-point offset.

    Tools written in JavaScript or Java (doccano, WebAnno/INCEpTION) count an astral character
    (emoji, some CJK) as two units. Offsets that fall inside a surrogate pair are rounded down.
    Offsets past the end map past the end, so bounds checks downstream still catch them.
    """
    # Positions (in UTF-16 units) just after each astral character: each one shifts later offsets by 1.
    astral_ends: list[int] = []
    units = 0
    for ch in text:
        units += 2 if ord(ch) > 0xFFFF else 1
        if ord(ch) > 0xFFFF:
            astral_ends.append(units)
    if not astral_ends:
        return lambda offset: offset

    def to_codepoint(offset: int) -> int:
        before = bisect_right(astral_ends, offset)
        inside_pair = before < len(astral_ends) and astral_ends[before] - 1 == offset
        return offset - before - (1 if inside_pair else 0)

    return to_codepoint


def codepoint_to_utf16(text: str, offset: int) -> int:
    """UTF-16 code-unit offset of code-point `offset` in `text` (for writing back to JS tools)."""
    return offset + sum(1 for ch in text[:offset] if ord(ch) > 0xFFFF)
