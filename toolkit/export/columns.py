"""Arrow record batches built column by column: the fast path behind `--format hf` and `parquet`.

`RowBuilder` (arrow_types.py) builds one dict per row, which is what JSON Lines needs; turning
nested dicts into Arrow (`RecordBatch.from_pylist`) then walks every row and every struct again.
Here each column is gathered with one list comprehension and converted by pyarrow in one call,
and a layer's `list<struct>` column is assembled from flat child arrays plus offsets. The rules
(defaults, label ids, converters) are the row builder's, and tests/test_columns.py checks that
both give equal batches.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from toolkit.arrow_types import RowPlan, converter

Record = dict[str, Any]


def _array(values: list[Any], spec: dict[str, Any], arrow_type: pa.DataType) -> pa.Array:
    convert = converter(spec)
    if convert is not None:
        values = [None if v is None else convert(v) for v in values]
    return pa.array(values, type=arrow_type)


def _struct_list(
    items_per_row: list[list[Record]],
    list_type: pa.ListType,
    properties: dict[str, dict[str, Any]],
    label_ids: dict[str, int],
    default_field: bool,
) -> pa.Array:
    """A `list<struct>` column: row i holds the items of `items_per_row[i]`."""
    offsets = [0]
    flat: list[Record] = []
    for items in items_per_row:
        flat.extend(items)
        offsets.append(len(flat))
    struct_type: pa.StructType = list_type.value_type
    children = []
    for child in struct_type:
        if child.name == "label":
            children.append(pa.array([label_ids[item["label"]] for item in flat], type=child.type))
        elif child.name == "field" and default_field:
            fields = [item.get("field") for item in flat]
            children.append(pa.array(["text" if f is None else f for f in fields], type=child.type))
        else:
            children.append(_array([item.get(child.name) for item in flat], properties[child.name], child.type))
    values = pa.StructArray.from_arrays(children, fields=list(struct_type))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=list_type)


def article_batch(
    plan: RowPlan, schema: pa.Schema, articles: list[Record], annotations: list[list[Record]]
) -> pa.RecordBatch:
    """The `articles` config rows of `articles` (with `annotations[i]` those of article i), labels as ids."""
    lists = {k for k, spec in plan.article_properties.items() if spec.get("type") == "array"}
    label_ids = {name: {label: i for i, label in enumerate(layer.labels)} for name, layer in plan.layers.items()}
    by_layer: dict[str, list[list[Record]]] = {name: [[] for _ in articles] for name in plan.layers}
    for i, anns in enumerate(annotations):
        for ann in anns:
            by_layer[ann["layer"]][i].append(ann)
    columns = []
    for column in schema:
        name = column.name
        if name in plan.article_properties:
            default = [] if name in lists else None
            columns.append(_array([a.get(name, default) for a in articles], plan.article_properties[name], column.type))
            continue
        layer = plan.layers[name]
        ids = label_ids[name]
        if layer.kind == "document":
            labels = [[ids[a["label"]] for a in anns] for anns in by_layer[name]]
            values = labels if layer.multi else [found[0] if found else None for found in labels]
            columns.append(pa.array(values, type=column.type))
        elif layer.kind == "span":
            columns.append(_struct_list(by_layer[name], column.type, plan.span_properties, ids, default_field=True))
        else:
            columns.append(
                _struct_list(by_layer[name], column.type, plan.relation_properties, ids, default_field=False)
            )
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def annotation_batch(plan: RowPlan, schema: pa.Schema, annotations: list[Record]) -> pa.RecordBatch:
    """The flat `annotations` config rows, layer and label as strings."""
    columns = []
    for column in schema:
        name = column.name
        if name == "field":  # a span without a field is in the text; other annotations have none
            values = [
                "text" if a.get("field") is None and a.get("start") is not None else a.get("field") for a in annotations
            ]
            columns.append(pa.array(values, type=column.type))
        else:
            columns.append(_array([a.get(name) for a in annotations], plan.annotation_properties[name], column.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)
