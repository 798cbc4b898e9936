"""Checks of one record alone: a fast batch spelling for the engines, and the careful spelling that explains.

`stage(context, block)` runs on any engine (this process, a local pool, Ray): it looks at each line
of a batch alone — JSON, JSON Schema, real dates, layer and label declared, offsets present or
absent as the layer says — and hands back Arrow record batches for the staging store: per line its
read-order key, whether it passed (`ok`), the few fields the cross-record checks need, and its bytes.
It needs no other record and no database, which is what lets any engine run it.

The careful spelling (`parse`, `schema_problems`, `bad_dates`) is what the sequential resolver
runs for the few records that did not pass or are in a conflict: the same checks, every problem
named. `ok` only means "nothing to explain"; a line that is not ok is re-checked carefully, so
the verdicts never depend on this fast spelling (tests/test_validate_fast_path.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from toolkit.arrow_types import parse_timestamp
from toolkit.hygiene.staging import HygieneSpec, hygiene_tables
from toolkit.hygiene.text import blank_fields
from toolkit.manifest import Layer
from toolkit.problems import Problem, RecordKind
from toolkit.readers import (
    BATCH_LINES,
    Block,
    FileRange,
    RangeLines,
    RawLine,
    clean_line,
    cut_blocks,
    iter_range,
    range_lines,
)
from toolkit.schemas import date_fields, fast_validator, integer_fields, reference_validator
from toolkit.store import ANNOTATION_COLUMNS, ARTICLE_COLUMNS, LINE_BITS, write_staged
from toolkit.validation.columnar import annotation_batch, annotation_columns

SCHEMA_ERRORS_PER_RECORD = 5
COLUMNAR = True  # tests switch it off to compare: annotation batches checked as Arrow columns


@dataclass(frozen=True)
class StageContext:
    """What a batch needs besides its lines: the record kind, the manifest's layers, the file's index,
    and the staging folder to write the rows to when the batch runs on the driver's machine."""

    kind: RecordKind
    layers: dict[str, Layer]
    max_line_bytes: int
    file_index: int
    spool: str | None = None
    hygiene: HygieneSpec | None = None  # articles: also stage duplicate-detection and grouping keys
    partitions: int = 1  # the staged lines' partitions by article (store.write_staged)


@dataclass(frozen=True)
class Staged:
    """One batch's rows for the staging store, table name → record batch (empty when written to the spool)."""

    tables: dict[str, pa.RecordBatch]


# -- the fast spelling, per batch ----------------------------------------------------------------


def stage(context: StageContext, block: Block) -> Staged:
    """Staged rows of every non-blank line of the block (see the module docstring)."""
    base = context.file_index << LINE_BITS
    if block.cut:
        lines: list[tuple[int, bytes, bool]] = [(base | block.first, block.lines[0], True)]
    else:
        lines = []
        for i, line in enumerate(block.lines):
            cleaned = _clean(line, block.first + i, context.max_line_bytes)
            if cleaned is not None:
                lines.append((base | (block.first + i), *cleaned))
    staged = _stage_articles(lines, context.layers, context.hygiene) if context.kind == "article" else (
        _stage_annotations(lines, context.layers))
    return _delivered(context, staged)


def _delivered(context: StageContext, staged: Staged) -> Staged:
    """The staged rows, or nothing once they are written to the staging folder (when the batch runs
    on the driver's machine: then no row travels back)."""
    if context.spool is None:
        return staged
    for table, batch in staged.tables.items():
        if batch.num_rows:
            write_staged(context.spool, table, batch, context.partitions)
    return Staged({})


def stage_range(context: StageContext, file_range: FileRange) -> Staged:
    """`stage` over a byte range of the file that this worker reads itself, its rows in one batch per table.

    Annotation lines are split and checked as columns of the whole range (`readers.range_lines`,
    `columnar.annotation_columns`: no Python per line); a range Arrow refuses is checked in
    `BATCH_LINES` pieces, each piece it still refuses line by line.
    """
    if context.kind == "annotation" and COLUMNAR:
        lines = range_lines(file_range, context.max_line_bytes)
        if lines is not None:
            return _delivered(context, Staged({"ann": _annotation_range(context, lines)}))
    plain = replace(context, spool=None)
    parts = [stage(plain, block) for block in cut_blocks(iter_range(file_range, context.max_line_bytes))]
    names = dict.fromkeys(name for part in parts for name in part.tables)
    return _delivered(context, Staged({name: _combined([part.tables[name] for part in parts if name in part.tables])
                                       for name in names}))


def _annotation_range(context: StageContext, lines: RangeLines) -> pa.RecordBatch:
    keys = pa.array((context.file_index << LINE_BITS) | lines.numbers, pa.int64())
    whole = annotation_columns(keys, lines.data, lines.joined, context.layers)
    if whole is not None or not len(keys):
        return whole if whole is not None else _annotation_batch([])
    starts = np.frombuffer(lines.data.buffers()[1], np.int32)  # the array is not a slice: offsets from 0
    pieces = []
    for i in range(0, len(keys), BATCH_LINES):
        j = min(i + BATCH_LINES, len(keys))
        datas = lines.data[i:j]
        # This piece's lines in `joined`: line k sits after k newlines of the lines before it.
        joined = lines.joined[int(starts[i]) + i:int(starts[j]) + j]
        piece = annotation_columns(keys[i:j], datas, joined, context.layers)
        if piece is None:
            rows = [(k, d, False) for k, d in zip(keys[i:j].to_pylist(), datas.to_pylist(), strict=True)]
            piece = stage_annotation_lines(rows, context.layers)
        pieces.append(piece)
    return _combined(pieces)


def _combined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0] if table.num_rows else batches[0]


def _clean(line: bytes, number: int, max_line_bytes: int) -> tuple[bytes, bool] | None:
    """(bytes the checks see, too long?) of a line, or None when blank."""
    if number != 1 and len(line) <= max_line_bytes and line[-1:] != b"\r":  # the usual line: nothing to clean
        return (line, False) if line and not line.isspace() else None
    raw = clean_line(line, number, max_line_bytes)
    return None if raw is None else (raw.data, raw.too_long)


def _load(data: bytes, too_long: bool) -> Any:
    if too_long:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _stage_articles(lines: list[tuple[int, bytes, bool]], layers: dict[str, Layer],
                    hygiene: HygieneSpec | None = None) -> Staged:
    validator = fast_validator("article")
    dates = tuple(date_fields("article"))
    checker = _AnnotationChecker(layers)
    anns: list[tuple] = []
    passed: list[tuple[int, dict[str, Any]]] = []
    keys, oks, ids, titles, texts, datas, too_longs, records = [], [], [], [], [], [], [], []
    for key, data, too_long in lines:
        record = _load(data, too_long)
        ok = False
        article_id = title = text = export = None
        if type(record) is dict:
            article_id, title, text = (_string(record.get(name)) for name in ("id", "title", "text"))
            ok = (validator.is_valid(record) and all(real_moment(record.get(name)) for name in dates)
                  and unique_keys(data, record) and not blank_fields(record))
            if ok:
                passed.append((key, record))
            inner = record.get("annotations")
            if isinstance(inner, list):
                # Annotations inside the article are staged as rows of their own (sub-order i + 1), so
                # the same set operations check them; the article is exported without them.
                for i, ann in enumerate(inner):
                    _stage_embedded(anns, checker, key, i + 1, ann, article_id if ok else None)
                if ok:
                    export = orjson.dumps({k: v for k, v in record.items() if k != "annotations"})
        keys.append(key)
        oks.append(ok)
        ids.append(article_id)
        titles.append(title)
        texts.append(text)
        datas.append(data)
        too_longs.append(too_long)
        records.append(export)
    art = pa.RecordBatch.from_arrays(
        [pa.array(keys, pa.int64()), pa.array(oks, pa.bool_()), pa.array(ids, pa.string()),
         pa.array(titles, pa.string()), pa.array(texts, pa.string()), pa.array(datas, pa.binary()),
         pa.array(too_longs, pa.bool_()), pa.array(records, pa.binary())], schema=ARTICLE_COLUMNS)
    tables = {"art": art}
    if anns:
        tables["ann"] = _annotation_batch(anns)
    if hygiene is not None:
        tables.update(hygiene_tables(hygiene, passed))
    return Staged(tables)


def _stage_embedded(anns: list[tuple], checker: _AnnotationChecker, key: int, sub: int, ann: Any,
                    article_id: str | None) -> None:
    """One annotation inside an article; `article_id` is None when the article itself did not pass."""
    if type(ann) is not dict:
        anns.append((key, sub, False, None, None, *_NOT_CHECKED, None, None, None, None, b"", False))
        return
    checked = None
    if article_id is not None and ann.get("article_id", article_id) == article_id:
        checked = checker.check(ann)
    data = orjson.dumps({"article_id": article_id, **ann}) if checked is not None else b""
    anns.append((key, sub, checked is not None, _string(ann.get("id")), article_id, *(checked or _NOT_CHECKED),
                 _string(ann.get("head")), _string(ann.get("tail")), *_who(ann, checked is not None), data, False))


def _stage_annotations(lines: list[tuple[int, bytes, bool]], layers: dict[str, Layer]) -> Staged:
    batch = annotation_batch(lines, layers) if COLUMNAR else None
    if batch is not None:
        return Staged({"ann": batch})
    return Staged({"ann": stage_annotation_lines(lines, layers)})


def stage_annotation_lines(lines: list[tuple[int, bytes, bool]], layers: dict[str, Layer]) -> pa.RecordBatch:
    """The per-line spelling of `columnar.annotation_batch`: every batch Arrow refuses comes here."""
    validator = fast_validator("annotation")
    checker = _AnnotationChecker(layers)
    rows: list[tuple] = []
    append = rows.append
    for key, data, too_long in lines:
        ann = _load(data, too_long)
        if type(ann) is not dict:
            append((key, 0, False, None, None, *_NOT_CHECKED, None, None, None, None, data, too_long))
            continue
        checked = checker.check(ann) if validator.is_valid(ann) and unique_keys(data, ann) else None
        get = ann.get
        if checked is None:
            append((key, 0, False, _string(get("id")), _string(get("article_id")), *_NOT_CHECKED,
                    _string(get("head")), _string(get("tail")), None, None, data, too_long))
        else:  # schema-valid: the ids are strings
            append((key, 0, True, ann["id"], ann["article_id"], *checked, get("head"), get("tail"),
                    get("annotator"), ann["label"], data, too_long))
    return _annotation_batch(rows)


def _who(ann: dict[str, Any], ok: bool) -> tuple[str | None, str | None]:
    """(annotator, label) of an annotation that passed its own checks (schema-valid: strings or absent)."""
    return (ann.get("annotator"), ann["label"]) if ok else (None, None)


# What an annotation that passed its own checks gives the set operations:
# layer, kind code, no-overlap layer?, single-label layer?, start, end, field, quoted text.
Checked = tuple[str, int, bool, bool, Any, Any, Any, Any]
_NOT_CHECKED: Checked = (None, None, None, None, None, None, None, None)  # type: ignore[assignment]


class _AnnotationChecker:
    """One schema-valid annotation alone: layer and label declared, real dates, offsets as the layer says."""

    def __init__(self, layers: dict[str, Layer]) -> None:
        self.layers = layers
        self.label_sets = {name: frozenset(layer.labels) for name, layer in layers.items()}
        self.dates = tuple(date_fields("annotation"))

    def check(self, ann: dict[str, Any]) -> Checked | None:
        layer = self.layers.get(ann["layer"])
        if layer is None or ann["label"] not in self.label_sets[layer.name]:
            return None
        for name in self.dates:
            if name in ann and not real_moment(ann[name]):
                return None
        start, end = ann.get("start"), ann.get("end")
        if layer.kind == "span":
            # Only plain integers are staged (JSON Schema also calls 1.0 an integer): others are explained.
            if type(start) is not int or type(end) is not int:
                return None
            field = "title" if ann.get("field") == "title" else "text"
            return layer.name, 1, not layer.overlap, False, start, end, field, ann.get("text")
        if start is not None or end is not None:
            return None
        if layer.kind == "relation":
            if ann.get("head") is None or ann.get("tail") is None:
                return None
            return layer.name, 3, False, False, None, None, None, None
        return layer.name, 2, False, not layer.multi, None, None, None, None


def _annotation_batch(rows: list[tuple]) -> pa.RecordBatch:
    """Rows (in the column order of `ANNOTATION_COLUMNS`) as one record batch: transposed once, in C."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ANNOTATION_COLUMNS)
    arrays = [pa.array(values, f.type) for values, f in zip(columns, ANNOTATION_COLUMNS, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=ANNOTATION_COLUMNS)


def _string(value: Any) -> str | None:
    return value if type(value) is str else None


# -- the careful spelling, per record -------------------------------------------------------------


def bad_dates(record: dict[str, Any], kind: RecordKind) -> list[tuple[str, str]]:
    """(field, value) of date fields whose value has the RFC 3339 shape but is not a real moment."""
    return [(name, record[name]) for name in date_fields(kind) if not real_moment(record.get(name))]


def real_moment(value: Any) -> bool:
    """False only for a string that is not a real date/time (the schema has checked its shape)."""
    if type(value) is not str:
        return True
    try:  # the export's own parser decides: a date is real when the export can store it
        parse_timestamp(value)
    except (ValueError, OverflowError):  # 2023-02-30; 0001-01-01T00:00:00+01:00 is before any UTC timestamp
        return False
    return True


def not_a_moment(name: str, value: str) -> str:
    return f"{name} {value!r} is not a real date/time (in years 1 to 9999, UTC)"


def problem(problems: list[Problem], file: str, line: int, record_id: Any, kind: RecordKind,
            code: str, path: str, message: str) -> None:
    rid = record_id if isinstance(record_id, str) else None
    problems.append(Problem(file, line, rid, kind, code, path, message))


def parse(raw: RawLine, file: str, kind: RecordKind, problems: list[Problem]) -> dict | None:
    """Decode and parse one line into a dict, or record why it cannot be."""
    if raw.too_long:
        problem(problems, file, raw.number, None, kind, "line-too-long", "",
                f"line is longer than {len(raw.data)} bytes (the rejects keep all of it); "
                "raise --max-line-bytes if this is expected")
        return None
    try:
        record = orjson.loads(raw.data)
    except orjson.JSONDecodeError as exc:
        code, message = _classify_parse_failure(raw.data, exc)
        problem(problems, file, raw.number, None, kind, code, "", message)
        return None
    if not isinstance(record, dict):
        problem(problems, file, raw.number, None, kind, "invalid-json", "",
                f"expected a JSON object, found {type(record).__name__}")
        return None
    if not unique_keys(raw.data, record):
        problem(problems, file, raw.number, _string(record.get("id")), kind, "duplicate-key", "",
                f"key '{repeated_key(raw.data)}' appears twice in one object; readers disagree on which counts")
        return None
    return record


def schema_problems(record: dict, file: str, line: int, kind: RecordKind, problems: list[Problem],
                    data: bytes | None = None) -> bool:
    """True when the record passes its JSON Schema; otherwise add explained `schema` problems.

    `data`, the line the record was parsed from, lets messages show a huge integer as written.
    """
    if fast_validator(kind).is_valid(record):
        errors = []
    else:
        errors = sorted(reference_validator(kind).iter_errors(record), key=lambda e: list(e.absolute_path))
    for error in errors[:SCHEMA_ERRORS_PER_RECORD]:
        pointer, message = _describe_schema_error(error)
        problem(problems, file, line, record.get("id"), kind, "schema", pointer, message)
    # JSON Schema counts 4.0 as an integer; offsets index strings and become int64 columns, so
    # here an integer is a number written without fraction or exponent, in every check.
    fractional = list(fractional_integers(record, kind))[:max(0, SCHEMA_ERRORS_PER_RECORD - len(errors))]
    exact = json.loads(data) if fractional and data is not None else None
    for pointer, value in fractional:
        written = _at(exact, pointer) if exact is not None else value
        if type(written) is int:  # orjson reads integers beyond 64 bits as floats
            message = f"{pointer}: {written} is beyond the 64-bit integer range"
        else:
            message = f"{pointer}: {written!r} is not an integer: write it without a fraction or exponent"
        problem(problems, file, line, record.get("id"), kind, "schema", pointer, f"{message} (keyword 'type')")
    return not errors and not fractional


def _at(value: Any, pointer: str) -> Any:
    for part in pointer.strip("/").split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def fractional_integers(record: dict[str, Any], kind: RecordKind) -> Iterator[tuple[str, float]]:
    """(pointer, value) of every field the schema types as integer that holds a float (4.0, 1e3)."""
    names = integer_fields("annotation")
    if kind == "annotation":
        yield from ((f"/{name}", record[name]) for name in names if type(record.get(name)) is float)
        return
    embedded = record.get("annotations")
    for i, ann in enumerate(embedded if isinstance(embedded, list) else ()):
        if isinstance(ann, dict):
            yield from ((f"/annotations/{i}/{name}", ann[name]) for name in names if type(ann.get(name)) is float)


def _describe_schema_error(error: Any) -> tuple[str, str]:
    """(JSON pointer, sentence naming the field and keyword) for a jsonschema ValidationError."""
    pointer = "".join(f"/{p}" for p in error.absolute_path)
    where = pointer or "the record"
    if error.validator == "additionalProperties":
        return pointer or "/", f"{error.message} (keyword 'additionalProperties' at {where})"
    if error.validator in ("anyOf", "oneOf"):
        return pointer, f"{where}: {error.instance!r} matches none of the allowed forms (keyword '{error.validator}')"
    return pointer, f"{where}: {error.message} (keyword '{error.validator}')"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity: write null or a string)")


def _finite_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {token} is too large for a 64-bit float")
    return value


def _classify_parse_failure(data: bytes, exc: Exception) -> tuple[str, str]:
    """Tell bad encoding from bad JSON for a line orjson refused, with a message a person can act on."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return "invalid-encoding", f"not UTF-8: byte 0x{data[err.start]:02x} at column {err.start + 1} ({err.reason})"
    try:
        json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        return "invalid-json", "JSON nested too deeply to read"
    except json.JSONDecodeError as err:
        return "invalid-json", f"not JSON: {err.msg} at column {err.colno}"
    except ValueError as err:
        return "invalid-json", f"not JSON: {err}"
    if "recursion" in str(exc).lower():
        return "invalid-json", "JSON nested deeper than 1024 levels"
    # Python's json accepts what orjson refused: a lone surrogate escape such as "\ud800".
    return "invalid-encoding", f"holds an escaped lone surrogate, which is not text ({exc})"


def unique_keys(data: bytes, record: Any) -> bool:
    """Whether no JSON object in the line gives a key twice (orjson, like most readers, keeps the last).

    A cheap screen first: re-serialised, the parsed record has as many colons as the line unless a
    key was dropped (colons inside strings survive unescaped; an escaped colon defeats the count,
    so such lines take the exact path).
    """
    if b"\\u003" not in data and orjson.dumps(record).count(b":") == data.count(b":"):
        return True
    return repeated_key(data) is None


def repeated_key(data: bytes) -> str | None:
    """The first key given twice in one object of the (valid JSON) line, or None."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items) and not found:
            seen: set[str] = set()
            found.append(next(k for k, _ in items if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
        return obj

    json.loads(data, object_pairs_hook=pairs)
    return found[0] if found else None
