"""The per-record checks of annotation lines as Arrow kernels over a whole batch, derived from the schema.

Annotation lines are most of a corpus (ten per article and more) and are small, so checking them
one Python dict at a time costs more than the checks themselves. Here a batch is parsed once by
Arrow's JSON reader into typed columns, and each JSON Schema keyword becomes a vectorised mask.

The rule that keeps this safe: `ok` may only be True for a line the per-line spelling
(`records._stage_annotations`) also passes, with the same staged values. Anything this module does
not decide exactly — a `null` anywhere in the line (Arrow cannot tell it from a missing key), a
key the schema does not declare, an open object, a date Arrow cannot read, a keyword it does not
know — leaves the line not `ok`, and the resolver judges it carefully. When Arrow refuses the
whole batch (one line is not JSON, has a key twice, 4.0 for an integer, a lone surrogate), the
caller falls back to the per-line spelling for that batch (tests/test_columnar.py compares them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from toolkit.manifest import Layer
from toolkit.schemas import load_schema
from toolkit.store import ANNOTATION_COLUMNS

_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
# Keywords a property may carry that this module checks (or that do not constrain a value).
_KNOWN = {"type", "pattern", "minLength", "maxLength", "enum", "minimum", "maximum", "exclusiveMinimum",
          "exclusiveMaximum", "description", "default", "format", "title", "examples", "x-arrow-type"}
_FIRST_MOMENT = pa.scalar(datetime(1, 1, 1, tzinfo=UTC), pa.timestamp("us", "UTC"))


@dataclass(frozen=True)
class _Property:
    name: str
    arrow: pa.DataType | None  # None: not read by Arrow (an open object); present means "not decided here"
    spec: dict[str, Any]


@dataclass(frozen=True)
class LineSchema:
    """The annotation-line schema flattened: its properties, which are required, nothing else allowed."""

    properties: tuple[_Property, ...]
    required: frozenset[str]

    def read_schema(self) -> pa.Schema:
        return pa.schema([(p.name, p.arrow) for p in self.properties if p.arrow is not None])


@cache
def line_schema() -> LineSchema | None:
    """The annotation schema in the one shape this module understands, or None (then it is never used).

    Today's schema: a `$ref` to `$defs/embedded` (an object, `additionalProperties: false`, flat
    typed properties) plus `required: [article_id]`. Any other shape switches the columnar path off
    rather than deciding records by a partial reading of the schema.
    """
    top = load_schema("annotation")
    if set(top) - {"$schema", "$id", "title", "description", "$ref", "required", "$defs"}:
        return None
    ref = top.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        return None
    inner = top["$defs"].get(ref.removeprefix("#/$defs/"), {})
    if inner.get("type") != "object" or inner.get("additionalProperties") is not False:
        return None
    if set(inner) - {"type", "required", "additionalProperties", "properties", "description", "title"}:
        return None
    properties = []
    for name, spec in inner["properties"].items():
        kind = spec.get("type")
        if kind == "object" or set(spec) - _KNOWN or kind not in _ARROW_TYPES:
            properties.append(_Property(name, None, spec))
        else:
            properties.append(_Property(name, _ARROW_TYPES[kind], spec))
    return LineSchema(tuple(properties), frozenset(inner.get("required", ())) | frozenset(top.get("required", ())))


_READ_BLOCK = 1 << 20  # Arrow's JSON reader ran slower with blocks of a whole 8 MiB range (measured)


def _read(joined: bytes, rows: int, schema: pa.Schema) -> pa.Table | None:
    """The lines (each ended by a newline) as typed columns, or None when Arrow refuses them."""
    try:
        table = pj.read_json(
            pa.BufferReader(joined),
            read_options=pj.ReadOptions(use_threads=False, block_size=_READ_BLOCK),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    # Two objects on one line read as two rows: then rows and lines no longer match.
    return table.combine_chunks() if table.num_rows == rows else None


def _plain_utf8(datas: pa.Array) -> bool:
    """Lines Arrow may read: UTF-8 (its reader does not check strings) and no byte-order mark
    (it skips one anywhere; a JSON parser must not, except at the start of the file)."""
    try:
        text = datas.cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return not pc.any(pc.starts_with(text, "\ufeff")).as_py()


def _not_json_numbers(table: pa.Table) -> bool:
    """Arrow's reader takes NaN, Infinity and -Inf as numbers; JSON (and the per-line parser) does not."""
    for column in table.columns:
        if pa.types.is_floating(column.type):
            values = column.combine_chunks()
            if pc.any(pc.or_(pc.is_nan(values), pc.is_inf(values))).as_py():
                return True
    return False


@cache
def _regex_ok(pattern: str) -> bool:
    """Whether RE2 (Arrow) reads the pattern as the schema's engines do: plain regex features only."""
    return re.search(r"\(\?[=!<]|\\[1-9]|\\[pP]\{", pattern) is None


def _value_mask(column: pa.Array, prop: _Property) -> pa.Array:
    """True where a present value satisfies the property's keywords (absent rows are not judged here)."""
    spec = prop.spec
    masks: list[pa.Array] = []
    if "pattern" in spec:
        if not _regex_ok(spec["pattern"]):
            return pc.is_null(column)
        masks.append(pc.match_substring_regex(column, spec["pattern"]))
    if "minLength" in spec:
        masks.append(pc.greater_equal(pc.utf8_length(column), spec["minLength"]))
    if "maxLength" in spec:
        masks.append(pc.less_equal(pc.utf8_length(column), spec["maxLength"]))
    if "enum" in spec:
        masks.append(pc.is_in(column, value_set=pa.array(spec["enum"], column.type)))
    for keyword, compare in (("minimum", pc.greater_equal), ("maximum", pc.less_equal),
                             ("exclusiveMinimum", pc.greater), ("exclusiveMaximum", pc.less)):
        if keyword in spec:
            masks.append(compare(column, spec[keyword]))
    if spec.get("x-arrow-type") == "timestamp":
        masks.append(_real_moments(column))
    mask = pa.array([True] * len(column), pa.bool_())
    for m in masks:
        mask = pc.and_kleene(mask, m)
    return pc.or_(pc.is_null(column), pc.fill_null(mask, False))


def _real_moments(column: pa.Array) -> pa.Array:
    """True where Arrow reads the date-time as a moment no earlier than year 1 UTC, as the export does.

    Arrow refuses a whole array for one value it cannot read (2023-02-30, a leap second, a lower-case
    t): then no date of the batch is decided here.
    """
    try:
        moments = pc.cast(column, pa.timestamp("us", "UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pc.is_null(column)
    return pc.fill_null(pc.greater_equal(moments, _FIRST_MOMENT), True)


def annotation_batch(lines: list[tuple[int, bytes, bool]], layers: dict[str, Layer]) -> pa.RecordBatch | None:
    """The staged rows of a batch of annotation lines (`ANNOTATION_COLUMNS`), or None to check line by line."""
    if not lines or any(too_long for _, _, too_long in lines):
        return None
    raw = [d for _, d, _ in lines]
    return annotation_columns(pa.array([k for k, _, _ in lines], pa.int64()), pa.array(raw, pa.binary()),
                              b"\n".join(raw) + b"\n", layers)


def annotation_columns(keys: pa.Array, datas: pa.Array, joined: bytes,
                       layers: dict[str, Layer]) -> pa.RecordBatch | None:
    """`annotation_batch` of lines given as columns: read-order keys, the lines' bytes, and the same
    lines each ended by a newline (what Arrow's JSON reader reads); None to check line by line."""
    schema = line_schema()
    if schema is None or not len(keys):
        return None
    if not _plain_utf8(datas):
        return None
    table = _read(joined, len(keys), schema.read_schema())
    if table is None or _not_json_numbers(table):
        return None
    n = table.num_rows
    # A null cannot be told from a missing key in Arrow's columns; "null" anywhere leaves the line to the resolver.
    ok = pc.invert(pc.match_substring(datas, "null"))
    read = {p.name for p in schema.properties if p.arrow is not None}
    for name in table.column_names:
        if name not in read:
            ok = pc.and_(ok, pc.is_null(table.column(name).combine_chunks()))  # an undeclared key or an open object
    col = {p.name: table.column(p.name).combine_chunks() for p in schema.properties if p.arrow is not None}
    for prop in schema.properties:
        if prop.arrow is None:
            continue
        ok = pc.and_(ok, _value_mask(col[prop.name], prop))
        if prop.name in schema.required:
            ok = pc.and_(ok, pc.is_valid(col[prop.name]))
    info = _layer_info(layers)
    ok = pc.and_(ok, _layer_rules(col, info, n))
    return _staged(keys, datas, ok, col, info)


# Per declared layer, in manifest order: name, kind code, no-overlap?, single-label?; and "layer\x1flabel" pairs.
LayerInfo = tuple[pa.Array, pa.Array, pa.Array, pa.Array, pa.Array]


def _layer_info(layers: dict[str, Layer]) -> LayerInfo:
    names = list(layers)
    kinds = [{"span": 1, "document": 2, "relation": 3}[layers[n].kind] for n in names]
    no_overlap = [layers[n].kind == "span" and not layers[n].overlap for n in names]
    single = [layers[n].kind == "document" and not layers[n].multi for n in names]
    labels = [f"{n}\x1f{label}" for n in names for label in layers[n].labels]
    return (pa.array(names, pa.string()), pa.array(kinds, pa.int8()), pa.array(no_overlap, pa.bool_()),
            pa.array(single, pa.bool_()), pa.array(labels, pa.string()))


def _layer_rules(col: dict[str, pa.Array], info: LayerInfo, n: int) -> pa.Array:
    """Declared layer and label; offsets present exactly on span layers; head and tail on relations."""
    names, kinds, _, _, labels = info
    kind = pc.take(kinds, pc.index_in(col["layer"], value_set=names))
    pair = pc.binary_join_element_wise(col["layer"], col["label"], "\x1f")
    has_offsets = pc.or_(pc.is_valid(col["start"]), pc.is_valid(col["end"]))
    both_offsets = pc.and_(pc.is_valid(col["start"]), pc.is_valid(col["end"]))
    ends = pc.and_(pc.is_valid(col["head"]), pc.is_valid(col["tail"]))
    fits = pc.case_when(
        pc.make_struct(pc.equal(kind, 1), pc.equal(kind, 3), pc.equal(kind, 2)),
        both_offsets, pc.and_(pc.invert(has_offsets), ends), pc.invert(has_offsets), pa.array([False] * n),
    )
    return pc.fill_null(pc.and_(pc.is_in(pair, value_set=labels), fits), False)


def _staged(keys: pa.Array, datas: pa.Array, ok: pa.Array, col: dict[str, pa.Array],
            info: LayerInfo) -> pa.RecordBatch:
    """The staged columns: what the cross-record checks read for passing lines, nulls for the others."""
    names, kinds, no_overlaps, singles, _ = info
    position = pc.index_in(col["layer"], value_set=names)
    kind = pc.if_else(ok, pc.take(kinds, position), None)
    span = pc.fill_null(pc.equal(kind, 1), False)

    def when(mask: pa.Array, values: pa.Array) -> pa.Array:
        return pc.if_else(mask, values, pa.nulls(len(values), values.type))

    field = pc.if_else(pc.fill_null(pc.equal(col["field"], "title"), False), "title", "text")
    n = len(keys)
    arrays = [
        keys, pa.array([0] * n, pa.int32()), ok, col["id"], col["article_id"],
        when(ok, col["layer"]), kind,
        when(ok, pc.take(no_overlaps, position)), when(ok, pc.take(singles, position)),
        when(span, col["start"]), when(span, col["end"]), when(span, field), when(span, col["text"]),
        col["head"], col["tail"], when(ok, col["annotator"]), when(ok, col["label"]), datas,
        pa.array([False] * n, pa.bool_()),
    ]
    return pa.RecordBatch.from_arrays([a.cast(f.type) for a, f in zip(arrays, ANNOTATION_COLUMNS, strict=True)],
                                      schema=ANNOTATION_COLUMNS)
