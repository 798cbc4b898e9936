"""Problem codes: declared once here, with the sentence the README's table is generated from.

Codes are stable: add new ones, never rename or remove one (reports and scripts match on them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

RecordKind = Literal["article", "annotation"]

CODES: dict[str, str] = {
    "invalid-encoding": "The line is not UTF-8, or holds a lone surrogate escape such as \\ud800.",
    "invalid-json": "The line is not JSON, is not a JSON object, or is nested deeper than the parser allows.",
    "duplicate-key": "A JSON object in the line gives the same key twice (readers disagree on which one counts).",
    "line-too-long": "The line is longer than the reader's limit (--max-line-bytes); it is kept in the rejects.",
    "schema": "A JSON Schema violation; the message names the keyword and the field.",
    "invalid-date": "A date or time matches the RFC 3339 shape but is not a real moment (2023-02-30).",
    "duplicate-id": "An id already used by an earlier record of the same kind; the first one read stands.",
    "unknown-article": "An annotation names an article id that no article has.",
    "invalid-article": "An annotation names an article that exists but was itself rejected.",
    "unknown-layer": "The annotation's layer is not declared in the manifest.",
    "unknown-label": "The label is not among the labels the manifest declares for the layer.",
    "missing-span": "A span-layer annotation without start and end offsets.",
    "unexpected-span": "A document or relation annotation that carries span offsets.",
    "span-out-of-bounds": "start/end do not satisfy 0 <= start < end <= length of the field (in code points).",
    "span-text-mismatch": "The annotation's text differs from the field's code points between start and end.",
    "span-overlap": (
        "A span overlapping an earlier span of the same layer and field, in a layer declared overlap: false."
    ),
    "conflicting-label": "A second label for the same article in a document layer that is not declared multi: true.",
    "missing-reference": "A relation annotation without head or tail.",
    "unknown-reference": "A relation's head or tail is not a valid span annotation of the same article read before it.",
    "blank-text": (
        "An article's text or title is empty once whitespace and format characters (zero-width spaces) are removed."
    ),
    "duplicate-text": (
        "An article whose text duplicates (exactly or nearly) an earlier accepted article, under duplicates: reject."
    ),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one record, located precisely enough to fix it."""

    file: str
    line: int
    record_id: str | None
    kind: RecordKind
    code: str
    path: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def codes_markdown_table() -> str:
    """The README's table of problem codes, generated from `CODES`."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| `{code}` | {meaning} |" for code, meaning in CODES.items()]
    return "\n".join(rows)
