"""spaCy / Prodigy JSONL → articles and annotations (DESIGN.md §1).

One JSON object per line, as Prodigy's `db-out` writes and spaCy projects read:
`{"text", "meta", "_input_hash", "_task_hash", "tokens": [{"text", "start", "end", "id"}],
"spans": [{"start", "end", "label", "token_start", "token_end"}], "answer"}`, plus `label`
(binary text classification), `options` + `accept` (choice tasks) and `relations`
(`{"head_span", "child_span", "label"}`, from `rel.manual`).

How records become records:

- Only `answer: accept` is imported; `reject` and `ignore` are counted in `skipped` (a rejected
  task says its suggestion is wrong, not what is right). A record without `answer` (a spaCy
  corpus, a Prodigy input stream) is imported.
- Records with the same `_input_hash` and the same text are one article: several annotators, or
  several passes over one input, annotate the same text. The article id is `input-<hash>`, else
  `<file stem>-<line>`; `meta` keeps the record's scalar `meta` and the hash.
- Spans go to the `entities` layer, `label` and accepted choice ids to the `label` document
  layer, relations to `relations`. Offsets are code points (Python `str` indices, which Prodigy
  uses); `--offset-unit utf16` converts them. A span whose `text` differs from the article text
  at its offsets, or whose offsets disagree with its `token_start`/`token_end` tokens
  (`token_end` is inclusive), is an `ImportProblem` and is left out.
- A relation between tokens that are not labelled spans has nothing to point at in this data
  model; it is counted in `skipped`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import encodable, is_int, meta_value, safe_id, title_from_text, unique_id, visible
from toolkit.ingest.files import input_files, json_lines, suffix_in
from toolkit.offsets import utf16_to_codepoint_mapper
from toolkit.problems import Problem

SPAN_LAYER = "entities"
LABEL_LAYER = "label"
RELATION_LAYER = "relations"
ANSWERS = ("accept", "reject", "ignore")
# Span keys that are read as fields; other scalar keys (source, pattern, score) become attributes.
_SPAN_KEYS = frozenset({"start", "end", "label", "text", "token_start", "token_end", "input_hash"})


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import spaCy/Prodigy JSONL files, or folders of `*.jsonl` files (read in name order).

    Returns one article per distinct input and its accepted annotations. Lines that are not
    JSON objects, records without text, spans and relations that do not fit the text become
    `ImportProblem`s with file and line; the rest is imported. Never raises on bad input.
    """
    run = _Run(Imported(), options)
    for path in input_files(paths, run.imported.problems, suffix_in(".jsonl")):
        for line, record in json_lines(path, run.imported.problems):
            _import_record(run, _Where(path, line), record)
    return run.imported


@dataclass(frozen=True)
class _Where:
    path: Path
    line: int


@dataclass
class _Article:
    """An article and what is known about it to add later records' annotations."""

    record: dict
    # (annotator, start, end, label) → span id, for relations; any annotation's key → its id.
    span_ids: dict[tuple, str] = field(default_factory=dict)
    seen: dict[tuple, str] = field(default_factory=dict)
    counter: int = 0

    def next_id(self, letter: str) -> str:
        self.counter += 1
        return safe_id(f"{self.record['id']}-{letter}{self.counter}")


@dataclass
class _Run:
    imported: Imported
    options: ImportOptions
    by_input: dict[tuple[str, str], _Article] = field(default_factory=dict)
    used_ids: set[str] = field(default_factory=set)

    def problem(self, where: _Where, message: str, code: str = "malformed") -> None:
        self.imported.problems.append(Problem.at(str(where.path), where.line, code, message))


# --- one record -------------------------------------------------------------------------------


@dataclass
class _Task:
    """One accepted record being imported: its text, its article and the annotations it gives."""

    run: _Run
    where: _Where
    text: str
    to_codepoint: Callable[[int], int]  # the file's offset unit → code point, for this text
    article: _Article
    annotator: str | None
    tokens: list[tuple[int, int]] | None = None  # code-point (start, end) of each token, when usable
    annotations: list[dict] = field(default_factory=list)

    def problem(self, message: str, code: str = "malformed") -> None:
        self.run.problem(self.where, message, code)


def _import_record(run: _Run, where: _Where, record: Any) -> None:
    if not isinstance(record, dict):
        run.problem(where, "not a JSON object; skipped", "invalid-json")
        return
    if not encodable(record):
        run.problem(where, "a string holds a lone surrogate (invalid Unicode); skipped", "invalid-encoding")
        return
    answer = record.get("answer")
    if answer is not None and answer not in ANSWERS:
        run.problem(where, f"answer {answer!r} is none of accept, reject, ignore; skipped")
        return
    if answer in ("reject", "ignore"):
        run.imported.skip(f"answer {answer}")
        return
    text = record.get("text")
    if not isinstance(text, str) or not visible(text):
        # validate rejects a blank text (blank-text): better said here, with the line.
        run.problem(where, "record has no text (a 'text' string with a visible character); skipped", "no-text")
        return
    to_codepoint = utf16_to_codepoint_mapper(text) if run.options.offset_unit == "utf16" else int
    task = _Task(run, where, text, to_codepoint, _article_for(run, where, record, text), _annotator(record))
    task.tokens = _tokens(task, record.get("tokens"))
    for index, item in enumerate(_list(task, record, "spans")):
        span = _span(task, f"span {index}", item)
        if span is not None:
            _keep_span(task, span)
    for label in _document_labels(task, record):
        _keep(task, {"layer": LABEL_LAYER, "label": label})
    for index, item in enumerate(_list(task, record, "relations")):
        _relation(task, index, item)
    for annotation in task.annotations:
        kind = "relation" if "head" in annotation else "span" if "start" in annotation else "document"
        run.imported.declare(annotation["layer"], kind, annotation["label"])
        run.imported.annotations.append(annotation)




def _list(task: _Task, record: dict, key: str) -> list:
    value = record.get(key, [])
    if isinstance(value, list):
        return value
    task.problem(f"'{key}' is not a list; ignored")
    return []


def _tokens(task: _Task, value: Any) -> list[tuple[int, int]] | None:
    """Each token's code-point (start, end), to check spans' token indexes; None when absent or
    unusable (reported once: the spans are then checked against the text only)."""
    if value is None:
        return None
    if not isinstance(value, list):
        task.problem("'tokens' is not a list; token indexes are not checked")
        return None
    offsets: list[tuple[int, int]] = []
    for index, token in enumerate(value):
        start, end = (token.get("start"), token.get("end")) if isinstance(token, dict) else (None, None)
        if not (is_int(start) and is_int(end)):
            task.problem(f"token {index} has no integer start/end; token indexes are not checked")
            return None
        start, end = task.to_codepoint(start), task.to_codepoint(end)
        said = token.get("text")
        if not 0 <= start <= end <= len(task.text) or (isinstance(said, str) and said != task.text[start:end]):
            task.problem(f"token {index} [{start}, {end}) does not match the text; token indexes are not checked")
            return None
        offsets.append((start, end))
    return offsets


def _article_for(run: _Run, where: _Where, record: dict, text: str) -> _Article:
    """The article for this record's input: an earlier one with the same input hash and text, or a new one."""
    input_hash = record.get("_input_hash")
    has_hash = is_int(input_hash) or (isinstance(input_hash, str) and input_hash != "")
    key = (str(input_hash), text)
    if has_hash and key in run.by_input:
        return run.by_input[key]
    base = safe_id(input_hash, "input-") if has_hash else safe_id(f"{where.path.stem}-{where.line}")
    # The same hash with another text (an edited input), or the same file read twice.
    article_id = unique_id(base, run.used_ids, f"{base}-L{where.line}")
    run.used_ids.add(article_id)
    article: dict = {
        "id": article_id,
        "title": title_from_text(text, article_id),
        "text": text,
        "language": run.options.language,
    }
    meta = _meta(record)
    if meta:
        article["meta"] = meta
    run.imported.articles.append(article)
    entry = _Article(article)
    if has_hash:
        run.by_input[key] = entry
    return entry






def _meta(record: dict) -> dict[str, str]:
    """The record's scalar `meta` values as strings, and its input hash (Prodigy's key for the input)."""
    meta: dict[str, str] = {}
    nested = record.get("meta")
    if isinstance(nested, dict):
        for key, value in nested.items():
            shown = meta_value(value)
            if shown is not None:
                meta[str(key)] = shown
    input_hash = meta_value(record.get("_input_hash"))
    if input_hash is not None:
        meta["prodigy_input_hash"] = input_hash
    return meta




def _annotator(record: dict) -> str | None:
    """Prodigy ≥1.10 names the annotator's session `_annotator_id` (`dataset-name`); older ones `_session_id`."""
    for key in ("_annotator_id", "_session_id"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _span(task: _Task, what: str, item: Any) -> dict | None:
    """A checked span annotation (without id) from a Prodigy span, or None after reporting why not."""
    if not isinstance(item, dict):
        task.problem(f"{what} is not an object; skipped")
        return None
    label = item.get("label")
    if not (isinstance(label, str) and label):
        task.problem(f"{what} has no label; skipped")
        return None
    tokens, text = task.tokens, task.text
    start, end = item.get("start"), item.get("end")
    first, last = item.get("token_start"), item.get("token_end")
    has_token_range = is_int(first) and is_int(last)
    if not (is_int(start) and is_int(end)):
        if not (has_token_range and tokens is not None and 0 <= first <= last < len(tokens)):
            task.problem(f"{what} ({label}) has no integer start/end nor usable token_start/token_end; skipped")
            return None
        start, end = tokens[first][0], tokens[last][1]
    else:
        start, end = task.to_codepoint(start), task.to_codepoint(end)
    if not 0 <= start < end <= len(text):
        task.problem(
            f"{what} ({label}) [{start}, {end}) is empty or outside the text ({len(text)} characters); skipped",
            "span-out-of-bounds",
        )
        return None
    said = item.get("text")
    if isinstance(said, str) and said != text[start:end]:
        task.problem(f"{what} ({label}) says {said!r} but the text at [{start}, {end}) is {text[start:end]!r}; skipped",
                     "span-text-mismatch")
        return None
    # token_end is inclusive (Prodigy's convention, unlike the character end).
    if has_token_range and tokens is not None:
        if not 0 <= first <= last < len(tokens) or (tokens[first][0], tokens[last][1]) != (start, end):
            task.problem(f"{what} ({label}) [{start}, {end}) does not cover tokens {first}..{last}; skipped",
                         "span-text-mismatch")
            return None
    span = {"layer": SPAN_LAYER, "label": label, "start": start, "end": end, "text": text[start:end]}
    attributes = {k: v for k, v in item.items() if k not in _SPAN_KEYS and _attribute(v)}
    if attributes:
        span["attributes"] = attributes
    return span


def _attribute(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _document_labels(task: _Task, record: dict) -> list[str]:
    """`label` of a classification task (accepted: it applies) and the ids in `accept` (choice tasks)."""
    labels: list[str] = []
    label = record.get("label")
    if isinstance(label, str) and label:
        labels.append(label)
    elif label is not None:
        task.problem(f"'label' {label!r} is not a label; ignored")
    for choice in _list(task, record, "accept"):
        if (isinstance(choice, str) and choice) or is_int(choice):
            labels.append(str(choice))
        else:
            task.problem(f"'accept' item {choice!r} is not an option id; ignored")
    return labels


def _relation(task: _Task, index: int, item: Any) -> None:
    """A `rel.manual` relation between two of the record's spans (its `head_span` and `child_span`)."""
    what = f"relation {index}"
    if not isinstance(item, dict) or not isinstance(item.get("label"), str) or not item["label"]:
        task.problem(f"{what} is not an object with a label; skipped")
        return
    ends: list[str] = []
    for key in ("head_span", "child_span"):
        end = item.get(key)
        if not isinstance(end, dict):
            task.problem(f"{what} has no {key}; skipped")
            return
        if end.get("label") is None:
            task.run.imported.skip("relation between unlabelled tokens")
            return
        span = _span(task, f"{what} {key}", end)
        if span is None:
            return
        span_id = task.article.span_ids.get((task.annotator, span["start"], span["end"], span["label"]))
        # rel.manual lists every relation end in `spans` too; a file without it still says which text.
        ends.append(span_id if span_id is not None else _keep_span(task, span))
    _keep(task, {"layer": RELATION_LAYER, "label": item["label"], "head": ends[0], "tail": ends[1]})


def _keep_span(task: _Task, span: dict) -> str:
    """Keep a span once per article and annotator; return the id that stands for it."""
    annotation_id = _keep(task, span)
    task.article.span_ids.setdefault((task.annotator, span["start"], span["end"], span["label"]), annotation_id)
    return annotation_id


def _keep(task: _Task, annotation: dict) -> str:
    """Add the annotation to the article unless the same one (same annotator) is there already:
    Prodigy writes an input once per task, so an accepted span can come twice. Returns its id."""
    article = task.article
    key = (task.annotator, tuple(sorted((k, str(v)) for k, v in annotation.items())))
    if key in article.seen:
        task.run.imported.skip("duplicate annotation")
        return article.seen[key]
    letter = "r" if "head" in annotation else "s" if "start" in annotation else "d"
    record = {"id": article.next_id(letter), "article_id": article.record["id"], **annotation}
    if task.annotator is not None:
        record["annotator"] = task.annotator
    task.annotations.append(record)
    article.seen[key] = record["id"]
    return record["id"]
