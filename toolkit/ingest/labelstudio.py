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

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions, LayerKind
from toolkit.ingest.builder import (
    encodable,
    is_int,
    layer_name,
    meta_value,
    safe_id,
    title_from_text,
    unique_id,
    visible,
)
from toolkit.ingest.files import input_files, json_document, suffix_in
from toolkit.offsets import utf16_to_codepoint_mapper
from toolkit.problems import Problem

_TITLE_KEYS = ("title", "headline")
# Layer names used when an item has no usable from_name.
_DEFAULT_LAYER: dict[LayerKind, str] = {"span": "entities", "document": "category", "relation": "relations"}
# Where each kind of annotation set lives in a task, and the letter that marks it in annotation ids.
_SOURCES = (("annotations", "a"), ("completions", "c"), ("predictions", "p"))


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import Label Studio JSON exports. Never raises on bad input.

    `paths` are export files, or folders whose `*.json` files are read in name order. Unreadable
    files, invalid JSON, tasks without `data`, spans whose stored text does not match the article,
    and relations to unknown spans become `ImportProblem`s; the rest of the file is still imported.
    Cancelled annotations and drafts are left out and counted in `skipped`.
    """
    run = _Run(Imported(), options)
    for path in input_files(paths, run.imported.problems, suffix_in(".json")):
        for index, line, task in _tasks(path, run.imported.problems):
            _import_task(run, path, index, line, task)
    return run.imported


@dataclass
class _ArticleSeen:
    """What later tasks are checked against: where an article came from and a digest of its text."""

    article: dict
    file: str
    digest: str
    task_ids: list[str] = field(default_factory=list)


@dataclass
class _Run:
    """State of one import: the ids handed out, so ids stay unique across files."""

    imported: Imported
    options: ImportOptions
    by_id: dict[str, _ArticleSeen] = field(default_factory=dict)
    by_digest: dict[str, _ArticleSeen] = field(default_factory=dict)
    # Annotation id → the annotation, to tell a re-exported copy (skipped) from a clash (renamed).
    annotations: dict[str, dict] = field(default_factory=dict)

    def problem(self, path: Path, line: int | None, message: str, code: str = "malformed") -> None:
        self.imported.problems.append(Problem.at(str(path), line, code, message))


@dataclass(frozen=True)
class _Context:
    """Where results are being read: for messages, ids and the article fields spans point into."""

    path: Path
    line: int
    where: str  # "task 17" or "task #3" (index) for messages
    article_id: str
    id_prefix: str  # the task's own id part, so merged tasks keep distinct annotation ids
    fields: dict[str, tuple[str, str]]  # to_name → (article field, its text)
    default_to_name: str


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


def _import_task(run: _Run, path: Path, index: int, line: int, task: dict) -> None:
    raw_id = task.get("id")
    # repr: a string id shows quoted, and an odd one (a lone surrogate) cannot break the message.
    where = f"task {raw_id!r}" if raw_id is not None else f"task #{index}"
    data = task.get("data")
    if not isinstance(data, dict):
        # LS's *import* would take such an object as the data itself, but an export always has
        # `data`; a task without it is a JSON-MIN row or a hand-edited file, not something to guess at.
        hint = " (a JSON-MIN export or an import file? export as 'JSON')" if "text" in task else ""
        run.problem(path, line, f"{where}: no 'data' object{hint}; task skipped")
        return
    sets = _annotation_sets(run, path, line, where, task)
    text_key = _text_key(data, sets)
    if text_key is None:
        run.problem(
            path, line, f"{where}: no text in data (looked for the results' to_name and 'text'); skipped", "no-text"
        )
        return
    text = data[text_key]
    if not visible(text):
        run.problem(path, line, f"{where}: the text is empty (or only whitespace); skipped", "no-text")
        return
    title_key = next((k for k in _TITLE_KEYS if k != text_key and _nonblank(data.get(k))), None)
    title = data[title_key].strip() if title_key else title_from_text(text, "")
    # Tasks without an id are named after their file and position, which is stable across runs.
    own_id = safe_id(raw_id, "task-") if raw_id is not None else safe_id(f"{path.stem}-{index}", "task-")
    meta = {
        k: meta_value(v)
        for k, v in data.items()
        if k not in (text_key, title_key) and meta_value(v) is not None
    }
    article = {"id": own_id, "title": title or own_id, "text": text, "language": run.options.language}
    if meta:
        article["meta"] = meta
    if not encodable(article):
        run.problem(path, line, f"{where}: text or data contains a lone surrogate (invalid Unicode); skipped",
                    "invalid-encoding")
        return
    article_id = _place_article(run, path, line, where, article, synthetic_id=raw_id is None)
    if article_id is None:
        return
    own_id = article["id"]  # renamed if a made-up id clashed
    fields = {text_key: ("text", text)}
    if title_key:
        fields[title_key] = ("title", title)
    drafts = task.get("drafts")
    if isinstance(drafts, list) and drafts:
        run.imported.skip("draft annotation", len(drafts))
    for source, letter, position, entry in sets:
        if source != "predictions" and entry.get("was_cancelled") is True:
            run.imported.skip("cancelled annotation")
            continue
        results = entry.get("result")
        if results is None:
            continue
        if not isinstance(results, list):
            run.problem(path, line, f"{where}: {source}[{position}].result is not a list; skipped")
            continue
        context = _Context(path, line, where, article_id, f"{own_id}-{letter}{position}", fields, text_key)
        _import_results(run, context, results, _provenance(source, entry))


def _annotation_sets(
    run: _Run, path: Path, line: int, where: str, task: dict
) -> list[tuple[str, str, int, dict]]:
    sets = []
    for source, letter in _SOURCES:
        entries = task.get(source)
        if entries is None:
            continue
        if not isinstance(entries, list):
            run.problem(path, line, f"{where}: '{source}' is not a list; skipped")
            continue
        for position, entry in enumerate(entries):
            if isinstance(entry, dict):
                sets.append((source, letter, position, entry))
            else:
                run.problem(path, line, f"{where}: {source}[{position}] is not an object; skipped")
    return sets


def _text_key(data: dict, sets: list[tuple[str, str, int, dict]]) -> str | None:
    """The data field the annotations point into: the most used `to_name` holding a string,
    preferring span results (their offsets need the right field), then plain `text`."""
    span_names: Counter[str] = Counter()
    other_names: Counter[str] = Counter()
    for _, _, _, entry in sets:
        results = entry.get("result")
        for item in results if isinstance(results, list) else []:
            if isinstance(item, dict) and isinstance(item.get("to_name"), str):
                (span_names if item.get("type") == "labels" else other_names)[item["to_name"]] += 1
    candidates = (
        [n for n, _ in span_names.most_common()] + ["text"] + [n for n, _ in other_names.most_common()]
    )
    return next((name for name in candidates if isinstance(data.get(name), str)), None)


def _place_article(
    run: _Run, path: Path, line: int, where: str, article: dict, *, synthetic_id: bool
) -> str | None:
    """Add the task's article, or find the article it repeats; return the article id (None: skipped).

    The same text can reach an import twice: the same task exported into two files, or the same
    document put into two projects so that two annotators label it independently (the labic file:
    tasks 1090/937, 1094/940, 1098/943 are one text each, one project per annotator, so the task
    ids differ). Both are one article annotated twice, so tasks with identical text are merged into
    the first article and keep their own annotation ids; duplicate articles would also leak the
    same text into two splits. A task id seen before with a *different* text is a real conflict:
    reported, and the later task skipped (the first one read stands, as in DESIGN.md §2).
    """
    text = article["text"]
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()
    seen = run.by_id.get(article["id"])
    if seen is not None and seen.digest != digest:
        if not synthetic_id:
            run.problem(
                path,
                line,
                f"{where}: id {article['id']} was already imported from {seen.file} "
                "with a different text; task skipped",
                "duplicate-id",
            )
            return None
        # Ids made from file name and position can meet by chance; that is no conflict in the data.
        article["id"] = unique_id(f"{article['id']}-2", run.by_id)
        seen = None
    seen = seen or run.by_digest.get(digest)
    if seen is None:
        seen = _ArticleSeen(article, str(path), digest, [article["id"]])
        run.by_id[article["id"]] = seen
        run.by_digest[digest] = seen
        run.imported.articles.append(article)
        return article["id"]
    _merge_meta(seen, article)
    return seen.article["id"]


def _merge_meta(seen: _ArticleSeen, article: dict) -> None:
    """Fold a repeated task's data fields into the first article's meta.

    Values the tasks disagree on (the labic file's `assigned_annotator_email`) describe one task,
    not the article, so they are dropped rather than keeping whichever came first.
    """
    first = seen.article
    if article["id"] not in seen.task_ids:
        seen.task_ids.append(article["id"])
    meta = first.get("meta", {})
    other = article.get("meta", {})
    merged = {k: v for k, v in meta.items() if k == "merged_tasks" or other.get(k, v) == v}
    if len(seen.task_ids) > 1:
        merged["merged_tasks"] = " ".join(seen.task_ids)
    if merged:
        first["meta"] = merged
    else:
        first.pop("meta", None)




@dataclass(frozen=True)
class _Provenance:
    """Who made an annotation set, copied onto each annotation made from it."""

    annotator: str | None
    confidence: float | None
    created_at: str | None
    ground_truth: bool
    is_prediction: bool


def _provenance(source: str, entry: dict) -> _Provenance:
    created_at = entry.get("created_at")
    if not (isinstance(created_at, str) and re.match(_created_at_pattern(), created_at)):
        created_at = None
    if source == "predictions":
        version = entry.get("model_version")
        name = str(version) if version not in (None, "") else "unknown"
        return _Provenance(f"model:{name}", _confidence(entry.get("score")), created_at, False, True)
    return _Provenance(
        _annotator(entry.get("completed_by")), None, created_at, entry.get("ground_truth") is True, False
    )


@cache
def _created_at_pattern() -> str:
    # The schema is the one source of truth for what a timestamp may look like.
    schema_path = Path(__file__).resolve().parent.parent / "schema" / "annotation.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    return schema["$defs"]["embedded"]["properties"]["created_at"]["pattern"]


def _annotator(completed_by: Any) -> str | None:
    """`completed_by` is a user id (int) in API exports and a user object in older/file exports."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()
        completed_by = completed_by.get("id")
    if isinstance(completed_by, bool) or completed_by is None:
        return None
    if isinstance(completed_by, int):
        return f"user-{completed_by}"
    if isinstance(completed_by, str) and completed_by.strip():
        return completed_by.strip()
    return None


def _confidence(score: Any) -> float | None:
    """Model scores are not always probabilities; clamp so the schema's 0..1 holds."""
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    return min(1.0, max(0.0, float(score)))


def _import_results(run: _Run, context: _Context, results: list, provenance: _Provenance) -> None:
    # Spans first: relations and per-region choices refer to span results by id, in any order.
    spans: dict[str, list[dict]] = {}
    for number, item in enumerate(results):
        if isinstance(item, dict) and item.get("type") == "labels":
            made = _import_span(run, context, number, item, provenance)
            if made and isinstance(item.get("id"), str | int):
                spans.setdefault(str(item["id"]), []).extend(made)
    for number, item in enumerate(results):
        if not isinstance(item, dict):
            run.problem(
                context.path, context.line, f"{context.where}: result {number} is not an object; skipped"
            )
            continue
        kind = item.get("type")
        region = spans.get(str(item.get("id"))) if item.get("id") is not None else None
        if kind == "labels":
            continue
        if region is not None:
            _attach_region_value(run, item, region)
        elif kind == "choices":
            _import_choices(run, context, number, item, provenance)
        elif kind == "relation":
            _import_relation(run, context, number, item, spans, provenance)
        else:
            run.imported.skip(f"unsupported result type {kind}")


def _import_span(
    run: _Run, context: _Context, number: int, item: dict, provenance: _Provenance
) -> list[dict]:
    where = f"{context.where}: result {number} ({item.get('id', 'no id')})"
    value = item.get("value")
    if not isinstance(value, dict):
        run.problem(context.path, context.line, f"{where}: span has no value object; skipped")
        return []
    to_name = item.get("to_name", context.default_to_name)
    if to_name not in context.fields:
        run.imported.skip("span on a data field other than the text")
        return []
    field_name, field_text = context.fields[to_name]
    start, end = value.get("start"), value.get("end")
    if not (is_int(start) and is_int(end)):
        run.problem(context.path, context.line, f"{where}: span without integer start/end; skipped")
        return []
    if run.options.offset_unit == "utf16":
        to_codepoint = utf16_to_codepoint_mapper(field_text)
        start, end = to_codepoint(start), to_codepoint(end)
    if not 0 <= start < end <= len(field_text):
        run.problem(
            context.path,
            context.line,
            f"{where}: span [{start}, {end}) outside the {field_name} (length {len(field_text)}); skipped",
            "span-out-of-bounds",
        )
        run.imported.skip("span out of bounds")
        return []
    covered = field_text[start:end]
    stored = value.get("text")
    if isinstance(stored, str) and stored != covered:
        # Known LS bugs (issues #4929, #4988) shift offsets around emoji, escapes and whitespace;
        # an offset that points at other text would silently mislabel, so the span is not kept.
        run.problem(
            context.path,
            context.line,
            f"{where}: span [{start}, {end}) stored text {stored!r} != article text {covered!r}; skipped",
            "span-text-mismatch",
        )
        run.imported.skip("span text mismatch")
        return []
    labels = [label for label in value.get("labels") or [] if isinstance(label, str) and label]
    if not labels:
        run.imported.skip("span without label")
        return []
    layer = _layer(run, item.get("from_name"), "span")
    made = []
    for label_number, label in enumerate(labels):
        annotation = {
            "article_id": context.article_id,
            "layer": layer,
            "label": label,
            "start": start,
            "end": end,
        }
        if field_name != "text":
            annotation["field"] = field_name
        annotation["text"] = covered
        kept = _add(
            run, context, f"{context.id_prefix}-r{number}-{label_number}", annotation, provenance, item
        )
        if kept is not None:
            made.append(kept)
    return made


def _import_choices(run: _Run, context: _Context, number: int, item: dict, provenance: _Provenance) -> None:
    value = item.get("value")
    choices = value.get("choices") if isinstance(value, dict) else None
    if not isinstance(choices, list):
        run.problem(
            context.path, context.line, f"{context.where}: result {number}: choices without a list; skipped"
        )
        return
    if isinstance(value, dict) and "start" in value:
        # A per-region choice whose region was not imported (it was skipped or is missing).
        run.imported.skip("per-region result without its span")
        return
    layer = _layer(run, item.get("from_name"), "document")
    for choice_number, choice in enumerate(choices):
        if not (isinstance(choice, str) and choice):
            run.imported.skip("non-text choice")
            continue
        annotation = {"article_id": context.article_id, "layer": layer, "label": choice}
        _add(run, context, f"{context.id_prefix}-r{number}-{choice_number}", annotation, provenance, item)


def _import_relation(
    run: _Run,
    context: _Context,
    number: int,
    item: dict,
    spans: dict[str, list[dict]],
    provenance: _Provenance,
) -> None:
    ends = []
    for key in ("from_id", "to_id"):
        made = spans.get(str(item.get(key)))
        if not made:
            run.problem(
                context.path,
                context.line,
                f"{context.where}: relation {number} {key} {item.get(key)!r} names no imported span; skipped",
                "unknown-reference",
            )
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
        run.imported.skip("extra relation label", len(labels) - 1)
    layer = _layer(run, item.get("from_name"), "relation")
    annotation = {
        "article_id": context.article_id,
        "layer": layer,
        "label": labels[0] if labels else "related",
        "head": head,
        "tail": tail,
    }
    if direction == "bi":
        annotation["attributes"] = {"direction": "bi"}
    _add(run, context, f"{context.id_prefix}-r{number}-0", annotation, provenance, item)


def _attach_region_value(run: _Run, item: dict, region: list[dict]) -> None:
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
        run.imported.skip(f"unsupported per-region result type {item.get('type')}")
        return
    for annotation in region:
        annotation.setdefault("attributes", {})[name] = found


def _add(
    run: _Run, context: _Context, wanted_id: str, annotation: dict, provenance: _Provenance, item: dict
) -> dict | None:
    """Give `annotation` a unique id and keep it; return the annotation that stands for it (an
    earlier identical copy, or None if it was dropped)."""
    if provenance.annotator:
        annotation["annotator"] = provenance.annotator
    confidence = _confidence(item.get("score")) if provenance.is_prediction else None
    confidence = confidence if confidence is not None else provenance.confidence
    if confidence is not None:
        annotation["confidence"] = confidence
    if provenance.created_at:
        annotation["created_at"] = provenance.created_at
    if provenance.ground_truth:
        annotation.setdefault("attributes", {})["ground_truth"] = True
    if not encodable(annotation):
        run.problem(context.path, context.line, f"{context.where}: label contains a lone surrogate; skipped",
                    "invalid-encoding")
        return None
    annotation_id = safe_id(wanted_id)
    earlier = run.annotations.get(annotation_id)
    if earlier is not None:
        # Attributes are left out of the comparison: per-region values are attached to the earlier
        # copy after it was kept, and would make a re-read copy look different.
        if _without(earlier, "id", "attributes") == _without(annotation, "attributes"):
            # The same task exported into two files: the same annotation, read twice.
            run.imported.skip("duplicate annotation")
            return earlier
        annotation_id = unique_id(f"{annotation_id}-2", run.annotations)
    # `id` first so records read naturally; the dict is rebuilt in place because callers hold it.
    ordered = {"id": annotation_id, **annotation}
    annotation.clear()
    annotation.update(ordered)
    run.annotations[annotation_id] = annotation
    run.imported.annotations.append(annotation)
    run.imported.declare(annotation["layer"], _kind(annotation), annotation["label"])
    return annotation


def _without(record: dict, *keys: str) -> dict:
    return {k: v for k, v in record.items() if k not in keys}


def _kind(annotation: dict) -> LayerKind:
    if "head" in annotation:
        return "relation"
    return "span" if "start" in annotation else "document"


def _layer(run: _Run, from_name: Any, kind: LayerKind) -> str:
    """Layer for a from_name; a name already used by another kind of layer gets the kind appended,
    because one layer holds one kind of annotation."""
    name = layer_name(from_name) or _DEFAULT_LAYER[kind]
    declared = run.imported.layers.get(name)
    if declared is not None and declared != kind:
        name = f"{name[: 63 - len(kind)]}_{kind}"
    return name








def _nonblank(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    )
