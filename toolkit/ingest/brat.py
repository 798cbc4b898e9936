"""Importer for brat standoff: pairs of `X.txt` (the document) and `X.ann` (its annotations).

Format: https://brat.nlplab.org/standoff.html. Offsets are 0-based code points into the whole
`.txt`, end exclusive, so the article text is the file content unchanged.

What becomes what:
- `T` (text-bound) lines: span annotations in layer `entities`, label = the type. A discontinuous
  span (`0 5;9 12`) becomes one span per fragment, linked by `attributes.fragment_of` (the id of
  the first fragment) and `attributes.fragment` (0, 1, ...).
- `R` lines: annotations in the relation layer `relations` with `head` (Arg1) and `tail` (Arg2).
- `A`/`M` lines: attributes on their target (binary → `true`, valued → the value as a string).
- `#` AnnotatorNotes: `attributes.note` on their target.
- `E` events, `*` equivalences and `N` normalisations have no place in the data model: they are
  counted in `Imported.skipped`, as are attributes, notes and relations that point at an event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder
from toolkit.ingest.files import input_files, read_utf8, suffix_in

ENTITY_LAYER = "entities"
RELATION_LAYER = "relations"

# Attribute keys this importer sets itself; a brat attribute of the same name is renamed so that
# it cannot overwrite the fragment links or the note.
_RESERVED_ATTRIBUTES = frozenset({"fragment_of", "fragment", "note", "event_trigger"})
_OFFSETS = re.compile(r"^\d+ \d+(;\d+ \d+)*$")


@dataclass(frozen=True)
class _Document:
    """One brat document: its `.txt` and/or `.ann`, and the folder the import started from."""

    stem: str
    txt: Path | None
    ann: Path | None
    root: Path


@dataclass(frozen=True)
class _Conf:
    """The types an `annotation.conf` declares, for the optional cross-check."""

    span_types: frozenset[str]  # [entities] and [events]: event triggers are T lines too
    relation_types: frozenset[str]


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Read brat documents from folders (searched recursively) or `.txt`/`.ann` files.

    Returns one article per `.txt` (with no annotations when it has no `.ann`), its annotations,
    and a problem for every `.ann` without `.txt`, unreadable file and malformed or inconsistent
    `.ann` line; the rest of the file is still imported. Never raises on bad input.
    """
    builder = ImportBuilder(options)
    confs: dict[Path, _Conf | None] = {}
    for doc in _collect(paths, builder):
        if doc.txt is None:
            assert doc.ann is not None
            builder.problem(doc.ann, None, "unreadable", f"no matching {doc.stem}.txt next to this .ann file")
            continue
        text = read_utf8(doc.txt, builder.problems)
        if text is None:
            continue
        # The same stem in two folders must not give one id: the second gets its folder's name in front.
        article_id = builder.article(doc.txt, None, doc.stem, text, alternatives=[f"{doc.txt.parent.name}-{doc.stem}"])
        if article_id is None or doc.ann is None:
            continue
        ann_text = read_utf8(doc.ann, builder.problems)
        if ann_text is not None:
            _import_ann(ann_text, doc.ann, article_id, _conf_for(doc, confs, builder), builder)
    return builder.imported


def _collect(paths: Sequence[Path], builder: ImportBuilder) -> list[_Document]:
    """Pair every `X.txt` with its `X.ann` (same folder, same stem), sorted by path."""
    found: dict[tuple[Path, str], dict[str, Path]] = {}
    roots: dict[tuple[Path, str], Path] = {}
    for raw in paths:
        path = Path(raw)
        if path.exists() and not path.is_dir() and path.suffix not in (".txt", ".ann"):
            # Also a device or FIFO named as input: refused by name, never opened.
            builder.problem(path, None, "unreadable", "not a folder, .txt or .ann file")
            continue
        files = input_files([path], builder.problems, suffix_in(".txt", ".ann"))
        if path.is_file():
            # A file given alone still pairs with its sibling: a lone .ann is useless without its text.
            sibling = path.with_suffix(".ann" if path.suffix == ".txt" else ".txt")
            files += [sibling] if sibling.is_file() else []
        for file in files:
            found.setdefault((file.parent, file.stem), {})[file.suffix] = file
            roots.setdefault((file.parent, file.stem), path if path.is_dir() else path.parent)
    return [
        _Document(stem=key[1], txt=files.get(".txt"), ann=files.get(".ann"), root=roots[key])
        for key, files in sorted(found.items())
    ]


def _conf_for(doc: _Document, cache: dict[Path, _Conf | None], builder: ImportBuilder) -> _Conf | None:
    """The `annotation.conf` brat would use: the document's folder's, else the nearest parent's
    up to the folder the import started from."""
    folder = (doc.ann or doc.txt or doc.root).parent
    while True:
        conf_path = folder / "annotation.conf"
        if conf_path.is_file():
            if conf_path not in cache:
                cache[conf_path] = _read_conf(conf_path, builder)
            return cache[conf_path]
        if folder == doc.root or doc.root not in folder.parents:
            return None
        folder = folder.parent


def _read_conf(path: Path, builder: ImportBuilder) -> _Conf | None:
    text = read_utf8(path, builder.problems)
    if text is None:
        return None
    sections: dict[str, set[str]] = {}
    section = ""
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        name = line.split(None, 1)[0]
        # `<POG>=Person|...` macros and `<OVERLAP>` rules are not types; `!Life` is a type that
        # only groups others in the hierarchy, but the name is still a declared type.
        if name.startswith("<"):
            continue
        sections.setdefault(section, set()).add(name.lstrip("!"))
    return _Conf(
        span_types=frozenset(sections.get("entities", set()) | sections.get("events", set())),
        relation_types=frozenset(sections.get("relations", set())),
    )


def _import_ann(ann_text: str, ann: Path, article_id: str, conf: _Conf | None, builder: ImportBuilder) -> None:
    """Turn one `.ann` file into annotations of `article_id`."""
    # brat id → the annotations it became (several for a discontinuous span, one for a relation).
    targets: dict[str, list[dict]] = {}
    event_ids: set[str] = set()
    trigger_ids: set[str] = set()
    seen_ids: set[str] = set()
    # R, A/M and # lines may point at lines further down, so they are resolved after all T lines.
    later: list[tuple[int, str, list[str]]] = []
    relations: list[tuple[int, str, str, list[str]]] = []
    for line_no, raw in enumerate(ann_text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        brat_id = fields[0]
        kind = brat_id[:1]
        parts = fields[1].split() if len(fields) > 1 else []
        if kind in ("T", "R", "E") and brat_id in seen_ids:
            builder.problem(ann, line_no, "duplicate-id", f"duplicate annotation id {brat_id!r}; this line is skipped")
            continue
        seen_ids.add(brat_id)
        if kind == "T":
            spans = _text_bound(line, ann, line_no, article_id, builder)
            if spans:
                targets[brat_id] = spans
                if conf is not None and spans[0]["label"] not in conf.span_types:
                    builder.problem(ann, line_no, "undeclared-type", f"type {spans[0]['label']!r} is not declared "
                                    "in annotation.conf (imported anyway)")
        elif kind == "R":
            if len(parts) != 3 or ":" not in parts[1] or ":" not in parts[2]:
                shape = "R<n><TAB><Type> Arg1:<id> Arg2:<id>"
                builder.problem(ann, line_no, "malformed", f"relation line must be '{shape}'")
                continue
            relations.append((line_no, brat_id, parts[0], [parts[1].split(":", 1)[1], parts[2].split(":", 1)[1]]))
        elif kind == "E":
            event_ids.add(brat_id)
            # The trigger is the T id after the event type: `E1<TAB>Merge-org:T2 Org-Arg:T1`.
            if parts and ":" in parts[0]:
                trigger_ids.add(parts[0].split(":", 1)[1])
            builder.skip("brat event")
        elif kind in ("A", "M") and len(parts) in (2, 3):
            later.append((line_no, "attribute", parts))
        elif kind == "#" and len(parts) == 2:
            later.append((line_no, "note", [parts[1], "\t".join(fields[2:])]))
        elif kind in ("A", "M", "#"):
            shape = "A<n><TAB><Name> <id> [<value>]" if kind != "#" else "#<n><TAB>AnnotatorNotes <id><TAB><note>"
            what = "note" if kind == "#" else "attribute"
            builder.problem(ann, line_no, "malformed", f"{what} line must be '{shape}'")
        elif kind in ("*", "N"):
            builder.skip("brat equivalence" if kind == "*" else "brat normalization")
        else:
            builder.problem(ann, line_no, "malformed", f"unknown annotation line type {brat_id!r}")
    for line_no, brat_id, label, (head, tail) in relations:
        if head in event_ids or tail in event_ids:
            builder.skip("brat relation involving an event")
            continue
        missing = [arg for arg in (head, tail) if arg not in targets]
        if missing:
            builder.problem(ann, line_no, "unknown-reference",
                            f"relation {brat_id} points at {missing[0]!r}, not an imported text span")
            continue
        if conf is not None and label not in conf.relation_types:
            builder.problem(ann, line_no, "undeclared-type",
                            f"relation type {label!r} is not declared in annotation.conf (imported anyway)")
        relation = builder.relation(ann, line_no, article_id, RELATION_LAYER, label, targets[head][0]["id"],
                                    targets[tail][0]["id"], wanted_id=f"{article_id}-{brat_id}")
        targets[brat_id] = [relation] if relation else []
    for trigger in trigger_ids:
        for span in targets.get(trigger, []):
            span.setdefault("attributes", {})["event_trigger"] = True
    for line_no, what, parts in later:
        _attach(builder, ann, line_no, what, parts, targets, event_ids)
    # References are resolved in a second pass; report in line order all the same.
    builder.in_line_order(ann)


def _attach(builder: ImportBuilder, ann: Path, line_no: int, what: str, parts: list[str],
            targets: dict[str, list[dict]], event_ids: set[str]) -> None:
    """An attribute (binary → true, valued → the value) or a note, on the annotations its target became."""
    target = parts[1] if what == "attribute" else parts[0]
    if target in event_ids:
        builder.skip(f"brat {what} on an event")
        return
    if target not in targets:
        message = f"{what} points at {target!r}, which is not an imported annotation"
        builder.problem(ann, line_no, "unknown-reference", message)
        return
    for annotation in targets[target]:
        attributes = annotation.setdefault("attributes", {})
        if what == "note":
            attributes["note"] = f"{attributes['note']}\n{parts[1]}" if "note" in attributes else parts[1]
        else:
            name = parts[0] if parts[0] not in _RESERVED_ATTRIBUTES else f"brat_{parts[0]}"
            attributes[name] = parts[2] if len(parts) == 3 else True


def _text_bound(line: str, ann: Path, line_no: int, article_id: str, builder: ImportBuilder) -> list[dict]:
    """The span annotations of one `T` line (one per fragment); none after reporting why not."""
    fields = line.split("\t", 2)
    if len(fields) < 2 or " " not in fields[1]:
        shape = "T<n><TAB><Type> <start> <end>[;…]<TAB><text>"
        builder.problem(ann, line_no, "malformed", f"text-bound line must be '{shape}'")
        return []
    brat_id = fields[0]
    label, offsets = fields[1].split(" ", 1)
    if not label or not _OFFSETS.match(offsets):
        builder.problem(ann, line_no, "malformed", f"cannot read type and offsets from {fields[1]!r}")
        return []
    fragments = [tuple(int(n) for n in fragment.split(" ")) for fragment in offsets.split(";")]
    text = builder.get_article(article_id)["text"]
    converted = [(builder.to_codepoints(article_id, "text", s), builder.to_codepoints(article_id, "text", e))
                 for s, e in fragments]
    if len(fragments) > 1 and len(fields) == 3:
        # brat writes the covered text of a discontinuous span as its fragments joined by one space.
        if all(s is not None and e is not None and 0 <= s < e <= len(text) for s, e in converted):
            covered = " ".join(text[s:e] for s, e in converted)  # type: ignore[misc]
            if fields[2] not in _covered_variants(covered):
                builder.problem(ann, line_no, "span-text-mismatch", f"covered text {fields[2]!r} does not match "
                                f"the text at {offsets} ({covered!r}); skipped")
                return []
    first_id = f"{article_id}-{brat_id}"
    spans: list[dict] = []
    for index, (start, end) in enumerate(fragments):
        several = len(fragments) > 1
        span = builder.span(
            ann, line_no, article_id, ENTITY_LAYER, label, start, end, what=f"fragment {start} {end}",
            quoted=None if several or len(fields) < 3 else fields[2],
            matches=lambda quoted, covered: quoted in _covered_variants(covered),
            wanted_id=first_id if index == 0 else f"{first_id}-f{index}", field="text",
            attributes={"fragment_of": spans[0]["id"] if spans else first_id, "fragment": index} if several else None,
        )
        if span is None:
            return []  # the fragments imported so far stay: each is a valid span of the text
        spans.append(span)
    return spans


def _covered_variants(covered: str) -> set[str]:
    """The covered text as brat-writing tools may have written it.

    A line break inside a span cannot be written in the one-line .ann format, so tools put a
    space there (one per character, or one per CRLF); accept that rather than report every span
    that crosses a line.
    """
    per_char = covered.translate(str.maketrans("\r\n\t", "   "))
    return {covered, per_char, covered.replace("\r\n", " ").translate(str.maketrans("\r\n\t", "   "))}
