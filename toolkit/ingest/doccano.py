"""doccano JSONL exports → articles and annotations (DESIGN.md §1).

One JSON object per line, one line per document, in any of doccano's generations:

- 2019 upload / "JSONL (text label)": `{"text", "labels": [[start, end, "TAG"], ...], "meta"}`;
- 1.x export: `{"id", "text", "annotations": [{"label": <int>, "label_name"?, "start_offset",
  "end_offset", "user"}], "meta", "annotation_approver"}`;
- ≥1.6 export: `{"id", "text" | "data", "label": [[start, end, "TAG"]]}` (a list of strings for
  text classification);
- relation projects: `{"text", "entities": [{"id", "start_offset", "end_offset", "label"}],
  "relations": [{"from_id", "to_id", "type"}]}`.

Spans go to the `entities` layer, text-classification labels to `label`, `cats`/`category` to
`category`, relations to `relations`. doccano runs in the browser and counts offsets in UTF-16 code
units; they are converted to code points unless `options.offset_unit` says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder, annotator, is_int, meta_value, safe_id, unique_id
from toolkit.ingest.files import json_records, suffix_in

SPAN_LAYER = "entities"
LABEL_LAYER = "label"
CATEGORY_LAYER = "category"
RELATION_LAYER = "relations"

# Record keys that carry text or annotations; every other scalar top-level field goes to meta.
_RECORD_KEYS = {"id", "text", "data", "label", "labels", "annotations", "entities", "relations", "meta", "cats",
                "category"}


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import doccano JSONL exports. Never raises on bad input.

    `paths` are export files, or folders whose `*.jsonl` and `*.json` files (searched recursively) are
    read in name order.
    A file that is one pretty-printed JSON object or array is read as records too. Lines that are
    not JSON, records without text, spans outside the text and relations to unknown entities
    become problems naming file and line; the rest is imported. Repeated identical spans in
    one record are kept once and counted in `skipped`.
    """
    builder = ImportBuilder(options, unit="utf16")
    for path, line, record in json_records(paths, builder.problems, suffix_in(".jsonl", ".json")):
        _import_record(builder, path, line, record)
    return builder.imported


def _import_record(builder: ImportBuilder, path: Path, line: int, record: dict) -> None:
    text = _record_text(record)
    if text is None:
        builder.problem(path, line, "no-text", "record has no text ('text' or 'data' string); skipped")
        return
    meta = _meta(record)
    wanted, renamed = _article_id(builder, path, line, record)
    if renamed:
        # Keep the tool's id, which is no longer visible in the article id.
        meta["doccano_id"] = str(record["id"])
    article_id = builder.article(path, line, wanted, text, meta=meta)
    if article_id is None:
        return
    for key in ("labels", "label"):
        if key in record:
            _import_label_list(builder, path, line, article_id, key, record[key])
    if "annotations" in record:
        _import_annotations(builder, path, line, article_id, record["annotations"])
    entity_ids: dict[str, str] = {}
    if "entities" in record:
        entity_ids = _import_entities(builder, path, line, article_id, record["entities"])
    if "relations" in record:
        _import_relations(builder, path, line, article_id, record["relations"], entity_ids)
    for key in ("cats", "category"):
        if key in record:
            _import_categories(builder, path, line, article_id, key, record[key])


def _record_text(record: dict) -> str | None:
    for key in ("text", "data"):
        value = record.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            return value["text"]
    return None


def _article_id(builder: ImportBuilder, path: Path, line: int, record: dict) -> tuple[str, bool]:
    """The record's id as an article id, made unique; and whether it had to be changed.

    Ids repeat in real files (flair's fixture has 101319 three times, with two different texts).
    Each line is still its own document, so the later ones get `-L<line>` and are kept; nothing is
    reported because nothing was lost, and meta keeps the original id.
    """
    raw = record.get("id")
    has_id = raw is not None and raw != "" and not isinstance(raw, dict | list)
    base = safe_id(raw, "doc-") if has_id else safe_id(f"{path.stem}-{line}", "doc-")
    candidate = unique_id(base, builder.article_ids(), f"{base}-L{line}")
    return candidate, has_id and candidate != base


def _meta(record: dict) -> dict[str, str]:
    """doccano's `meta` plus top-level scalars it has no field for (`annotation_approver`)."""
    top = ((k, meta_value(v)) for k, v in record.items() if k not in _RECORD_KEYS)
    meta = {k: v for k, v in top if v is not None}
    nested = record.get("meta")
    if isinstance(nested, dict):
        meta.update({k: v for k, v in ((k, meta_value(v)) for k, v in nested.items()) if v is not None})
    return meta


def _items(builder: ImportBuilder, path: Path, line: int, key: str, items: Any, each: str | None = None) -> list[Any]:
    """The entries of a list field; a field that is not a list is reported and read as empty.

    With `each` (the singular, for messages) only objects are returned; the others are reported.
    """
    if not isinstance(items, list):
        builder.problem(path, line, "malformed", f"'{key}' is not a list; ignored")
        return []
    if each is None:
        return items
    for item in items:
        if not isinstance(item, dict):
            builder.problem(path, line, "malformed", f"{each} {item!r} is not an object; skipped")
    return [item for item in items if isinstance(item, dict)]


def _import_label_list(builder: ImportBuilder, path: Path, line: int, article_id: str, key: str, items: Any) -> None:
    """`labels`/`label`: [start, end, tag] triples for sequence labelling, strings for classification."""
    for item in _items(builder, path, line, key, items):
        if isinstance(item, list | tuple) and len(item) == 3:
            builder.span(path, line, article_id, SPAN_LAYER, item[2], item[0], item[1], what=f"{key} {item!r}")
        elif (isinstance(item, str) and item) or is_int(item):
            builder.label(path, line, article_id, LABEL_LAYER, item)
        else:
            message = f"'{key}' item {item!r} is neither [start, end, label] nor a label; skipped"
            builder.problem(path, line, "malformed", message)


def _import_annotations(builder: ImportBuilder, path: Path, line: int, article_id: str, items: Any) -> None:
    """1.x `annotations`: label ids with optional `label_name`, one entry per user."""
    for item in _items(builder, path, line, "annotations", items, "annotation"):
        label = item.get("label_name")
        if not (isinstance(label, str) and label):
            # 1.x exported the label's database id; without label_name that id is all there is.
            label = item.get("label")
        if not (is_int(label) or (isinstance(label, str) and label)):
            builder.skip("annotation without label")
        elif "start_offset" in item or "end_offset" in item:
            builder.span(path, line, article_id, SPAN_LAYER, label, item.get("start_offset"), item.get("end_offset"),
                         what=_name("annotation", item), annotator=_annotator(item))
        else:
            builder.label(path, line, article_id, LABEL_LAYER, label, annotator=_annotator(item))


def _import_entities(builder: ImportBuilder, path: Path, line: int, article_id: str, items: Any) -> dict[str, str]:
    """Relation projects' `entities`; returns entity id → annotation id for the relations."""
    ids: dict[str, str] = {}
    for item in _items(builder, path, line, "entities", items, "entity"):
        span = builder.span(path, line, article_id, SPAN_LAYER, item.get("label"), item.get("start_offset"),
                            item.get("end_offset"), what=_name("entity", item), annotator=_annotator(item))
        if span is not None and item.get("id") is not None:
            ids[str(item["id"])] = span["id"]
    return ids


def _import_relations(builder: ImportBuilder, path: Path, line: int, article_id: str, items: Any,
                      entity_ids: dict[str, str]) -> None:
    for item in _items(builder, path, line, "relations", items, "relation"):
        head, tail = entity_ids.get(str(item.get("from_id"))), entity_ids.get(str(item.get("to_id")))
        if head is None or tail is None:
            builder.problem(path, line, "unknown-reference", f"{_name('relation', item)}: from_id "
                            f"{item.get('from_id')!r} / to_id {item.get('to_id')!r} names no imported entity; skipped")
            continue
        label = item.get("type") if isinstance(item.get("type"), str) and item["type"] else "related"
        builder.relation(path, line, article_id, RELATION_LAYER, label, head, tail, annotator=_annotator(item))


def _import_categories(builder: ImportBuilder, path: Path, line: int, article_id: str, key: str, value: Any) -> None:
    """`cats`/`category`: a label, a list of labels, or spaCy-style {label: score} (kept when ≥ 0.5)."""
    if isinstance(value, list):
        labels = value
    elif isinstance(value, dict):
        labels = [k for k, v in value.items() if v is True or (_is_number(v) and v >= 0.5)]
    else:
        labels = [value]
    for label in labels:
        if isinstance(label, str) and label:
            builder.label(path, line, article_id, CATEGORY_LAYER, label)
        else:
            builder.problem(path, line, "malformed", f"'{key}' value {label!r} is not a label; skipped")


def _annotator(item: dict) -> str | None:
    """1.x annotations name their user by id and, in later 1.x, by name; the name is more useful."""
    return annotator(item.get("user_name"), item.get("user"))


def _name(kind: str, item: dict) -> str:
    """How a message names an item: repr, so an odd id (a lone surrogate) cannot break the message."""
    return f"{kind} {item['id']!r}" if "id" in item else kind


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
