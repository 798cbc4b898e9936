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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.ingest import Imported, ImportOptions, ImportProblem
from toolkit.ingest.dataset_writer import safe_id
from toolkit.ingest.files import read_export_file
from toolkit.offsets import utf16_to_codepoint_mapper

ENTITY_LAYER = "entities"
RELATION_LAYER = "relations"
TITLE_MAX_CHARS = 200

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
    and an `ImportProblem` for every `.ann` without `.txt`, unreadable file and malformed or
    inconsistent `.ann` line; the rest of the file is still imported. Never raises on bad input.
    """
    imported = Imported()
    documents = _collect(paths, imported)
    confs: dict[Path, _Conf | None] = {}
    used_ids: set[str] = set()
    for doc in documents:
        if doc.txt is None:
            assert doc.ann is not None
            imported.problems.append(
                ImportProblem(str(doc.ann), None, f"no matching {doc.stem}.txt next to this .ann file")
            )
            continue
        text = _read_utf8(doc.txt, imported)
        if text is None:
            continue
        article_id = _unique_id(safe_id(doc.stem), doc, used_ids)
        imported.articles.append(
            {"id": article_id, "title": _title(text, doc.stem), "text": text, "language": options.language}
        )
        if doc.ann is None:
            continue
        ann_text = _read_utf8(doc.ann, imported)
        if ann_text is None:
            continue
        conf = _conf_for(doc, confs, imported)
        _import_ann(ann_text, str(doc.ann), text, article_id, conf, options, imported)
    return imported


def _collect(paths: Sequence[Path], imported: Imported) -> list[_Document]:
    """Pair every `X.txt` with its `X.ann` (same folder, same stem), sorted by path."""
    found: dict[tuple[Path, str], dict[str, Path]] = {}
    roots: dict[tuple[Path, str], Path] = {}

    def add(file: Path, root: Path) -> None:
        key = (file.parent, file.stem)
        found.setdefault(key, {})[file.suffix] = file
        roots.setdefault(key, root)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.suffix in (".txt", ".ann") and file.is_file():
                    add(file, path)
        elif path.is_file() and path.suffix in (".txt", ".ann"):
            add(path, path.parent)
            # A file given alone still pairs with its sibling: a lone .ann is useless without its text.
            sibling = path.with_suffix(".ann" if path.suffix == ".txt" else ".txt")
            if sibling.is_file():
                add(sibling, path.parent)
        elif path.exists():
            imported.problems.append(ImportProblem(str(path), None, "not a folder, .txt or .ann file"))
        else:
            imported.problems.append(ImportProblem(str(path), None, "no such file or folder"))
    return [
        _Document(stem=key[1], txt=files.get(".txt"), ann=files.get(".ann"), root=roots[key])
        for key, files in sorted(found.items())
    ]


def _read_utf8(path: Path, imported: Imported) -> str | None:
    """The file's text exactly as stored (no newline translation: offsets count every character)."""
    data = read_export_file(path, imported.problems)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}"
        imported.problems.append(ImportProblem(str(path), line, message))
        return None


def _unique_id(candidate: str, doc: _Document, used: set[str]) -> str:
    """Article ids come from file stems; the same stem in two folders must not give one id, so
    the second gets its folder's name in front (and a number if that is taken too)."""
    article_id = candidate
    if article_id in used and doc.txt is not None:
        article_id = safe_id(f"{doc.txt.parent.name}-{doc.stem}")
    base, n = article_id, 2
    while article_id in used:
        article_id = f"{base}-{n}"
        n += 1
    used.add(article_id)
    return article_id


def _title(text: str, fallback: str) -> str:
    """The first line, trimmed; the first non-blank line if that is empty; else the file stem."""
    for line in text.split("\n"):
        title = line.strip().lstrip("\ufeff").strip()[:TITLE_MAX_CHARS].strip()
        if title:
            return title
    return fallback


def _conf_for(doc: _Document, cache: dict[Path, _Conf | None], imported: Imported) -> _Conf | None:
    """The `annotation.conf` brat would use: the document's folder's, else the nearest parent's
    up to the folder the import started from."""
    folder = (doc.ann or doc.txt or doc.root).parent
    while True:
        conf_path = folder / "annotation.conf"
        if conf_path.is_file():
            if conf_path not in cache:
                cache[conf_path] = _read_conf(conf_path, imported)
            return cache[conf_path]
        if folder == doc.root or doc.root not in folder.parents:
            return None
        folder = folder.parent


def _read_conf(path: Path, imported: Imported) -> _Conf | None:
    text = _read_utf8(path, imported)
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


def _import_ann(
    ann_text: str,
    ann_file: str,
    text: str,
    article_id: str,
    conf: _Conf | None,
    options: ImportOptions,
    imported: Imported,
) -> None:
    """Turn one `.ann` file into annotations of `article_id`, appended to `imported`."""
    to_codepoint: Callable[[int], int] = (
        utf16_to_codepoint_mapper(text) if options.offset_unit == "utf16" else (lambda offset: offset)
    )
    # brat id → the annotations it became (several for a discontinuous span, one for a relation).
    targets: dict[str, list[dict]] = {}
    span_ids: set[str] = set()
    event_ids: set[str] = set()
    trigger_ids: set[str] = set()
    seen_ids: set[str] = set()
    # R, A/M and # lines may point at lines further down, so they are resolved after all T lines.
    later: list[tuple[int, str, list[str]]] = []
    relations: list[tuple[int, str, str, list[str]]] = []

    found: list[ImportProblem] = []

    def problem(line_no: int, message: str) -> None:
        found.append(ImportProblem(ann_file, line_no, message))

    for line_no, raw in enumerate(ann_text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        brat_id = fields[0]
        kind = brat_id[:1]
        if kind in ("T", "R", "E") and brat_id in seen_ids:
            problem(line_no, f"duplicate annotation id {brat_id!r}; this line is skipped")
            continue
        if kind == "T":
            seen_ids.add(brat_id)
            spans = _text_bound(line, line_no, text, to_codepoint, article_id, problem)
            if spans is None:
                continue
            if conf is not None and spans[0]["label"] not in conf.span_types:
                label = spans[0]["label"]
                problem(line_no, f"type {label!r} is not declared in annotation.conf (imported anyway)")
            for span in spans:
                imported.declare(ENTITY_LAYER, "span", span["label"])
                imported.annotations.append(span)
            targets[brat_id] = spans
            span_ids.add(brat_id)
        elif kind == "R":
            seen_ids.add(brat_id)
            if len(fields) < 2 or len(fields[1].split()) != 3:
                problem(line_no, "relation line must be 'R<n><TAB><Type> Arg1:<id> Arg2:<id>'")
                continue
            label, arg1, arg2 = fields[1].split()
            if ":" not in arg1 or ":" not in arg2:
                problem(line_no, "relation arguments must be written '<Role>:<id>'")
                continue
            relations.append((line_no, brat_id, label, [arg1.split(":", 1)[1], arg2.split(":", 1)[1]]))
        elif kind == "E":
            seen_ids.add(brat_id)
            event_ids.add(brat_id)
            # The trigger is the T id after the event type: `E1<TAB>Merge-org:T2 Org-Arg:T1`.
            parts = fields[1].split() if len(fields) > 1 else []
            if parts and ":" in parts[0]:
                trigger_ids.add(parts[0].split(":", 1)[1])
            imported.skip("brat event")
        elif kind in ("A", "M"):
            parts = fields[1].split() if len(fields) > 1 else []
            if len(parts) not in (2, 3):
                problem(line_no, "attribute line must be 'A<n><TAB><Name> <id> [<value>]'")
                continue
            later.append((line_no, "attribute", parts))
        elif kind == "#":
            parts = fields[1].split() if len(fields) > 1 else []
            if len(parts) != 2:
                problem(line_no, "note line must be '#<n><TAB>AnnotatorNotes <id><TAB><note>'")
                continue
            later.append((line_no, "note", [parts[1], "\t".join(fields[2:])]))
        elif kind == "*":
            imported.skip("brat equivalence")
        elif kind == "N":
            imported.skip("brat normalization")
        else:
            problem(line_no, f"unknown annotation line type {brat_id!r}")

    for line_no, brat_id, label, (head, tail) in relations:
        if head in event_ids or tail in event_ids:
            imported.skip("brat relation involving an event")
            continue
        missing = [arg for arg in (head, tail) if arg not in span_ids]
        if missing:
            problem(line_no, f"relation {brat_id} points at {missing[0]!r}, not an imported text span")
            continue
        if conf is not None and label not in conf.relation_types:
            problem(line_no, f"relation type {label!r} is not declared in annotation.conf (imported anyway)")
        relation = {
            "id": safe_id(f"{article_id}-{brat_id}"),
            "article_id": article_id,
            "layer": RELATION_LAYER,
            "label": label,
            "head": targets[head][0]["id"],
            "tail": targets[tail][0]["id"],
        }
        imported.declare(RELATION_LAYER, "relation", label)
        imported.annotations.append(relation)
        targets[brat_id] = [relation]

    for trigger in trigger_ids:
        for span in targets.get(trigger, []):
            span.setdefault("attributes", {})["event_trigger"] = True

    for line_no, what, parts in later:
        target = parts[1] if what == "attribute" else parts[0]
        if target in event_ids:
            imported.skip(f"brat {what} on an event")
            continue
        if target not in targets:
            problem(line_no, f"{what} points at {target!r}, which is not an imported annotation")
            continue
        for annotation in targets[target]:
            attributes = annotation.setdefault("attributes", {})
            if what == "note":
                note = parts[1]
                attributes["note"] = f"{attributes['note']}\n{note}" if "note" in attributes else note
            else:
                name = parts[0] if parts[0] not in _RESERVED_ATTRIBUTES else f"brat_{parts[0]}"
                attributes[name] = parts[2] if len(parts) == 3 else True
    # References are resolved in a second pass; report in line order all the same.
    imported.problems.extend(sorted(found, key=lambda found_problem: found_problem.line or 0))


def _text_bound(
    line: str,
    line_no: int,
    text: str,
    to_codepoint: Callable[[int], int],
    article_id: str,
    problem: Callable[[int, str], None],
) -> list[dict] | None:
    """The span annotations of one `T` line (one per fragment), or None after reporting why not."""
    fields = line.split("\t", 2)
    if len(fields) < 2 or " " not in fields[1]:
        problem(line_no, "text-bound line must be 'T<n><TAB><Type> <start> <end>[;…]<TAB><text>'")
        return None
    brat_id = fields[0]
    label, offsets = fields[1].split(" ", 1)
    if not label or not _OFFSETS.match(offsets):
        problem(line_no, f"cannot read type and offsets from {fields[1]!r}")
        return None
    fragments: list[tuple[int, int]] = []
    for fragment in offsets.split(";"):
        start_raw, end_raw = fragment.split(" ")
        start, end = to_codepoint(int(start_raw)), to_codepoint(int(end_raw))
        if not start < end <= len(text):
            problem(line_no, f"fragment {fragment!r} is empty or outside the text ({len(text)} characters)")
            return None
        fragments.append((start, end))
    # brat writes the covered text of a discontinuous span as its fragments joined by one space.
    covered = " ".join(text[start:end] for start, end in fragments)
    if len(fields) == 3 and fields[2] not in _covered_variants(covered):
        problem(
            line_no,
            f"covered text {fields[2]!r} does not match the text at {offsets} ({covered!r}); skipped",
        )
        return None
    first_id = safe_id(f"{article_id}-{brat_id}")
    spans = []
    for index, (start, end) in enumerate(fragments):
        span = {
            "id": first_id if index == 0 else safe_id(f"{article_id}-{brat_id}-f{index}"),
            "article_id": article_id,
            "layer": ENTITY_LAYER,
            "label": label,
            "start": start,
            "end": end,
            "field": "text",
            "text": text[start:end],
        }
        if len(fragments) > 1:
            span["attributes"] = {"fragment_of": first_id, "fragment": index}
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
