"""Label Studio JSON export → articles and annotations (DESIGN.md §1).

Reads the "JSON" export: a list of tasks or one task object, each `{"id", "data", "annotations"
(or the pre-1.0 "completions"), "predictions"}`. One task becomes one article; every submitted
annotation, completion and prediction is kept, each with its annotator, so agreement between
annotators (and against models) can be measured downstream.

Result items map to layers by type: `labels` → a span layer, `choices` → a document layer,
`relation` → a relation layer; the layer is named after the item's `from_name`. Label Studio
counts offsets in code points (since 2021; older exports used UTF-16 units: pass
`offset_unit="utf16"`), and every span's stored `value.text` is checked against the article.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions, LayerKind
from toolkit.ingest.builder import ImportBuilder, annotator, layer_name, meta_value, safe_id
from toolkit.ingest.files import input_files, json_document, suffix_in
from toolkit.problems import Problem
from toolkit.schemas import load_schema

_TITLE_KEYS = ("title", "headline")
# Layer names used when an item has no usable from_name.
_DEFAULT_LAYER: dict[LayerKind, str] = {"span": "entities", "document": "category", "relation": "relations"}
# Where each kind of annotation set lives in a task, and the letter that marks it in annotation ids.
_SOURCES = (("annotations", "a"), ("completions", "c"), ("predictions", "p"))

# One task's annotation set: (source key, id letter, position in the source list, the set).
AnnotationSet = tuple[str, str, int, dict]


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import Label Studio JSON exports. Never raises on bad input.

    `paths` are export files, or folders whose `*.json` files are read in name order. Unreadable
    files, invalid JSON, tasks without `data`, spans whose stored text does not match the article,
    and relations to unknown spans become problems; the rest of the file is still imported.
    Cancelled annotations and drafts are left out and counted in `skipped`.
    """
    builder = ImportBuilder(options)
    for path in input_files(paths, builder.problems, suffix_in(".json")):
        for index, line, task in _tasks(path, builder.problems):
            _import_task(builder, path, index, line, task)
    return builder.imported


def _tasks(path: Path, problems: list[Problem]) -> list[tuple[int, int, dict]]:
    """The task objects of one export file as (index, line it starts on, task); problems appended."""
    document = json_document(path, problems)
    if document is None:
        return []
    is_array, items = document
    if not is_array and not isinstance(items[0][1], dict):
        message = "expected a list of tasks or one task object"
        problems.append(Problem.at(str(path), items[0][0], "invalid-json", message))
        return []
    tasks = []
    for index, (line, value) in enumerate(items):
        if isinstance(value, dict):
            tasks.append((index, line, value))
        else:
            problems.append(Problem.at(str(path), line, "invalid-json", f"task #{index} is not a JSON object; skipped"))
    return tasks


def _import_task(builder: ImportBuilder, path: Path, index: int, line: int, task: dict) -> None:
    raw_id = task.get("id")
    # repr: a string id shows quoted, and an odd one (a lone surrogate) cannot break the message.
    where = f"task {raw_id!r}" if raw_id is not None else f"task #{index}"
    data = task.get("data")
    if not isinstance(data, dict):
        # LS's *import* would take such an object as the data itself, but an export always has
        # `data`; a task without it is a JSON-MIN row or a hand-edited file, not something to guess at.
        hint = " (a JSON-MIN export or an import file? export as 'JSON')" if "text" in task else ""
        builder.problem(path, line, "malformed", f"{where}: no 'data' object{hint}; task skipped")
        return
    sets = _annotation_sets(builder, path, line, where, task)
    text_key = _text_key(data, sets)
    if text_key is None:
        message = f"{where}: no text in data (looked for the results' to_name and 'text'); skipped"
        builder.problem(path, line, "no-text", message)
        return
    title_key = next((k for k in _TITLE_KEYS if k != text_key and _nonblank(data.get(k))), None)
    meta = {k: meta_value(v) for k, v in data.items() if k not in (text_key, title_key) and meta_value(v) is not None}
    # Tasks without an id are named after their file and position, which is stable across runs.
    own_id = safe_id(raw_id, "task-") if raw_id is not None else safe_id(f"{path.stem}-{index}", "task-")
    placed = _place_article(builder, path, line, where, own_id, raw_id is None, data[text_key],
                            data[title_key].strip() if title_key else None, meta)
    if placed is None:
        return
    article_id, prefix = placed
    fields = {text_key: "text", **({title_key: "title"} if title_key else {})}
    drafts = task.get("drafts")
    if isinstance(drafts, list) and drafts:
        builder.skip("draft annotation", len(drafts))
    for source, letter, position, entry in sets:
        if source != "predictions" and entry.get("was_cancelled") is True:
            builder.skip("cancelled annotation")
            continue
        results = entry.get("result")
        if results is None:
            continue
        if not isinstance(results, list):
            builder.problem(path, line, "malformed", f"{where}: {source}[{position}].result is not a list; skipped")
            continue
        _import_results(builder, (path, line, where), article_id, f"{prefix}-{letter}{position}", fields, results,
                        _provenance(source, entry))


def _annotation_sets(builder: ImportBuilder, path: Path, line: int, where: str, task: dict) -> list[AnnotationSet]:
    sets = []
    for source, letter in _SOURCES:
        entries = task.get(source)
        if entries is None:
            continue
        if not isinstance(entries, list):
            builder.problem(path, line, "malformed", f"{where}: '{source}' is not a list; skipped")
            continue
        for position, entry in enumerate(entries):
            if isinstance(entry, dict):
                sets.append((source, letter, position, entry))
            else:
                builder.problem(path, line, "malformed", f"{where}: {source}[{position}] is not an object; skipped")
    return sets


def _text_key(data: dict, sets: list[AnnotationSet]) -> str | None:
    """The data field the annotations point into: the most used `to_name` holding a string,
    preferring span results (their offsets need the right field), then plain `text`."""
    span_names: Counter[str] = Counter()
    other_names: Counter[str] = Counter()
    for _, _, _, entry in sets:
        results = entry.get("result")
        for item in results if isinstance(results, list) else []:
            if isinstance(item, dict) and isinstance(item.get("to_name"), str):
                (span_names if item.get("type") == "labels" else other_names)[item["to_name"]] += 1
    candidates = [n for n, _ in span_names.most_common()] + ["text"] + [n for n, _ in other_names.most_common()]
    return next((name for name in candidates if isinstance(data.get(name), str)), None)


def _place_article(builder: ImportBuilder, path: Path, line: int, where: str, own_id: str, synthetic_id: bool,
                   text: str, title: str | None, meta: dict[str, str]) -> tuple[str, str] | None:
    """Add the task's article, or find the article it repeats; return (article id, the task's own id
    part for its annotation ids), or None when the task is skipped.

    The same text can reach an import twice: the same task exported into two files, or the same
    document put into two projects so that two annotators label it independently (the labic file:
    tasks 1090/937, 1094/940, 1098/943 are one text each, one project per annotator, so the task
    ids differ). Both are one article annotated twice, so tasks with identical text are merged into
    the first article and keep their own annotation ids; duplicate articles would also leak the
    same text into two splits. A task id seen before with a *different* text is a real conflict:
    reported, and the later task skipped (the first one read stands, as in DESIGN.md §2). Ids made
    from file name and position can meet by chance; that is no conflict in the data (renamed).
    """
    if not synthetic_id and own_id in builder.article_ids() and builder.get_article(own_id)["text"] != text:
        message = (f"{where}: id {own_id} was already imported from {builder.source_of(own_id)} "
                   "with a different text; task skipped")
        builder.problem(path, line, "duplicate-id", message)
        return None
    count = len(builder.imported.articles)
    article_id = builder.article(path, line, own_id, text, title=title, same=text, meta=meta)
    if article_id is None:
        return None
    if len(builder.imported.articles) > count:
        return article_id, article_id
    _merge_meta(builder.get_article(article_id), own_id, meta)
    return article_id, own_id


def _merge_meta(first: dict, own_id: str, meta: dict[str, str]) -> None:
    """Fold a repeated task's data fields into the first article's meta.

    Values the tasks disagree on (the labic file's `assigned_annotator_email`) describe one task,
    not the article, so they are dropped rather than keeping whichever came first.
    """
    kept = first.get("meta", {})
    task_ids = kept.get("merged_tasks", first["id"]).split()
    merged = {k: v for k, v in kept.items() if k == "merged_tasks" or meta.get(k, v) == v}
    if own_id not in task_ids:
        task_ids.append(own_id)
    if len(task_ids) > 1:
        merged["merged_tasks"] = " ".join(task_ids)
    if merged:
        first["meta"] = merged
    else:
        first.pop("meta", None)


def _provenance(source: str, entry: dict) -> dict[str, Any]:
    """Who made an annotation set, as the fields given to each annotation made from it.

    A prediction's set always holds `confidence` (perhaps None): each of its results may carry its own score.
    """
    created_at = entry.get("created_at")
    if not (isinstance(created_at, str) and re.match(_created_at_pattern(), created_at)):
        created_at = None
    if source == "predictions":
        version = entry.get("model_version")
        name = str(version) if version not in (None, "") else "unknown"
        return {"annotator": f"model:{name}", "confidence": _confidence(entry.get("score")), "created_at": created_at}
    attributes = {"ground_truth": True} if entry.get("ground_truth") is True else None
    return {"annotator": _annotator(entry.get("completed_by")), "created_at": created_at, "attributes": attributes}


def _scored(provenance: dict[str, Any], item: dict) -> dict[str, Any]:
    """The fields for one result: a prediction's region score wins over its set's."""
    if "confidence" not in provenance:
        return provenance
    score = _confidence(item.get("score"))
    return {**provenance, "confidence": score if score is not None else provenance["confidence"]}


@cache
def _created_at_pattern() -> str:
    # The schema is the one source of truth for what a timestamp may look like.
    return load_schema("annotation")["$defs"]["embedded"]["properties"]["created_at"]["pattern"]


def _annotator(completed_by: Any) -> str | None:
    """`completed_by` is a user id (int) in API exports and a user object in older/file exports."""
    if isinstance(completed_by, dict):
        return annotator(completed_by.get("email"), completed_by.get("id"))
    return annotator(completed_by)


def _confidence(score: Any) -> float | None:
    """Model scores are not always probabilities; clamp so the schema's 0..1 holds."""
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    return min(1.0, max(0.0, float(score)))


# Where a task's results are read: (file, line the task starts on, "task 17" or "task #3" for messages).
At = tuple[Path, int, str]


def _import_results(builder: ImportBuilder, at: At, article_id: str, prefix: str, fields: dict[str, str],
                    results: list, provenance: dict[str, Any]) -> None:
    """One annotation set's results; `prefix` starts their ids, `fields` maps a to_name to its article field."""
    path, line, where = at
    # Spans first: relations and per-region choices refer to span results by id, in any order.
    spans: dict[str, list[dict]] = {}
    for number, item in enumerate(results):
        if isinstance(item, dict) and item.get("type") == "labels":
            made = _import_span(builder, at, article_id, f"{prefix}-r{number}", number, fields, item,
                                _scored(provenance, item))
            if made and isinstance(item.get("id"), str | int):
                spans.setdefault(str(item["id"]), []).extend(made)
    for number, item in enumerate(results):
        if not isinstance(item, dict):
            builder.problem(path, line, "malformed", f"{where}: result {number} is not an object; skipped")
            continue
        kind = item.get("type")
        region = spans.get(str(item.get("id"))) if item.get("id") is not None else None
        if kind == "labels":
            continue
        if region is not None:
            _attach_region_value(builder, item, region)
        elif kind == "choices":
            _import_choices(builder, at, article_id, f"{prefix}-r{number}", number, item, _scored(provenance, item))
        elif kind == "relation":
            _import_relation(builder, at, article_id, f"{prefix}-r{number}", number, item, spans,
                             _scored(provenance, item))
        else:
            builder.skip(f"unsupported result type {kind}")


# Each result's id (task, annotation set, result, label) is also its identity for the builder: two
# annotation sets that read the same are two annotations; the same task read from two files is one.


def _import_span(builder: ImportBuilder, at: At, article_id: str, prefix: str, number: int, fields: dict[str, str],
                 item: dict, extra: dict[str, Any]) -> list[dict]:
    """The annotations of one `labels` result: one per label, all over the same span."""
    path, line, where = at
    what = f"{where}: result {number} ({item.get('id', 'no id')})"
    value = item.get("value")
    if not isinstance(value, dict):
        builder.problem(path, line, "malformed", f"{what}: span has no value object; skipped")
        return []
    to_name = item.get("to_name", next(iter(fields)))
    if to_name not in fields:
        builder.skip("span on a data field other than the text")
        return []
    labels = [label for label in value.get("labels") or [] if isinstance(label, str) and label]
    if not labels:
        builder.skip("span without label")
        return []
    # Known LS bugs (issues #4929, #4988) shift offsets around emoji, escapes and whitespace; an
    # offset that points at other text than the stored one would silently mislabel, so it is refused.
    stored = value.get("text") if isinstance(value.get("text"), str) else None
    layer = builder.layer(layer_name(item.get("from_name")) or _DEFAULT_LAYER["span"], "span")
    made = []
    for label_number, label in enumerate(labels):
        span = builder.span(path, line, article_id, layer, label, value.get("start"), value.get("end"), what=what,
                            field=fields[to_name], quoted=stored, wanted_id=f"{prefix}-{label_number}",
                            identity=f"{prefix}-{label_number}", **extra)
        if span is None:
            break  # the same offsets fail for every label: reported once
        made.append(span)
    return made


def _import_choices(builder: ImportBuilder, at: At, article_id: str, prefix: str, number: int, item: dict,
                    extra: dict[str, Any]) -> None:
    path, line, where = at
    value = item.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(choices, list):
        builder.problem(path, line, "malformed", f"{where}: result {number}: choices without a list; skipped")
        return
    if isinstance(value, dict) and "start" in value:
        # A per-region choice whose region was not imported (it was skipped or is missing).
        builder.skip("per-region result without its span")
        return
    layer = builder.layer(layer_name(item.get("from_name")) or _DEFAULT_LAYER["document"], "document")
    for choice_number, choice in enumerate(choices):
        if isinstance(choice, str) and choice:
            wanted = f"{prefix}-{choice_number}"
            builder.label(path, line, article_id, layer, choice, wanted_id=wanted, identity=wanted, **extra)
        else:
            builder.skip("non-text choice")


def _import_relation(builder: ImportBuilder, at: At, article_id: str, prefix: str, number: int, item: dict,
                     spans: dict[str, list[dict]], extra: dict[str, Any]) -> None:
    path, line, where = at
    ends = []
    for key in ("from_id", "to_id"):
        made = spans.get(str(item.get(key)))
        if not made:
            message = f"{where}: relation {number} {key} {item.get(key)!r} names no imported span; skipped"
            builder.problem(path, line, "unknown-reference", message)
            return
        # A span with several labels became several annotations; the relation links the first.
        ends.append(made[0]["id"])
    head, tail = ends
    direction = item.get("direction")
    if direction == "left":
        # LS draws "left" relations from to_id to from_id.
        head, tail = tail, head
    labels = [label for label in item.get("labels") or [] if isinstance(label, str) and label]
    if len(labels) > 1:
        builder.skip("extra relation label", len(labels) - 1)
    layer = builder.layer(layer_name(item.get("from_name")) or _DEFAULT_LAYER["relation"], "relation")
    if direction == "bi":
        extra = {**extra, "attributes": {**(extra.get("attributes") or {}), "direction": "bi"}}
    builder.relation(path, line, article_id, layer, labels[0] if labels else "related", head, tail,
                     wanted_id=f"{prefix}-0", identity=f"{prefix}-0", **extra)


def _attach_region_value(builder: ImportBuilder, item: dict, region: list[dict]) -> None:
    """Per-region results (choices, text, rating about one span) share the span's id; they are
    properties of that span, not labels of the document, so they become its attributes."""
    value = item.get("value") if isinstance(item.get("value"), dict) else {}
    name = layer_name(item.get("from_name")) or str(item.get("type"))
    if isinstance(value.get("choices"), list):
        found: Any = ",".join(str(c) for c in value["choices"])
    elif isinstance(value.get("text"), list):
        found = "\n".join(str(t) for t in value["text"])
    else:
        found = next((value[k] for k in ("rating", "number") if _scalar(value.get(k))), None)
    if found is None:
        builder.skip(f"unsupported per-region result type {item.get('type')}")
        return
    for annotation in region:
        annotation.setdefault("attributes", {})[name] = found


def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float) and not (isinstance(value, float) and not math.isfinite(value))
