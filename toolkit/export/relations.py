"""`relations-<layer>` views: one row per relation, both ends inlined, with the text around them.

A row: `article_id`, the relation's `id` and `label` (ClassLabel of the layer), `head` and `tail`
as the spans themselves (`id`, `layer`, `label` as a name — the ends may come from different span
layers —, `field`, `start`, `end`, `text`; offsets into that field), and a context:
- `context_scope: "paragraph"` when both ends lie in one paragraph of one field: `context` is that
  paragraph (line breaks covered by an end do not cut it), starting at `context_start` in the field;
- `context_scope: "field"` otherwise: `context` is the whole field (`context_start` 0) — the
  ends' field when they share one, else the article's `text` (`context_field` says which; an end
  in another field than `context_field` is not inside `context`).
So `head["start"] - context_start` is the head's offset in `context` whenever
`head["field"] == context_field`. Relations whose ends are not in the build (left out with
`--annotators`) never reach here: the `articles` rows drop them.

`article_rows` is the one spelling of these rules; `batch_rows` feeds it a batch's articles that
have relations, read column by column (no timestamps or unused fields turned into Python), and
builds the Arrow columns from its rows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.export.tokenize import Offsets, paragraphs
from toolkit.manifest import Layer

END_COLUMNS = ("id", "layer", "label", "field", "start", "end", "text")
SPAN_KEYS = ("id", "label", "field", "start", "end", "text")  # what `_end` reads of a span
RELATION_KEYS = ("id", "label", "head", "tail")  # what `article_rows` reads of a relation


def relations_config(layer: str) -> str:
    return f"relations-{layer}"


def relations_features(layer: Layer) -> Any:
    """`datasets.Features` of a relations view."""
    import datasets

    end = {
        "id": datasets.Value("string"), "layer": datasets.Value("string"), "label": datasets.Value("string"),
        "field": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64"),
        "text": datasets.Value("string"),
    }
    return datasets.Features({
        "article_id": datasets.Value("string"),
        "id": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(layer.labels)),
        "head": end,
        "tail": dict(end),
        "context": datasets.Value("string"),
        "context_field": datasets.Value("string"),
        "context_start": datasets.Value("int64"),
        "context_scope": datasets.Value("string"),
    })


def _covered(gap: Offsets, ends: list[Offsets]) -> bool:
    """Whether the break `gap` lies inside one of the relation's ends (then it does not cut the paragraph)."""
    return any(start < gap[1] and gap[0] < end for start, end in ends)


def context_of(text: str, ends: list[Offsets], bounds: list[Offsets]) -> tuple[int, int] | None:
    """[start, end) of the paragraph holding every end, or None when they are in different paragraphs.

    `bounds` are the field's paragraphs without regard to spans (`paragraphs(text, [])`); a break
    between two of them that an end covers joins them, as in the NER views.
    """
    starts = [start for start, _ in bounds]
    low = bisect_right(starts, min(start for start, _ in ends)) - 1
    high = bisect_right(starts, max(end for _, end in ends) - 1) - 1
    for k in range(low, high):
        if not _covered((bounds[k][1], bounds[k + 1][0]), ends):
            return None
    # An end may reach into the whitespace of a break (real spans carry trailing newlines): keep it whole.
    return min(bounds[low][0], *(start for start, _ in ends)), max(bounds[high][1], *(end for _, end in ends))


def _end(item: dict[str, Any], layer: str, labels: tuple[str, ...]) -> dict[str, Any]:
    return {"id": item["id"], "layer": layer, "label": labels[item["label"]], "field": item.get("field") or "text",
            "start": item["start"], "end": item["end"], "text": item.get("text")}


def article_rows(article: dict[str, Any], relations: list[dict[str, Any]], span_layers: dict[str, Layer],
                 counts: Counter) -> list[dict[str, Any]]:
    """The view's rows for one article: its relations in read order, ends resolved among its spans."""
    if not relations:
        return []
    spans = {item["id"]: _end(item, name, layer.labels)
             for name, layer in span_layers.items() for item in article.get(name) or ()}
    bounds: dict[str, list[Offsets]] = {}  # a field's paragraphs, found when a relation needs them
    rows = []
    for relation in relations:
        head, tail = spans.get(relation.get("head")), spans.get(relation.get("tail"))
        if head is None or tail is None:
            counts["unresolved"] += 1  # validation makes this impossible; counted, never a crash
            continue
        field = head["field"] if head["field"] == tail["field"] else "text"
        text = article.get(field) or ""
        region = None
        if head["field"] == tail["field"]:
            if field not in bounds:
                bounds[field] = paragraphs(text, [])
            region = context_of(text, [(head["start"], head["end"]), (tail["start"], tail["end"])], bounds[field])
        scope = "paragraph" if region is not None else "field"
        start, end = region if region is not None else (0, len(text))
        counts[scope] += 1
        rows.append({"article_id": article["id"], "id": relation["id"], "label": relation["label"],
                     "head": head, "tail": tail, "context": text[start:end], "context_field": field,
                     "context_start": start, "context_scope": scope})
    counts["rows"] += len(rows)
    return rows


def batch_rows(batch: pa.RecordBatch, layer: str, span_layers: dict[str, Layer],
               counts: Counter) -> tuple[pa.RecordBatch, np.ndarray, np.ndarray]:
    """`article_rows` for every article of `batch` (id, title, text, the span layers and `layer`), as Arrow.

    Returns the rows, how many each article gave (in order) and which rows suit the card's example (all).
    """
    sizes = pc.fill_null(pc.list_value_length(batch.column(layer)), 0).to_numpy(zero_copy_only=False)
    per_article = np.zeros(batch.num_rows, dtype=np.int64)
    rows: list[dict[str, Any]] = []
    chosen = np.flatnonzero(sizes)
    if chosen.size:
        sub = batch.take(pa.array(chosen))
        relations = _item_lists(sub.column(layer), RELATION_KEYS)
        # Only spans some relation names become dicts (a few of the batch's); the rest cannot be an end.
        named = pa.array(list({item[end] for items in relations for item in items for end in ("head", "tail")}),
                         pa.string())
        lists = {name: _item_lists(sub.column(name), SPAN_KEYS, named) for name in span_layers}
        for k, (article_id, title, text) in enumerate(zip(*(sub.column(c).to_pylist() for c in ("id", "title", "text")),
                                                          strict=True)):
            article = {"id": article_id, "title": title, "text": text, **{n: items[k] for n, items in lists.items()}}
            made = article_rows(article, relations[k], span_layers, counts)
            per_article[chosen[k]] = len(made)
            rows += made
    return _rows_batch(rows), per_article, np.ones(len(rows), dtype=bool)


def _item_lists(column: pa.Array, keys: tuple[str, ...], ids: pa.Array | None = None) -> list[list[dict[str, Any]]]:
    """A `list<struct>` column as, per row, its items as dicts of `keys` only (a missing key: None);
    with `ids`, only the items whose `id` is one of them (in their order)."""
    flat = pc.list_flatten(column)
    parent = pc.list_parent_indices(column)
    if ids is not None:
        wanted = pc.fill_null(pc.is_in(flat.field("id"), ids), False)
        flat, parent = flat.filter(wanted), parent.filter(wanted)
    names = {flat.type.field(i).name for i in range(flat.type.num_fields)}
    values = [flat.field(key).to_pylist() if key in names else [None] * len(flat) for key in keys]
    lists: list[list[dict[str, Any]]] = [[] for _ in range(len(column))]
    for row, item in zip(parent.to_pylist(), zip(*values, strict=True), strict=True):
        lists[row].append(dict(zip(keys, item, strict=True)))
    return lists


def _rows_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """The rows as Arrow, column by column (the schema of `relations_features`, without its metadata)."""
    def strings(values: list[Any]) -> pa.Array:
        return pa.array(values, pa.string())

    def ends(key: str) -> pa.Array:
        items = [row[key] for row in rows]
        return pa.StructArray.from_arrays(
            [pa.array([item[c] for item in items], pa.int64() if c in ("start", "end") else pa.string())
             for c in END_COLUMNS], names=list(END_COLUMNS))

    return pa.RecordBatch.from_arrays([
        strings([row["article_id"] for row in rows]), strings([row["id"] for row in rows]),
        pa.array([row["label"] for row in rows], pa.int64()), ends("head"), ends("tail"),
        strings([row["context"] for row in rows]), strings([row["context_field"] for row in rows]),
        pa.array([row["context_start"] for row in rows], pa.int64()), strings([row["context_scope"] for row in rows]),
    ], names=["article_id", "id", "label", "head", "tail", "context", "context_field", "context_start",
              "context_scope"])


def column_descriptions(layer: str) -> dict[str, str]:
    """What each column of `relations-<layer>` holds (the card and Croissant say it); ends by dotted path."""
    ends = {
        "id": "Id of the span annotation.", "layer": "The span layer the end belongs to.",
        "label": "The span's label (a name).", "field": "The article field the span is in: title or text.",
        "start": "Offset of the span's first code point in its field.",
        "end": "Offset just past the span's last code point in its field.", "text": "The span's text.",
    }
    docs = {
        "article_id": "Id of the article the relation is in.", "id": "Id of the relation annotation.",
        "label": f"The relation's label in layer '{layer}'.",
        "head": "The span the relation starts from.", "tail": "The span the relation points to.",
        "context": "The paragraph holding both spans, or the whole field when they are in different paragraphs.",
        "context_field": "The article field the context is taken from: title or text.",
        "context_start": "Offset of the context's first code point in context_field.",
        "context_scope": "paragraph (both spans in one paragraph) or field (the whole field).",
    }
    for end in ("head", "tail"):
        docs.update({f"{end}.{key}": text for key, text in ends.items()})
    return docs
