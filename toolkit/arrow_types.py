"""One type mapping: JSON Schema + manifest → row converters, Arrow schema and `datasets.Features`.

Everything an exporter writes is derived here from `schema/*.json` and the manifest's layers, so a
field added to a schema reaches Parquet, JSONL, the card and Croissant with no other edit.

Mapping: string → string; integer → int64; number → float64; boolean → bool; closed object →
struct; array → list; a string marked `x-arrow-type: timestamp` → timestamp[us, tz=UTC]; an open
object (string → value map) → its JSON text, because maps have no `datasets` feature type.
Layers become columns of the article row: a span layer a list of structs whose `label` is a
`ClassLabel`, a document layer a `ClassLabel` (a list of them when `multi: true`), a relation layer
a list of structs with `head`, `tail` and a `ClassLabel` label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from toolkit.manifest import Layer, Manifest
from toolkit.schemas import record_properties

Converter = Callable[[Any], Any]

# Annotation properties that a layer column leaves out because the column already says them.
_SPAN_OMITS = ("article_id", "layer", "head", "tail")
_RELATION_OMITS = ("article_id", "layer", "start", "end", "field", "text")


def arrow_type(spec: dict[str, Any]) -> pa.DataType:
    """The Arrow type of a JSON Schema property (see the module docstring for the mapping)."""
    if spec.get("x-arrow-type") == "timestamp":
        return pa.timestamp("us", tz="UTC")
    kind = spec.get("type")
    if kind == "string":
        return pa.string()
    if kind == "integer":
        return pa.int64()
    if kind == "number":
        return pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "array":
        return pa.list_(arrow_type(spec["items"]))
    if kind == "object" and spec.get("additionalProperties") is False:
        return pa.struct([pa.field(k, arrow_type(v)) for k, v in spec["properties"].items()])
    if kind == "object":
        return pa.string()
    raise ValueError(f"no Arrow type for schema {spec!r}")


def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 date-time or a YYYY-MM-DD date (midnight UTC) as an aware UTC datetime.

    A leap second (23:59:60) is read as 23:59:59 of the same fraction, as Java's ISO_INSTANT does:
    UTC timestamps (Unix time) have no 61st second, and RFC 3339 allows writing one.
    """
    if value[16:17] == ":" and value[17:19] == "60":
        value = f"{value[:17]}59{value[19:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # RFC 3339 allows a lower-case t and z, which fromisoformat does not read
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def converter(spec: dict[str, Any]) -> Converter | None:
    """A function turning a JSON value into its Arrow-ready Python value, or None when none is needed."""
    if spec.get("x-arrow-type") == "timestamp":
        return parse_timestamp
    kind = spec.get("type")
    if kind == "object" and spec.get("additionalProperties") is not False:
        return _json_text
    if kind == "array":
        inner = converter(spec["items"])
        return None if inner is None else (lambda items: [inner(x) for x in items])
    if kind == "object":
        return struct_converter(spec["properties"])
    return None


def struct_converter(properties: dict[str, dict[str, Any]]) -> Converter | None:
    """A converter for an object whose properties need converting (None when none do)."""
    inner = {k: c for k, spec in properties.items() if (c := converter(spec)) is not None}
    if not inner:
        return None

    def convert(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: (inner[k](v) if k in inner and v is not None else v) for k, v in obj.items()}

    return convert


@dataclass(frozen=True)
class RowPlan:
    """How to build the rows of the two configs: columns, their Arrow types and converters."""

    article_properties: dict[str, dict[str, Any]]
    span_properties: dict[str, dict[str, Any]]
    relation_properties: dict[str, dict[str, Any]]
    annotation_properties: dict[str, dict[str, Any]]
    layers: dict[str, Layer]

    @property
    def article_columns(self) -> list[str]:
        return list(self.article_properties) + list(self.layers)


def row_plan(manifest: Manifest) -> RowPlan:
    article = {k: v for k, v in record_properties("article").items() if k != "annotations"}
    annotation = dict(record_properties("annotation"))
    for name in manifest.layers:
        if name in article:
            raise ValueError(f"layer '{name}' has the name of an article field; rename the layer")
    return RowPlan(
        article_properties=article,
        span_properties={k: v for k, v in annotation.items() if k not in _SPAN_OMITS},
        relation_properties={k: v for k, v in annotation.items() if k not in _RELATION_OMITS},
        annotation_properties=annotation,
        layers=dict(manifest.layers),
    )


def _struct(properties: dict[str, dict[str, Any]], label_type: pa.DataType | None = None) -> pa.StructType:
    fields = []
    for key, spec in properties.items():
        fields.append(pa.field(key, label_type if key == "label" and label_type is not None else arrow_type(spec)))
    return pa.struct(fields)


def article_arrow_schema(plan: RowPlan) -> pa.Schema:
    """Arrow schema of the `articles` config, labels of layers as int64 class ids."""
    fields = [pa.field(k, arrow_type(v), nullable=True) for k, v in plan.article_properties.items()]
    for name, layer in plan.layers.items():
        if layer.kind == "span":
            fields.append(pa.field(name, pa.list_(_struct(plan.span_properties, pa.int64()))))
        elif layer.kind == "relation":
            fields.append(pa.field(name, pa.list_(_struct(plan.relation_properties, pa.int64()))))
        else:
            fields.append(pa.field(name, pa.list_(pa.int64()) if layer.multi else pa.int64()))
    return pa.schema(fields)


def annotation_arrow_schema(plan: RowPlan) -> pa.Schema:
    """Arrow schema of the flat `annotations` config: layer and label stay strings."""
    return pa.schema([pa.field(k, arrow_type(v)) for k, v in plan.annotation_properties.items()])


def article_features(plan: RowPlan) -> Any:
    """`datasets.Features` of the `articles` config: the Arrow schema with each layer label a ClassLabel."""
    import datasets

    features = datasets.Features.from_arrow_schema(article_arrow_schema(plan))
    for name, layer in plan.layers.items():
        labels = datasets.ClassLabel(names=list(layer.labels))
        if layer.kind == "document":
            features[name] = datasets.List(labels) if layer.multi else labels
        else:
            item = dict(features[name].feature)
            item["label"] = labels
            features[name] = datasets.List(item)
    return features


def annotation_features(plan: RowPlan) -> Any:
    import datasets

    return datasets.Features.from_arrow_schema(annotation_arrow_schema(plan))


@dataclass(frozen=True)
class RowBuilder:
    """Builds Arrow-ready rows from stored records. `encode_labels=False` keeps label strings (JSONL)."""

    plan: RowPlan
    encode_labels: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "_article", struct_converter(self.plan.article_properties))
        object.__setattr__(self, "_lists", frozenset(
            k for k, spec in self.plan.article_properties.items() if spec.get("type") == "array"))
        object.__setattr__(self, "_annotation", struct_converter(self.plan.annotation_properties))
        object.__setattr__(self, "_label_ids", {
            name: {label: i for i, label in enumerate(layer.labels)} for name, layer in self.plan.layers.items()
        })

    def _label(self, layer: str, label: str) -> Any:
        return self._label_ids[layer][label] if self.encode_labels else label  # type: ignore[attr-defined]

    def article_row(self, article: dict[str, Any], annotations: list[dict[str, Any]]) -> dict[str, Any]:
        # An absent list is written as [] so readers (and Croissant, which cannot express a null
        # list) see "none", not a null that some consumers turn into one all-null item.
        row = {k: article.get(k, [] if k in self._lists else None) for k in self.plan.article_properties}
        convert = self._article  # type: ignore[attr-defined]
        if convert is not None:
            row = convert(row)
        by_layer: dict[str, list[dict[str, Any]]] = {name: [] for name in self.plan.layers}
        for ann in annotations:
            by_layer[ann["layer"]].append(ann)
        convert_ann = self._annotation  # type: ignore[attr-defined]
        for name, layer in self.plan.layers.items():
            anns = by_layer[name]
            if layer.kind == "document":
                labels = [self._label(name, a["label"]) for a in anns]
                row[name] = labels if layer.multi else (labels[0] if labels else None)
                continue
            props = self.plan.span_properties if layer.kind == "span" else self.plan.relation_properties
            items = []
            for ann in anns:
                item = {k: ann.get(k) for k in props}
                if layer.kind == "span" and item.get("field") is None:
                    item["field"] = "text"
                if convert_ann is not None:
                    item = convert_ann(item)
                item["label"] = self._label(name, ann["label"])
                items.append(item)
            row[name] = items
        return row

    def annotation_row(self, ann: dict[str, Any]) -> dict[str, Any]:
        row = {k: ann.get(k) for k in self.plan.annotation_properties}
        if row.get("start") is not None and row.get("field") is None:
            row["field"] = "text"
        convert = self._annotation  # type: ignore[attr-defined]
        return convert(row) if convert is not None else row
