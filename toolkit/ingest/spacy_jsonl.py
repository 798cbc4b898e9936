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
  (`token_end` is inclusive), is a problem and is left out.
- A relation between tokens that are not labelled spans has nothing to point at in this data
  model; it is counted in `skipped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder, encodable, is_int, meta_value, safe_id
from toolkit.ingest.files import json_records, suffix_in

SPAN_LAYER = "entities"
LABEL_LAYER = "label"
RELATION_LAYER = "relations"
ANSWERS = ("accept", "reject", "ignore")
# Span keys that are read as fields; other scalar keys (source, pattern, score) become attributes.
_SPAN_KEYS = frozenset({"start", "end", "label", "text", "token_start", "token_end", "input_hash"})

# (start, end) of each token in the file's offset unit, when the record's tokens fit its text.
Tokens = list[tuple[int, int]] | None


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Import spaCy/Prodigy JSONL files, or folders of `*.jsonl` files (read in name order).

    Returns one article per distinct input and its accepted annotations. Lines that are not
    JSON objects, records without text, spans and relations that do not fit the text become
    problems with file and line; the rest is imported. Never raises on bad input.
    """
    builder = ImportBuilder(options)
    for path, line, record in json_records(paths, builder.problems, suffix_in(".jsonl")):
        _import_record(builder, path, line, record)
    return builder.imported


def _import_record(builder: ImportBuilder, path: Path, line: int, record: dict) -> None:
    if not encodable(record):
        builder.problem(path, line, "invalid-encoding", "a string holds a lone surrogate (invalid Unicode); skipped")
        return
    answer = record.get("answer")
    if answer is not None and answer not in ANSWERS:
        builder.problem(path, line, "malformed", f"answer {answer!r} is none of accept, reject, ignore; skipped")
        return
    if answer in ("reject", "ignore"):
        builder.skip(f"answer {answer}")
        return
    text = record.get("text")
    if not isinstance(text, str):
        builder.problem(path, line, "no-text", "record has no text (a 'text' string with a visible character); skipped")
        return
    article_id = _article(builder, path, line, record, text)
    if article_id is None:
        return
    annotator = _annotator(record)
    tokens = _tokens(builder, path, line, article_id, record.get("tokens"))
    for index, item in enumerate(_list(builder, path, line, record, "spans")):
        _span(builder, path, line, article_id, tokens, f"span {index}", item, annotator=annotator)
    for label in _document_labels(builder, path, line, record):
        builder.label(path, line, article_id, LABEL_LAYER, label, annotator=annotator)
    for index, item in enumerate(_list(builder, path, line, record, "relations")):
        _relation(builder, path, line, article_id, tokens, index, item, annotator)


def _article(builder: ImportBuilder, path: Path, line: int, record: dict, text: str) -> str | None:
    """The article for this record's input: an earlier one with the same input hash and text, or a new one.

    The same hash with another text (an edited input), or the same file read twice, gets `-L<line>`.
    """
    input_hash = record.get("_input_hash")
    has_hash = is_int(input_hash) or (isinstance(input_hash, str) and input_hash != "")
    base = safe_id(input_hash, "input-") if has_hash else safe_id(f"{path.stem}-{line}")
    return builder.article(path, line, base, text, alternatives=[f"{base}-L{line}"],
                           same=(str(input_hash), text) if has_hash else None, meta=_meta(record))


def _list(builder: ImportBuilder, path: Path, line: int, record: dict, key: str) -> list:
    value = record.get(key, [])
    if isinstance(value, list):
        return value
    builder.problem(path, line, "malformed", f"'{key}' is not a list; ignored")
    return []


def _tokens(builder: ImportBuilder, path: Path, line: int, article_id: str, value: Any) -> Tokens:
    """Each token's (start, end), to check spans' token indexes; None when absent or unusable
    (reported once: the spans are then checked against the text only)."""
    if value is None:
        return None
    if not isinstance(value, list):
        builder.problem(path, line, "malformed", "'tokens' is not a list; token indexes are not checked")
        return None
    text = builder.get_article(article_id)["text"]
    offsets: list[tuple[int, int]] = []
    for index, token in enumerate(value):
        start, end = (token.get("start"), token.get("end")) if isinstance(token, dict) else (None, None)
        if not (is_int(start) and is_int(end)):
            message = f"token {index} has no integer start/end; token indexes are not checked"
            builder.problem(path, line, "malformed", message)
            return None
        begin, finish = builder.to_codepoints(article_id, "text", start), builder.to_codepoints(article_id, "text", end)
        said = token.get("text")
        if begin is None or finish is None or not 0 <= begin <= finish <= len(text) or (
                isinstance(said, str) and said != text[begin:finish]):
            message = f"token {index} [{begin}, {finish}) does not match the text; token indexes are not checked"
            builder.problem(path, line, "malformed", message)
            return None
        offsets.append((start, end))
    return offsets


def _meta(record: dict) -> dict[str, str]:
    """The record's scalar `meta` values as strings, and its input hash (Prodigy's key for the input)."""
    nested = record.get("meta")
    shown = ((str(k), meta_value(v)) for k, v in (nested.items() if isinstance(nested, dict) else ()))
    meta = {k: v for k, v in shown if v is not None}
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


def _span(builder: ImportBuilder, path: Path, line: int, article_id: str, tokens: Tokens, what: str, item: Any,
          **options: Any) -> dict | None:
    """Hand a Prodigy span to the builder, offsets from its tokens when it has none; None after a problem."""
    if not isinstance(item, dict):
        builder.problem(path, line, "malformed", f"{what} is not an object; skipped")
        return None
    label = item.get("label")
    named = f"{what} ({label})" if isinstance(label, str) and label else what
    start, end = item.get("start"), item.get("end")
    first, last = item.get("token_start"), item.get("token_end")
    # token_end is inclusive (Prodigy's convention, unlike the character end).
    usable = is_int(first) and is_int(last) and tokens is not None and 0 <= first <= last < len(tokens)
    if not (is_int(start) and is_int(end)):
        if not usable:
            message = f"{named} has no integer start/end nor usable token_start/token_end; skipped"
            builder.problem(path, line, "malformed", message)
            return None
        start, end = tokens[first][0], tokens[last][1]  # type: ignore[index]
    elif is_int(first) and is_int(last) and tokens is not None and (
            not usable or (tokens[first][0], tokens[last][1]) != (start, end)):
        message = f"{named} [{start}, {end}) does not cover tokens {first}..{last}; skipped"
        builder.problem(path, line, "span-text-mismatch", message)
        return None
    attributes = {k: v for k, v in item.items() if k not in _SPAN_KEYS and isinstance(v, str | int | float | bool)}
    quoted = item.get("text") if isinstance(item.get("text"), str) else None
    return builder.span(path, line, article_id, SPAN_LAYER, label, start, end, what=named, quoted=quoted,
                        attributes=attributes or None, **options)


def _document_labels(builder: ImportBuilder, path: Path, line: int, record: dict) -> list[str]:
    """`label` of a classification task (accepted: it applies) and the ids in `accept` (choice tasks)."""
    labels: list[str] = []
    label = record.get("label")
    if isinstance(label, str) and label:
        labels.append(label)
    elif label is not None:
        builder.problem(path, line, "malformed", f"'label' {label!r} is not a label; ignored")
    for choice in _list(builder, path, line, record, "accept"):
        if (isinstance(choice, str) and choice) or is_int(choice):
            labels.append(str(choice))
        else:
            builder.problem(path, line, "malformed", f"'accept' item {choice!r} is not an option id; ignored")
    return labels


def _relation(builder: ImportBuilder, path: Path, line: int, article_id: str, tokens: Tokens, index: int, item: Any,
              annotator: str | None) -> None:
    """A `rel.manual` relation between two of the record's spans (its `head_span` and `child_span`)."""
    what = f"relation {index}"
    if not isinstance(item, dict) or not isinstance(item.get("label"), str) or not item["label"]:
        builder.problem(path, line, "malformed", f"{what} is not an object with a label; skipped")
        return
    ends: list[str] = []
    for key in ("head_span", "child_span"):
        end = item.get(key)
        if not isinstance(end, dict):
            builder.problem(path, line, "malformed", f"{what} has no {key}; skipped")
            return
        if end.get("label") is None:
            builder.skip("relation between unlabelled tokens")
            return
        # rel.manual lists every relation end in `spans` too (then this is that span); a file
        # without it still says which text.
        span = _span(builder, path, line, article_id, tokens, f"{what} {key}", end, annotator=annotator,
                     reference=True)
        if span is None:
            return
        ends.append(span["id"])
    builder.relation(path, line, article_id, RELATION_LAYER, item["label"], ends[0], ends[1], annotator=annotator)
