"""The one place importers hand their records to (datatrove's lesson: the base owns the loop).

An importer reads its tool's format and says what it found: an article with its text, a span at
offsets in the tool's unit, a document label, a relation between two spans it was handed back.
`ImportBuilder` owns everything the data model asks of those records, the same way for every tool:

- ids: fitted to the schema's id pattern (`safe_id`) and made unique across the import, so two
  distinct tool ids never collapse and a clash never overwrites;
- articles: text with a visible character (validate's `blank-text`), a title (the tool's, or the
  text's first line cut at `TITLE_MAX_CHARS`), nothing a UTF-8 file cannot hold (lone surrogates);
  records the tool marks as one document (`same`: an input hash, a repeated text) made one article;
- spans: the tool's offset unit converted to code points (an offset inside a UTF-16 surrogate pair
  is refused: the file's unit is not what it claims), bounds, the text the tool quoted checked
  against the article, and the same span from the same annotator kept once (unless the tool names
  them as two: `identity`); annotation ids as the tool gave them or numbered in reading order;
- document labels and relations (both ends spans of the same article, already built);
- layer declaration (a name used by another kind of layer gets the kind appended) and labels;
- problems, each with its catalogue code (`toolkit.problems.IMPORT_CODES`), file and line, put in
  line order per file for importers that check in a second pass (`in_line_order`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Hashable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from toolkit.hygiene.text import is_blank
from toolkit.ingest import Imported, ImportOptions, LayerKind, OffsetUnit
from toolkit.offsets import utf16_to_codepoint_mapper
from toolkit.problems import Problem
from toolkit.schemas import load_schema

# A derived title: long enough for any real headline (PTC's longest is ~150), short enough that a
# first paragraph does not pass for one.
TITLE_MAX_CHARS = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@cache
def _id_pattern() -> re.Pattern[str]:
    # The schema is the one source of truth for ids (article and annotation ids share the pattern).
    return re.compile(load_schema("article")["properties"]["id"]["pattern"])


def safe_id(raw: object, prefix: str = "") -> str:
    """Turn a tool's id (int, path stem, free text) into an id matching the schema's id pattern.

    Readable when possible (`task-17`, `article111111111`); ids that had to be changed get a short
    hash of the original, so two distinct raw ids never collapse into one.
    """
    text = f"{prefix}{raw}"
    if _id_pattern().match(text):
        return text
    cleaned = _UNSAFE.sub("-", text).strip("-._")
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{(cleaned or 'id')[:100]}-{digest}"


def unique_id(wanted: str, taken: Collection[str], *alternatives: str) -> str:
    """`wanted` (fitted), else the first free alternative, else `wanted-2`, `wanted-3`…"""
    for candidate in (wanted, *alternatives):
        if safe_id(candidate) not in taken:
            return safe_id(candidate)
    n = 2
    while safe_id(f"{wanted}-{n}") in taken:
        n += 1
    return safe_id(f"{wanted}-{n}")


def visible(text: str) -> bool:
    """Whether anything is left once whitespace and format characters are removed: validate's own
    blank-text rule, called rather than restated, so an import never writes what validate rejects."""
    return not is_blank(text)


def title_from_text(text: str, fallback: str) -> str:
    """The first line with a visible character, trimmed and cut to `TITLE_MAX_CHARS`; else `fallback`."""
    for line in text.splitlines():
        title = line.strip().lstrip("\ufeff").strip()[:TITLE_MAX_CHARS].strip()
        if visible(title):
            return title
    return fallback


def encodable(record: dict) -> bool:
    """JSON may carry lone surrogates (`"\\ud83d"`) that no UTF-8 file can hold; catch them here."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        return False
    return True


def meta_value(value: Any) -> str | None:
    """Meta holds strings only: scalars are written as JSON would show them; lists/objects dropped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def annotator(*candidates: Any) -> str | None:
    """Who made an annotation, from the first usable of the tool's fields (name, then user id): a
    non-blank string as written, a database user id (an int) as `user-<id>`; None when none is usable."""
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
        if is_int(value):
            return f"user-{value}"
    return None


def layer_name(raw: Any) -> str | None:
    """A tool's name as a manifest layer name (^[a-z][a-z0-9_]{0,63}$), or None if nothing is left."""
    if not isinstance(raw, str):
        return None
    name = re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower())).strip("_")
    if not name:
        return None
    if not name[0].isalpha():
        name = f"l_{name}"
    name = name[:64].rstrip("_")
    return name if _LAYER_NAME.match(name) else None


def _kind(annotation: dict) -> LayerKind:
    if "head" in annotation:
        return "relation"
    return "span" if "start" in annotation else "document"


class ImportBuilder:
    """The records of one import and what makes them valid together (see the module docstring).

    `unit` is the tool's documented offset unit; `options.offset_unit` overrides it.
    """

    def __init__(self, options: ImportOptions, unit: OffsetUnit = "codepoint") -> None:
        self.imported = Imported()
        self.options = options
        self.unit: OffsetUnit = options.offset_unit or unit
        self._articles: dict[str, dict] = {}
        self._annotations: dict[str, dict] = {}
        self._spans: dict[str, set[str]] = {}  # article id → its span annotation ids
        self._same: dict[tuple, dict] = {}  # an annotation's content → the annotation kept for it
        self._mappers: dict[tuple[str, str], Callable[[int], int]] = {}
        self._numbered: dict[str, int] = {}  # id prefix → annotations kept with it, to number ids
        self._sources: dict[str, str] = {}  # article id → the file it was read from, for later messages
        self._by_key: dict[Hashable, str] = {}  # an importer's "same document" key → the article made for it

    @property
    def problems(self) -> list[Problem]:
        return self.imported.problems

    def problem(self, file: str | Path, line: int | None, code: str, message: str) -> None:
        self.imported.problems.append(Problem.at(str(file), line, code, message))

    def in_line_order(self, file: str | Path) -> None:
        """Put `file`'s problems last, in line order: an importer that checks in a second pass (references
        resolved after all lines, tokens after the whole text) still reports as a reader would read."""
        mine = [p for p in self.problems if p.file == str(file)]
        others = [p for p in self.problems if p.file != str(file)]
        self.problems[:] = others + sorted(mine, key=lambda problem: problem.line or 0)

    def skip(self, reason: str, count: int = 1) -> None:
        self.imported.skip(reason, count)

    def article_ids(self) -> Collection[str]:
        return self._articles.keys()

    def article(self, file: str | Path, line: int | None, wanted_id: str, text: str, *,
                title: str | None = None, alternatives: Iterable[str] = (), same: Hashable = None,
                **fields: Any) -> str | None:
        """Add an article; return its id (`wanted_id` fitted and made unique), or None after a problem.

        `same` is the tool's sign that records describe one document (Prodigy's input hash and text,
        Label Studio's text): a later record with an equal `same` gets the first one's id and adds
        nothing, so several annotators' records annotate one article.
        """
        if same is not None and same in self._by_key:
            return self._by_key[same]
        if not visible(text):
            self.problem(file, line, "no-text", "the document has no text (only whitespace or format characters)")
            return None
        article_id = unique_id(wanted_id, self._articles, *alternatives)
        shown = " ".join(title.split())[:TITLE_MAX_CHARS].strip() if title else ""
        article = {
            "id": article_id,
            "title": shown if visible(shown) else title_from_text(text, article_id),
            "text": text,
            "language": fields.pop("language", self.options.language),
            **{k: v for k, v in fields.items() if v not in (None, {}, "")},
        }
        if not encodable(article):
            message = "the text or its fields hold a lone surrogate (invalid Unicode)"
            self.problem(file, line, "invalid-encoding", message)
            return None
        self._articles[article_id] = article
        self._sources[article_id] = str(file)
        self.imported.articles.append(article)
        if same is not None:
            self._by_key[same] = article_id
        return article_id

    def get_article(self, article_id: str) -> dict:
        return self._articles[article_id]

    def source_of(self, article_id: str) -> str:
        """The file an article was read from (for a message about a later record that clashes with it)."""
        return self._sources[article_id]

    def to_codepoints(self, article_id: str, field: str, offset: int) -> int | None:
        """A tool offset into the article's field as a code point; None inside a UTF-16 surrogate pair."""
        if self.unit == "codepoint":
            return offset
        key = (article_id, field)
        if key not in self._mappers:
            self._mappers[key] = utf16_to_codepoint_mapper(self._articles[article_id][field])
        to_codepoint = self._mappers[key]
        # Between the halves of an astral character an offset maps where the one before it does.
        if offset > 0 and to_codepoint(offset) == to_codepoint(offset - 1):
            return None
        return to_codepoint(offset)

    def span(self, file: str | Path, line: int | None, article_id: str, layer: str, label: Any,
             start: Any, end: Any, *, what: str = "span", field: str = "text", quoted: str | None = None,
             matches: Callable[[str, str], bool] = str.__eq__, wanted_id: str | None = None,
             numbered: str | None = None, reference: bool = False, identity: Hashable = None,
             **extra: Any) -> dict | None:
        """Add a span given in the tool's unit; return the annotation standing for it (None after a problem).

        `quoted` is the text the tool stored for the span: a span whose quoted text does not
        `matches(quoted, covered)` the article at its offsets points at other text, and is refused.
        Ids: `wanted_id`, else `numbered` (default `<article id>-s`) and how many annotations were kept
        with that prefix, plus one. `reference`: the tool names the span again (a relation's end), so
        meeting one already kept is expected, not a duplicate to count. `identity`: see `_add`.
        """
        if not (is_int(start) and is_int(end)):
            self.problem(file, line, "malformed", f"{what}: start/end are not integers; skipped")
            return None
        text = self._articles[article_id][field]
        converted = self.to_codepoints(article_id, field, start), self.to_codepoints(article_id, field, end)
        if converted[0] is None or converted[1] is None:
            self.problem(file, line, "span-out-of-bounds", f"{what}: [{start}, {end}) cuts an astral character's "
                         "UTF-16 surrogate pair; the offsets may not be UTF-16 (try --offset-unit codepoint); skipped")
            return None
        begin, finish = converted
        if not 0 <= begin < finish <= len(text):
            self.problem(file, line, "span-out-of-bounds",
                         f"{what}: [{begin}, {finish}) is empty or outside the {field} "
                         f"({len(text)} characters); skipped")
            return None
        covered = text[begin:finish]
        if quoted is not None and not matches(quoted, covered):
            self.problem(file, line, "span-text-mismatch",
                         f"{what}: the stored text {quoted!r} differs from the {field} at [{begin}, {finish}) "
                         f"({covered!r}); skipped")
            return None
        position = {"start": begin, "end": finish, **({"field": field} if field != "text" else {}), "text": covered}
        return self._add(file, line, article_id, layer, label, position, (wanted_id, numbered), extra,
                         identity, reference, what)

    def label(self, file: str | Path, line: int | None, article_id: str, layer: str, label: Any, *,
              wanted_id: str | None = None, numbered: str | None = None, identity: Hashable = None,
              **extra: Any) -> dict | None:
        """Add a document label; return the annotation standing for it (None after a problem)."""
        return self._add(file, line, article_id, layer, label, {}, (wanted_id, numbered), extra, identity)

    def relation(self, file: str | Path, line: int | None, article_id: str, layer: str, label: Any,
                 head: str, tail: str, *, wanted_id: str | None = None, numbered: str | None = None,
                 identity: Hashable = None, **extra: Any) -> dict | None:
        """Add a relation between two span annotations this builder returned for the same article."""
        spans = self._spans.get(article_id, set())
        if head not in spans or tail not in spans:
            message = f"relation {label!r}: an end is not an imported span; skipped"
            self.problem(file, line, "unknown-reference", message)
            return None
        return self._add(file, line, article_id, layer, label, {"head": head, "tail": tail}, (wanted_id, numbered),
                         extra, identity)

    def layer(self, wanted: str, kind: LayerKind) -> str:
        """The layer to put `kind` annotations in: `wanted`, or `wanted_<kind>` when `wanted` holds another kind
        (one layer holds one kind of annotation)."""
        declared = self.imported.layers.get(wanted)
        return wanted if declared in (None, kind) else f"{wanted[: 63 - len(kind)]}_{kind}"

    def _add(self, file: str | Path, line: int | None, article_id: str, layer: str, label: Any,
             position: dict, ids: tuple[str | None, str | None], extra: dict, identity: Hashable = None,
             reference: bool = False, what: str | None = None) -> dict | None:
        """Check and keep one annotation. `ids` is (the id wanted, else a prefix such as `<article>-e` that the
        number of annotations kept with it completes, so ids read in order).

        The same annotation twice (a task exported into two files, a span listed twice) is kept once and
        counted, unless it is a `reference` (named again on purpose). `identity` is the tool's own name for
        the annotation where it has one (Label Studio's task, set and result; INCEpTION's stack position):
        annotations with different identities are two annotations even when they read the same (two
        annotation sets without an annotator, `ORG[1]|ORG[2]` stacked on one token).
        """
        if is_int(label):
            label = str(label)  # tools that export a label's database id: the id is all there is
        if not (isinstance(label, str) and label.strip()):
            named = what or f"an annotation in layer {layer!r}"
            self.problem(file, line, "malformed", f"{named} has no label; skipped")
            return None
        # Attributes are copied: the caller's dict may be shared, and attributes are added to a kept record later.
        annotation = {"article_id": article_id, "layer": layer, "label": label, **position,
                      **{k: dict(v) if isinstance(v, dict) else v for k, v in extra.items() if v not in (None, {})}}
        if not encodable(annotation):
            self.problem(file, line, "invalid-encoding", f"the label or attributes of a {layer!r} annotation hold "
                         "a lone surrogate (invalid Unicode); skipped")
            return None
        key = (identity, *sorted((k, repr(v)) for k, v in annotation.items() if k != "attributes"))
        if key in self._same:
            if not reference:
                self.skip("duplicate annotation")
            return self._same[key]
        wanted, prefix = ids
        if wanted is None:
            prefix = prefix or f"{article_id}-{_kind(annotation)[0]}"  # -s, -d or -r
            self._numbered[prefix] = self._numbered.get(prefix, 0) + 1
            wanted = f"{prefix}{self._numbered[prefix]}"
        record = {"id": unique_id(wanted, self._annotations), **annotation}
        self._annotations[record["id"]] = record
        self._same[key] = record
        if "start" in record:
            self._spans.setdefault(article_id, set()).add(record["id"])
        self.imported.annotations.append(record)
        self.imported.declare(layer, _kind(record), label)
        return record
