"""Reading an annotation tool's export files: one place for what every importer does first.

Finding the files (folders searched recursively, in name order), reading bytes without hanging on
a FIFO, decoding UTF-8 with one wording for every importer, numbering lines, and reading JSON
values with the line each starts on. Every failure is a `Problem` appended to the caller's list;
nothing here raises on bad input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from toolkit.problems import Problem
from toolkit.readers import file_kind, open_regular

_JSON_WS = re.compile(r"[ \t\n\r]*")
_BOM = b"\xef\xbb\xbf"


def input_files(paths: Sequence[Path], problems: list[Problem], accept: Callable[[Path], bool]) -> list[Path]:
    """The files to read: each file named as it is, each folder's accepted files below it in path order.

    Hidden files (`.name`) in folders are editor or system droppings, never exports. A path that
    does not exist is a problem naming it.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = (p for p in path.rglob("*") if not p.name.startswith(".") and p.is_file() and accept(p))
            files.extend(sorted(found))
        elif path.is_file():
            files.append(path)
        elif path.exists():  # a FIFO or device named as input: refused by name, never opened (it may never end)
            kind = file_kind(path.stat().st_mode)
            problems.append(Problem.at(str(path), None, "unreadable", f"cannot read file: not a regular file ({kind})"))
        else:
            problems.append(Problem.at(str(path), None, "unreadable", "no such file or folder"))
    return files


def suffix_in(*suffixes: str) -> Callable[[Path], bool]:
    """A file filter for `input_files`: the name ends with one of `suffixes` (case-insensitive)."""
    return lambda path: path.suffix.lower() in suffixes


def read_export_file(path: Path, problems: list[Problem]) -> bytes | None:
    """The file's bytes, or None with a problem naming it when it cannot be read.

    A FIFO (which would hang the import) or a device such as /dev/zero (which never ends) is
    refused without being opened.
    """
    try:
        with open_regular(path) as stream:
            return stream.read()
    except OSError as exc:
        problems.append(Problem.at(str(path), None, "unreadable", f"cannot read file: {exc.strerror or exc}"))
        return None


def undecodable(path: Path, data: bytes, error: UnicodeDecodeError, first_line: int = 1) -> Problem:
    """The problem for bytes that are not UTF-8, at the line and column of the first bad byte."""
    line_start = data.rfind(b"\n", 0, error.start) + 1
    line = first_line + data.count(b"\n", 0, error.start)
    message = f"not UTF-8: byte 0x{data[error.start]:02x} at column {error.start - line_start + 1}"
    return Problem.at(str(path), line, "invalid-encoding", message)


def read_utf8(path: Path, problems: list[Problem], *, strip_bom: bool = False) -> str | None:
    """The file's text exactly as stored (no newline translation: offsets count every character).

    `strip_bom` drops a leading BOM, for formats whose offsets cannot count it (a BOM in a
    brat `.txt` is a character its offsets count, so it stays there).
    """
    data = read_export_file(path, problems)
    if data is None:
        return None
    if strip_bom:
        data = data.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(undecodable(path, data, error))
        return None


def numbered_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line end) of every line; a leading BOM is not part of line 1."""
    for number, chunk in enumerate(data.removeprefix(_BOM).split(b"\n"), start=1):
        yield number, chunk.removesuffix(b"\r")


def json_values(text: str) -> tuple[bool, list[tuple[int, Any]]]:
    """Parse a JSON document; return (is_array, [(line, value)]): an array's elements each with the
    line it starts on, so problems can point at one. Raises json.JSONDecodeError."""
    decoder = json.JSONDecoder()
    start = _JSON_WS.match(text).end()  # type: ignore[union-attr]
    if not text.startswith("[", start):
        return False, [(text.count("\n", 0, start) + 1, json.loads(text))]
    items: list[tuple[int, Any]] = []
    line, counted = text.count("\n", 0, start) + 1, start
    pos = _JSON_WS.match(text, start + 1).end()  # type: ignore[union-attr]
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line, counted = line + text.count("\n", counted, pos), pos
            value, pos = decoder.raw_decode(text, pos)
            items.append((line, value))
            pos = _JSON_WS.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos = _JSON_WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
    pos = _JSON_WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return True, items


def invalid_json(path: Path, error: json.JSONDecodeError, first_line: int = 1) -> Problem:
    line, where = error.lineno, f"column {error.colno}"
    if error.pos >= len(error.doc) and error.doc.endswith("\n") and line > 1:
        # The document stops short (a cut file): the error sits after the final newline, on a line
        # the file does not have; name its last line instead.
        line, where = line - 1, "end of file"
    return Problem.at(str(path), first_line + line - 1, "invalid-json", f"invalid JSON: {error.msg} ({where})")


def json_document(path: Path, problems: list[Problem]) -> tuple[bool, list[tuple[int, Any]]] | None:
    """A file holding one JSON document, as `json_values` gives it; None after a problem."""
    text = read_utf8(path, problems, strip_bom=True)
    if text is None:
        return None
    try:
        return json_values(text)
    except json.JSONDecodeError as error:
        problems.append(invalid_json(path, error))
        return None


def json_lines(path: Path, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    """(line, value) for each record of a JSON Lines file; lines that cannot be read become problems.

    A line holding a JSON array gives each element as a record (doccano's "JSON" export). A file
    whose first line is not JSON but that is, whole, one JSON object or array (a pretty-printed
    "jsonl", as doccano's own relation example ships) gives that document's records.
    """
    data = read_export_file(path, problems)
    if data is None:
        return
    first = True
    for number, chunk in numbered_lines(data):
        if not chunk.strip():
            continue
        try:
            value = json.loads(chunk.decode("utf-8"))
        except UnicodeDecodeError as error:
            problems.append(undecodable(path, chunk, error, number))
        except json.JSONDecodeError as error:
            whole = _whole_document(data) if first else None
            if whole is not None:
                yield from whole
                return
            problems.append(invalid_json(path, error, number))
        else:
            yield from ((number, element) for element in value) if isinstance(value, list) else [(number, value)]
        first = False


def json_records(paths: Sequence[Path], problems: list[Problem], accept: Callable[[Path], bool]
                 ) -> Iterator[tuple[Path, int, dict]]:
    """(file, line, record) for every JSON object of the JSON Lines files found under `paths`
    (`input_files`, `json_lines`): the loop of every JSON Lines importer. A value that is not an
    object is a problem at its line."""
    for path in input_files(paths, problems, accept):
        for line, record in json_lines(path, problems):
            if isinstance(record, dict):
                yield path, line, record
            else:
                problems.append(Problem.at(str(path), line, "invalid-json", "record is not a JSON object; skipped"))


def _whole_document(data: bytes) -> list[tuple[int, Any]] | None:
    try:
        is_array, values = json_values(data.removeprefix(_BOM).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return values if is_array or isinstance(values[0][1], dict) else None
