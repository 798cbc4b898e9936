"""Stored records straight to Arrow with Arrow's own JSON reader: the fast path of Parquet and HF builds.

The records were validated, so their shape is known. Arrow's C++ reader parses a batch of them
against the Arrow types derived from the JSON Schemas, and each layer column is assembled from the
parsed annotations with vectorised kernels, instead of a Python dict per row (`rows.py`).
Open objects (`meta`, `attributes`), which become JSON text, are filled from the few records
that have them.

Arrow's reader is stricter than the validator in a few corners (a key given twice, a lower-case
`t` or `z`, more than six fractional digits in a date-time): it raises there, and the caller
builds that batch the dict way. Both ways give equal batches and statistics (tests/test_arrow_reader.py).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from toolkit.arrow_types import RowPlan, converter

Stored = tuple[str, bytes, list[bytes], str]  # article id, record, annotation records, split
T = TypeVar("T")


def _open_object(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "object" and spec.get("additionalProperties") is not False


def _readable(spec: dict[str, Any]) -> bool:
    """Whether Arrow's reader can produce the column itself (no open object anywhere inside)."""
    if _open_object(spec):
        return False
    if spec.get("type") == "array":
        return _readable(spec["items"])
    if spec.get("type") == "object":
        return all(_readable(s) for s in spec["properties"].values())
    return True


def _read(data: bytes, rows: int, fields: list[pa.Field]) -> pa.Table:
    """`rows` records, one a line in `data`, as a table of `fields`."""
    table = pj.read_json(
        io.BytesIO(data),
        read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
        parse_options=pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"),
    )
    if table.num_rows != rows:
        raise pa.ArrowInvalid(f"read {table.num_rows} rows from {rows} records")
    return table.combine_chunks()


def _parsed(records: list[bytes], properties: dict[str, dict[str, Any]], schema: pa.Schema) -> dict[str, pa.Array]:
    """Column name → array for every property of `schema` found in `properties`, in the schema's types."""
    readable = [f for f in schema if f.name in properties and _readable(properties[f.name])]
    data = b"\n".join(records)
    table = _read(data, len(records), readable) if records else pa.table({f.name: pa.array([], f.type)
                                                                           for f in readable})
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    for f in schema:
        if f.name in properties and f.name not in columns:  # an open object: JSON text, from the records having it
            key, convert = f'"{f.name}"'.encode(), converter(properties[f.name])
            assert convert is not None
            # One search of the batch first: most batches have no record with the key.
            values = ([orjson.loads(r).get(f.name) if key in r else None for r in records] if key in data
                      else [None] * len(records))
            columns[f.name] = pa.array([None if v is None else convert(v) for v in values], f.type)
    return columns


def _offsets(owner: np.ndarray, n: int) -> np.ndarray:
    """List offsets of n rows from the (sorted) row index of each item."""
    return np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int32)


def _label_ids(labels: pa.Array, names: tuple[str, ...]) -> pa.Array:
    ids = pc.index_in(labels, value_set=pa.array(names, pa.string()))
    if ids.null_count:
        raise pa.ArrowInvalid("a label outside the layer's labels")  # cannot happen after validation
    return ids.cast(pa.int64())


def _struct_list(columns: dict[str, pa.Array], ids: pa.Array, offsets: np.ndarray, list_type: pa.ListType,
                 default_field: bool) -> pa.Array:
    struct_type: pa.StructType = list_type.value_type
    children = []
    for child in struct_type:
        if child.name == "label":
            children.append(ids)
        elif child.name == "field" and default_field:
            children.append(columns["field"].fill_null("text"))
        else:
            children.append(columns[child.name])
    values = pa.StructArray.from_arrays(children, fields=list(struct_type))
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=list_type)


def pick_label(labels: Sequence[T], policy: str) -> T:
    """The one label of a single-label document layer among several annotators' (read order, not empty).

    `first`: the label read first. `majority`: the most frequent label; a tie goes to the tied
    label read first, so the choice depends on the data and its order only.
    """
    if policy == "first":
        return labels[0]
    counts = Counter(labels)
    most = max(counts.values())
    return next(label for label in labels if counts[label] == most)


def aggregated_label_ids(owner: np.ndarray, ids: np.ndarray, n: int, policy: str) -> pa.Array:
    """`pick_label` for each of n articles at once: `owner` (non-decreasing) is each label id's article.

    Articles without a label get null. Vectorised: one sort of the (article, label) pairs, not a
    Python loop per article.
    """
    chosen = np.full(n, -1, np.int64)
    if len(ids):
        if policy == "first":
            articles, first = np.unique(owner, return_index=True)
            chosen[articles] = ids[first]
        else:
            width = int(ids.max()) + 1
            pairs, first, counts = np.unique(owner.astype(np.int64) * width + ids, return_index=True,
                                             return_counts=True)
            # Per article: the most frequent label first, then among equals the one read first.
            order = np.lexsort((first, -counts, pairs // width))
            articles = (pairs // width)[order]
            leading = np.concatenate([[True], articles[1:] != articles[:-1]])
            chosen[articles[leading]] = (pairs % width)[order][leading]
    return pa.array(chosen, pa.int64(), mask=chosen < 0)


def build(plan: RowPlan, schemas: dict[str, pa.Schema], splits: Any, batch: list[Stored], stats: Any
          ) -> dict[tuple[str, str], tuple[pa.RecordBatch, int]]:
    """(config, split) → (record batch, rows) of a batch of stored articles; adds to `stats`.

    Raises `pa.ArrowException` where Arrow's reader cannot take the records as they are. Each stored
    article carries its split (decided per group over the whole corpus); `splits` is not read.
    """
    n = len(batch)
    records = [record for _, record, _, _ in batch]
    counts = np.array([len(anns) for _, _, anns, _ in batch], dtype=np.int64)
    flat = [a for _, _, anns, _ in batch for a in anns]
    owner = np.repeat(np.arange(n), counts)
    art = _parsed(records, plan.article_properties, schemas["articles"])
    ann = _parsed(flat, plan.annotation_properties, schemas["annotations"])

    article_columns = []
    layer_names = ann["layer"]
    for f in schemas["articles"]:
        if f.name in plan.article_properties:
            column = art[f.name]
            if pa.types.is_list(f.type):  # an absent list is an empty one, as in the row builder
                column = column.fill_null(pa.scalar([], f.type))
            article_columns.append(column)
            continue
        layer = plan.layers[f.name]
        mask = pc.equal(layer_names, f.name).fill_null(False)
        keep = mask.to_numpy(zero_copy_only=False)
        mine = {k: v.filter(mask) for k, v in ann.items()}
        offsets = _offsets(owner[keep], n)
        ids = _label_ids(mine["label"], layer.labels)
        if layer.kind == "document":
            if layer.multi:
                article_columns.append(pa.ListArray.from_arrays(pa.array(offsets), ids, type=f.type))
            else:
                # Several annotators' labels: the manifest's `aggregate:` picks one (the annotations config keeps all).
                article_columns.append(aggregated_label_ids(owner[keep], ids.to_numpy(), n, layer.aggregate))
        else:
            article_columns.append(_struct_list(mine, ids, offsets, f.type, default_field=layer.kind == "span"))
    articles = pa.RecordBatch.from_arrays(article_columns, schema=schemas["articles"])

    annotation_columns = []
    for f in schemas["annotations"]:
        column = ann[f.name]
        if f.name == "field":  # a span without a field is in the text; other annotations have none
            column = pc.if_else(pc.and_(column.is_null(), ann["start"].is_valid()), "text", column)
        annotation_columns.append(column)
    annotations = pa.RecordBatch.from_arrays(annotation_columns, schema=schemas["annotations"])

    split_of = [split for *_, split in batch]  # decided per group for the whole corpus (hygiene.groups)
    _add_stats(stats, batch, split_of, counts, art, ann)
    parts: dict[tuple[str, str], tuple[pa.RecordBatch, int]] = {}
    for split in dict.fromkeys(split_of):
        rows = np.array([s == split for s in split_of])
        parts[("articles", split)] = (articles.filter(pa.array(rows)), int(rows.sum()))
        in_split = rows[owner]
        if in_split.any():
            parts[("annotations", split)] = (annotations.filter(pa.array(in_split)), int(in_split.sum()))
    return parts


def _add_stats(stats: Any, batch: list[Stored], split_of: list[str], counts: np.ndarray,
               art: dict[str, pa.Array], ann: dict[str, pa.Array]) -> None:
    """What `BuildStats.add` gathers article by article, from whole columns, in the same order."""
    stats.articles.update(split_of)
    for split, count in zip(split_of, counts.tolist(), strict=True):
        stats.annotations[split] += count
    stats.languages.update(art["language"].to_pylist())
    if "source" in art:
        names = pc.struct_field(art["source"], "name").to_pylist()
        domains = pc.struct_field(art["source"], "domain").to_pylist()
        stats.sources.update(s for s in (n or d for n, d in zip(names, domains, strict=True)) if s)
    if "published_at" in art and art["published_at"].null_count < len(art["published_at"]):
        bounds = pc.min_max(art["published_at"])
        stats._dates(bounds["min"].as_py(), bounds["max"].as_py())
    layers, labels = ann["layer"].to_pylist(), ann["label"].to_pylist()
    annotation_splits = np.repeat(np.array(split_of, dtype=object), counts).tolist()
    model, origins = _origins(ann["annotator"])
    # One count per (layer, label, split, origin): each statistic still gets its keys in read order.
    for (layer, label, split, origin), count in Counter(zip(layers, labels, annotation_splits, origins.tolist(),
                                                            strict=True)).items():
        stats.labels.setdefault(layer, Counter())[label] += count
        stats.label_splits.setdefault(layer, Counter())[(label, split)] += count
        stats.origins.setdefault(layer, Counter())[_ORIGINS[origin]] += count
    stats.add_texts(split_of, art["text"])
    stats.annotators.update(a for a in ann["annotator"].to_pylist() if a)
    _add_confidences(stats, layers, ann["layer"], model, ann.get("confidence"))
    if stats.example is None and "train" in split_of:
        _, record, annotation_records, _ = batch[split_of.index("train")]
        stats.example = {"article": orjson.loads(record),
                         "annotations": [orjson.loads(a) for a in annotation_records[:5]]}


_ORIGINS = ("model", "human", "unnamed")  # `BuildStats.add_origin`'s kinds of annotator


def _origins(annotators: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Which annotations are a model's (`model:…`), and each one's index in `_ORIGINS`."""
    model = pc.fill_null(pc.starts_with(annotators, "model:"), False).to_numpy(zero_copy_only=False)
    named = pc.fill_null(pc.not_equal(annotators, ""), False).to_numpy(zero_copy_only=False)
    return model, np.where(model, 0, np.where(named, 1, 2))


def _add_confidences(stats: Any, layers: list[str], layer_column: pa.Array, model: np.ndarray,
                     confidences: pa.Array | None) -> None:
    """The confidence counts of `BuildStats.add_origin` (models' annotations with a number), per layer."""
    numeric = confidences is not None and (pa.types.is_floating(confidences.type)
                                           or pa.types.is_integer(confidences.type))
    if not numeric or confidences.null_count == len(confidences):
        return
    scored = model & confidences.is_valid().to_numpy(zero_copy_only=False)
    # round() of Python floats rounds half to even, as numpy's rint does.
    micro = np.rint(confidences.to_numpy(zero_copy_only=False).astype(np.float64) * 1_000_000)
    for layer in dict.fromkeys(layer for layer, counted in zip(layers, scored.tolist(), strict=True) if counted):
        mine = scored & pc.equal(layer_column, layer).to_numpy(zero_copy_only=False)
        counts = stats.origins[layer]
        counts["confidence_n"] += int(mine.sum())
        counts["confidence_micro"] += int(micro[mine].astype(np.int64).sum())
