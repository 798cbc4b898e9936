"""Every problem code of every stage, declared once here with the sentence the README's table shows.

Stages: `validate` judges dataset records; `import` reads annotation-tool exports
(`news-toolkit import`); `ingest text` and `ingest html/warc` read scraped pages. They share one
`Problem` type: where (file, line or byte offset), the record and its kind when there is one, the
code, the JSON pointer into the record when there is one, and the message. A code means one thing
within its stage; the same word in two stages (`invalid-encoding`) is the same fault seen on a line
or on a whole file.

Codes are stable: add new ones, never rename or remove one (reports and scripts match on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

RecordKind = Literal["article", "annotation"]
Stage = Literal["validate", "import", "ingest text", "ingest html/warc"]

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
        "A span overlapping an earlier span of the same layer, field and annotator, in a layer declared "
        "overlap: false."
    ),
    "conflicting-label": ("A second label for the same article by the same annotator in a document layer that is "
                          "not declared multi: true."),
    "missing-reference": "A relation annotation without head or tail.",
    "unknown-reference": "A relation's head or tail is not a valid span annotation of the same article read before it.",
    "blank-text": (
        "An article's text or title is empty once whitespace and format characters (zero-width spaces) are removed."
    ),
    "duplicate-text": (
        "An article whose text duplicates (exactly or nearly) an earlier accepted article, under duplicates: reject."
    ),
}


IMPORT_CODES: dict[str, str] = {
    "unreadable": "An input that cannot be read: missing, no permission, not a file this tool exports.",
    "invalid-encoding": "The file or line is not UTF-8, or a JSON string in it holds a lone surrogate such as \\ud800.",
    "invalid-json": "The file or line is not JSON, or a value is not the JSON object the tool writes there.",
    "malformed": "A line or item the tool's format does not allow (missing fields, bad offsets, an illegal tag).",
    "no-text": "A document without text (or whose text is only whitespace and format characters).",
    "duplicate-id": "A tool id already used by an earlier document or annotation with other content; the first stands.",
    "span-out-of-bounds": "A span that is empty or outside its text once converted to code points.",
    "span-text-mismatch": "The text the tool stored for a span (or its tokens) differs from the text at its offsets.",
    "unknown-reference": "A relation, attribute or note naming an annotation that was not imported.",
    "undeclared-type": "A type the tool's own configuration does not declare (imported all the same).",
}

TEXT_CODES: dict[str, str] = {
    "unreadable": (
        "The file could not be read (missing, a directory without .txt files, no permission, not a regular"
        " file such as a FIFO or device, larger than the reader's limit)."
    ),
    "invalid-encoding": "The file is not UTF-8.",
    "no-title": "No line that can be the title (empty file, or no blank line after a first line).",
    "no-date": "The dated layout's header has no line that parses with the profile's date formats.",
    "no-body": "A title (and date) but no body paragraph.",
    "duplicate-article": "The file's text is the same as an earlier file's in the same run; skipped.",
}

WEB_CODES: dict[str, str] = {
    "unreadable": (
        "The file could not be read (missing, a folder without such files, no permission, not a regular"
        " file, not a WARC file)."
    ),
    "empty": "The page or record has no content.",
    "undecodable": "The bytes are not in the charset the page declares, nor UTF-8.",
    "not-html": "Not an HTML page (a response record with another content type, or bytes no HTML parser reads).",
    "http-status": "A response record whose HTTP status is not 2xx (a redirect, an error page).",
    "too-large": "An HTML page larger than the reader's limit (not an article).",
    "truncated": "A record cut short: the WARC ends or its gzip member breaks inside it, or WARC-Truncated is set.",
    "no-text": "trafilatura found no main text on the page.",
    "extraction-failed": "trafilatura raised an error on the page (named in the message).",
    "no-title": "The page has main text but no title.",
}

# The catalogue, in the order a corpus meets the stages: scraped pages in, tool exports in, validation.
CATALOGUE: dict[Stage, dict[str, str]] = {
    "ingest text": TEXT_CODES,
    "ingest html/warc": WEB_CODES,
    "import": IMPORT_CODES,
    "validate": CODES,
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, located precisely enough to fix it: every stage reports with this type.

    `line` is None where the input has no lines to point at (a missing file, a whole WARC record:
    then `offset`, the record's byte offset, says where). `record_id`, `kind` and `path` (a JSON
    pointer) are set by validation, which judges records; readers leave them empty.
    """

    file: str
    line: int | None
    record_id: str | None
    kind: RecordKind | None
    code: str
    path: str
    message: str
    offset: int | None = None

    @classmethod
    def at(cls, file: str, line: int | None, code: str, message: str, *, offset: int | None = None) -> Problem:
        """A reader's problem: a place in an input file, no record yet."""
        return cls(file, line, None, None, code, "", message, offset)

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON form; `offset` only where there is one, so validation reports keep their shape."""
        shown: dict[str, Any] = {
            "file": self.file, "line": self.line, "record_id": self.record_id, "kind": self.kind,
            "code": self.code, "path": self.path, "message": self.message,
        }
        if self.offset is not None:
            shown["offset"] = self.offset
        return shown

    def __str__(self) -> str:
        """`file:line: [record] code: message`, the one form every command prints (compilers' and editors')."""
        place = self.line if self.line is not None else self.offset
        where = self.file if place is None else f"{self.file}:{place}"
        rid = f" [{self.record_id}]" if self.record_id else ""
        return f"{where}:{rid} {self.code}: {self.message}"


def codes_markdown_table() -> str:
    """The README's tables of problem codes, one per stage, generated from `CATALOGUE`."""
    parts = []
    for stage, codes in CATALOGUE.items():
        rows = [f"| `{stage}` code | meaning |", "|---|---|"]
        rows += [f"| `{code}` | {meaning} |" for code, meaning in codes.items()]
        parts.append("\n".join(rows))
    return "\n\n".join(parts)
