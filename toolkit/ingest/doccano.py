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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions, LayerKind
from toolkit.ingest.builder import encodable, is_int, meta_value, safe_id, title_from_text, unique_id
from toolkit.ingest.files import input_files, json_lines, suffix_in
from toolkit.offsets import utf16_to_codepoint_mapper
from toolkit.problems import Problem

SPAN_LAYER = "entities"
LABEL_LAYER = "label"
CATEGORY_LAYER = "category"
RELATION_LAYER = "relations"

# Record keys that carry text or annotations; every other scalar top-level field goes to meta.
_RECORD_KEYS = {
    "id",
    "text",
    "data",
    "label",
    "labels",
    "annotations",
    "entities",
    "relations",
    "meta",
    "cats",
    "category",
}


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import doccano JSONL exports. Never raises on bad input.

    `paths` are export files, or folders whose `*.jsonl` and `*.json` files (searched recursively) are
    read in name order.
    A file that is one pretty-printed JSON object or array is read as records too. Lines that are
    not JSON, records without text, spans outside the text and relations to unknown entities
    become `ImportProblem`s naming file and line; the rest is imported. Repeated identical spans in
    one record are kept once and counted in `skipped`.
    """
    run = _Run(Imported(), options)
    for path in input_files(paths, run.imported.problems, suffix_in(".jsonl", ".json")):
        for line, record in json_lines(path, run.imported.problems):
            _import_record(run, path, line, record)
    return run.imported


@dataclass
class _Run:
    """State of one import: article ids handed out, so ids stay unique across files."""

    imported: Imported
    options: ImportOptions
    article_ids: set[str] = field(default_factory=set)

    def problem(self, path: Path, line: int | None, message: str, code: str = "malformed") -> None:
        self.imported.problems.append(Problem.at(str(path), line, code, message))


@dataclass
class _Record:
    """One record being imported: its article and what it has produced so far."""

    run: _Run
    path: Path
    line: int
    article_id: str
    text: str
    to_codepoint: Callable[[int], int]  # the tool's offset → code point, for this record's text
    utf16: bool
    annotations: list[dict] = field(default_factory=list)
    seen_spans: dict[tuple, dict] = field(default_factory=dict)
    counter: int = 0

    def problem(self, message: str, code: str = "malformed") -> None:
        self.run.problem(self.path, self.line, message, code)

    def next_id(self, letter: str) -> str:
        self.counter += 1
        return safe_id(f"{self.article_id}-{letter}{self.counter}")


def _import_record(run: _Run, path: Path, line: int, record: Any) -> None:
    if not isinstance(record, dict):
        run.problem(path, line, "record is not a JSON object; skipped", "invalid-json")
        return
    text = _record_text(record)
    if text is None:
        run.problem(path, line, "record has no text ('text' or 'data' string); skipped", "no-text")
        return
    meta = _meta(record)
    article_id, renamed = _article_id(run, path, line, record)
    if renamed:
        # Keep the tool's id, which is no longer visible in the article id.
        meta["doccano_id"] = str(record["id"])
    article = {
        "id": article_id,
        "title": title_from_text(text, article_id),
        "text": text,
        "language": run.options.language,
    }
    if meta:
        article["meta"] = meta
    if not encodable(article):
        run.problem(path, line, "text or meta contains a lone surrogate (invalid Unicode); skipped", "invalid-encoding")
        return
    unit = run.options.offset_unit or "utf16"
    to_codepoint = utf16_to_codepoint_mapper(text) if unit == "utf16" else _same
    current = _Record(run, path, line, article_id, text, to_codepoint, unit == "utf16")
    for key in ("labels", "label"):
        if key in record:
            _import_label_list(current, key, record[key])
    if "annotations" in record:
        _import_annotations(current, record["annotations"])
    entity_ids: dict[str, str] = {}
    if "entities" in record:
        entity_ids = _import_entities(current, record["entities"])
    if "relations" in record:
        _import_relations(current, record["relations"], entity_ids)
    for key in ("cats", "category"):
        if key in record:
            _import_categories(current, key, record[key])
    run.imported.articles.append(article)
    for annotation in current.annotations:
        kind: LayerKind = (
            "relation" if "head" in annotation else "span" if "start" in annotation else "document"
        )
        run.imported.declare(annotation["layer"], kind, annotation["label"])
        run.imported.annotations.append(annotation)


def _record_text(record: dict) -> str | None:
    for key in ("text", "data"):
        value = record.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            return value["text"]
    return None


def _article_id(run: _Run, path: Path, line: int, record: dict) -> tuple[str, bool]:
    """The record's id as an article id, made unique; and whether it had to be changed.

    Ids repeat in real files (flair's fixture has 101319 three times, with two different texts).
    Each line is still its own document, so the later ones get `-L<line>` and are kept; nothing is
    reported because nothing was lost, and meta keeps the original id.
    """
    raw = record.get("id")
    has_id = raw is not None and raw != "" and not isinstance(raw, dict | list)
    base = safe_id(raw, "doc-") if has_id else safe_id(f"{path.stem}-{line}", "doc-")
    candidate = unique_id(base, run.article_ids, f"{base}-L{line}")
    run.article_ids.add(candidate)
    return candidate, has_id and candidate != base


def _meta(record: dict) -> dict[str, str]:
    """doccano's `meta` plus top-level scalars it has no field for (`annotation_approver`)."""
    top = ((k, meta_value(v)) for k, v in record.items() if k not in _RECORD_KEYS)
    meta = {k: v for k, v in top if v is not None}
    nested = record.get("meta")
    if isinstance(nested, dict):
        meta.update({k: v for k, v in ((k, meta_value(v)) for k, v in nested.items()) if v is not None})
    return meta


def _import_label_list(current: _Record, key: str, items: Any) -> None:
    """`labels`/`label`: [start, end, tag] triples for sequence labelling, strings for classification."""
    if not isinstance(items, list):
        current.problem(f"'{key}' is not a list; ignored")
        return
    for item in items:
        if isinstance(item, list | tuple) and len(item) == 3:
            _add_span(current, item[0], item[1], item[2], None, f"{key} {item!r}")
        elif isinstance(item, str) and item:
            _add_document(current, LABEL_LAYER, item, None)
        elif is_int(item):
            _add_document(current, LABEL_LAYER, str(item), None)
        else:
            current.problem(f"'{key}' item {item!r} is neither [start, end, label] nor a label; skipped")


def _import_annotations(current: _Record, items: Any) -> None:
    """1.x `annotations`: label ids with optional `label_name`, one entry per user."""
    if not isinstance(items, list):
        current.problem("'annotations' is not a list; ignored")
        return
    for item in items:
        if not isinstance(item, dict):
            current.problem(f"annotation {item!r} is not an object; skipped")
            continue
        label = item.get("label_name")
        if not (isinstance(label, str) and label):
            label = item.get("label")
            # 1.x exported the label's database id; without label_name that id is all there is.
            label = str(label) if is_int(label) or (isinstance(label, str) and label) else None
        if label is None:
            current.run.imported.skip("annotation without label")
            continue
        annotator = _annotator(item)
        if "start_offset" in item or "end_offset" in item:
            _add_span(
                current,
                item.get("start_offset"),
                item.get("end_offset"),
                label,
                annotator,
                _name("annotation", item),
            )
        else:
            _add_document(current, LABEL_LAYER, label, annotator)


def _import_entities(current: _Record, items: Any) -> dict[str, str]:
    """Relation projects' `entities`; returns entity id → annotation id for the relations."""
    ids: dict[str, str] = {}
    if not isinstance(items, list):
        current.problem("'entities' is not a list; ignored")
        return ids
    for item in items:
        if not isinstance(item, dict):
            current.problem(f"entity {item!r} is not an object; skipped")
            continue
        annotation = _add_span(
            current,
            item.get("start_offset"),
            item.get("end_offset"),
            item.get("label"),
            _annotator(item),
            _name("entity", item),
        )
        if annotation is not None and item.get("id") is not None:
            ids[str(item["id"])] = annotation["id"]
    return ids


def _import_relations(current: _Record, items: Any, entity_ids: dict[str, str]) -> None:
    if not isinstance(items, list):
        current.problem("'relations' is not a list; ignored")
        return
    for item in items:
        if not isinstance(item, dict):
            current.problem(f"relation {item!r} is not an object; skipped")
            continue
        head, tail = entity_ids.get(str(item.get("from_id"))), entity_ids.get(str(item.get("to_id")))
        if head is None or tail is None:
            current.problem(
                f"{_name('relation', item)}: from_id {item.get('from_id')!r} / "
                f"to_id {item.get('to_id')!r} names no imported entity; skipped",
                "unknown-reference",
            )
            continue
        label = item.get("type")
        annotation = {
            "id": current.next_id("r"),
            "article_id": current.article_id,
            "layer": RELATION_LAYER,
            "label": label if isinstance(label, str) and label else "related",
            "head": head,
            "tail": tail,
        }
        _keep(current, annotation, _annotator(item))


def _import_categories(current: _Record, key: str, value: Any) -> None:
    """`cats`/`category`: a label, a list of labels, or spaCy-style {label: score} (kept when ≥ 0.5)."""
    if isinstance(value, str):
        labels = [value]
    elif isinstance(value, list):
        labels = value
    elif isinstance(value, dict):
        labels = [k for k, v in value.items() if v is True or (_is_number(v) and v >= 0.5)]
    else:
        labels = [value]
    for label in labels:
        if isinstance(label, str) and label:
            _add_document(current, CATEGORY_LAYER, label, None)
        else:
            current.problem(f"'{key}' value {label!r} is not a label; skipped")


def _add_span(
    current: _Record, start: Any, end: Any, label: Any, annotator: str | None, what: str
) -> dict | None:
    """Check and keep one span; return the annotation that stands for it (None if not kept)."""
    if not (is_int(start) and is_int(end)):
        current.problem(f"{what}: start/end are not integers; skipped")
        return None
    if not (isinstance(label, str) and label):
        if not is_int(label):
            current.problem(f"{what}: no label; skipped")
            return None
        label = str(label)
    if current.utf16 and any(_inside_pair(current.to_codepoint, offset) for offset in (start, end)):
        # doccano stores no span text to check against, so this is the one sign that a file's
        # offsets are not UTF-16 units (code points, or grapheme clusters: doccano issue #2290).
        current.problem(
            f"{what}: [{start}, {end}) cuts an emoji's UTF-16 surrogate pair; the offsets may not be UTF-16 "
            "(try offset_unit=codepoint); skipped",
            "span-out-of-bounds",
        )
        return None
    start, end = current.to_codepoint(start), current.to_codepoint(end)
    if not 0 <= start < end <= len(current.text):
        current.problem(
            f"{what}: span [{start}, {end}) is outside the text (length {len(current.text)}); skipped",
            "span-out-of-bounds",
        )
        return None
    key = (start, end, label, annotator)
    if key in current.seen_spans:
        # The same span twice (doccano's own overlapping-span test file) is one annotation.
        current.run.imported.skip("duplicate span")
        return current.seen_spans[key]
    annotation = {
        "id": current.next_id("s"),
        "article_id": current.article_id,
        "layer": SPAN_LAYER,
        "label": label,
        "start": start,
        "end": end,
        "text": current.text[start:end],
    }
    if not _keep(current, annotation, annotator):
        return None
    current.seen_spans[key] = annotation
    return annotation


def _add_document(current: _Record, layer: str, label: str, annotator: str | None) -> None:
    annotation = {
        "id": current.next_id("d"),
        "article_id": current.article_id,
        "layer": layer,
        "label": label,
    }
    _keep(current, annotation, annotator)


def _keep(current: _Record, annotation: dict, annotator: str | None) -> bool:
    if annotator:
        annotation["annotator"] = annotator
    if not encodable(annotation):
        current.problem(f"label {annotation['label']!r} contains a lone surrogate; skipped", "invalid-encoding")
        return False
    current.annotations.append(annotation)
    return True


def _annotator(item: dict) -> str | None:
    """1.x annotations name their user by id and, in later 1.x, by name; the name is more useful."""
    name = item.get("user_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    user = item.get("user")
    if is_int(user):
        return f"user-{user}"
    if isinstance(user, str) and user.strip():
        return user.strip()
    return None


def _name(kind: str, item: dict) -> str:
    """How a message names an item: repr, so an odd id (a lone surrogate) cannot break the message."""
    return f"{kind} {item['id']!r}" if "id" in item else kind








def _inside_pair(to_codepoint: Callable[[int], int], offset: int) -> bool:
    """A UTF-16 offset between the two halves of an astral character maps to the same code point
    as the offset before it; no other offset does."""
    return offset > 0 and to_codepoint(offset) == to_codepoint(offset - 1)


def _same(offset: int) -> int:
    return offset




def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
