"""Importer for INCEpTION / WebAnno TSV 3.x (3.2 and 3.3) files.

Format: the INCEpTION user guide, "WebAnno TSV 3.3 File format". A file is one document: a header
declaring layers (`#T_SP=` span, `#T_CH=` chain, `#T_RL=` relation, features separated by `|`),
then sentences, each `#Text=` line(s) followed by one row per token or sub-token:
`sent-tok<TAB>begin-end<TAB>token<TAB>one column per feature`.

The TSV holds no document text, only sentence texts and token offsets, so the text is rebuilt the
way INCEpTION rebuilds it: each sentence (plus a line break) is placed at its first token's begin
offset, with spaces filling any larger gap. Offsets are UTF-16 code units (Java strings); they are
converted to code points on the rebuilt text, and every token is checked against it.

What becomes what:
- every span annotation (single token, multi-token `X[n]`, stacked `A|B`) → one span annotation in
  a layer named after the type's short name (`...ner.type.NamedEntity` → `namedentity`); label =
  the `value` feature, else the first feature with a value, else the layer name; the other
  features go into `attributes`. Token-level layers (POS, lemma) are annotations too and are
  imported the same way.
- relations → a relation layer, `head` = the governor/source, `tail` = the dependent/target (the
  row the relation is written on). A relation whose base type is not a span layer of the file
  (e.g. `BT_...Token`) gets its endpoints as spans of a `token` layer.
- chain layers (coreference chains) and slot features (`ROLE_...`) are counted in `skipped`; so are
  header lines the format does not define (GUM's `#Summary1=`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder
from toolkit.ingest.files import input_files, read_utf8, suffix_in

TOKEN_TYPE = "de.tudarmstadt.ukp.dkpro.core.api.segmentation.type.Token"
# INCEpTION attaches DKPro dependencies to tokens whatever `BT_` says (it writes `BT_...POS`).
DEPENDENCY_TYPE = "de.tudarmstadt.ukp.dkpro.core.api.syntax.type.dependency.Dependency"

_FORMAT = re.compile(r"^#FORMAT=WebAnno TSV (\d+)\.(\d+)\s*$")
_ADDRESS = re.compile(r"^\d+-\d+(\.\d+)?$")
_OFFSETS = re.compile(r"^(\d+)-(\d+)$")
_STACK_SEP = re.compile(r"(?<!\\)\|")
_DISAMBIGUATION = re.compile(r"^(.*)\[(\d+)\]$")
_RELATION_IDS = re.compile(r"^(.*)\[(\d+)_(\d+)\]$")
_CHAIN_LINK = re.compile(r"(?<!\\)->(\d+-\d+)$")
_LAYER_NAME_BAD = re.compile(r"[^a-z0-9_]+")

# Escapes in feature values (Escaping.unescapeValue) and in #Text/token text (Escaping.unescapeText,
# format 3.2+). Both are read left to right, so `\\n` is a backslash followed by `n`.
_VALUE_ESCAPES = {
    "\\\\": "\\",
    "\\[": "[",
    "\\]": "]",
    "\\|": "|",
    "\\_": "_",
    "\\->": "->",
    "\\;": ";",
    "\\t": "\t",
    "\\n": "\n",
    "\\r": "\r",
    "\\*": "*",
}
_TEXT_ESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\f": "\f", "\\r": "\r", "\\b": "\b"}
_TEXT_ESCAPES.update({"\\" + chr(i): chr(i) for i in range(32) if not 7 < i < 14})


def _escape_pattern(escapes: dict[str, str]) -> re.Pattern[str]:
    # Longest first so that `\->` wins over a shorter prefix.
    return re.compile("|".join(re.escape(key) for key in sorted(escapes, key=len, reverse=True)))


_VALUE_ESCAPE_RE = _escape_pattern(_VALUE_ESCAPES)
_TEXT_ESCAPE_RE = _escape_pattern(_TEXT_ESCAPES)


def _unescape_value(value: str) -> str:
    return _VALUE_ESCAPE_RE.sub(lambda m: _VALUE_ESCAPES[m.group()], value)


def _unescape_text(value: str) -> str:
    return _TEXT_ESCAPE_RE.sub(lambda m: _TEXT_ESCAPES[m.group()], value)


ColumnRole = Literal["feature", "placeholder", "slot_role", "slot_target", "base", "chain_type", "chain_link"]


@dataclass(frozen=True)
class _Layer:
    """One `#T_..=` header line: its kind, its columns and where they start in a token row."""

    type_name: str
    kind: Literal["span", "relation", "chain"]
    columns: tuple[tuple[str, ColumnRole], ...]
    first_column: int  # index into the row's annotation columns (after id, offsets, token)
    base_type: str | None = None  # relation layers: the span type its endpoints belong to


@dataclass
class _Span:
    layer: str
    begin: int  # in the file's offset unit until converted
    end: int
    line: int
    features: dict[str, str] = field(default_factory=dict)


@dataclass
class _Relation:
    layer_type: str
    target_unit: str
    line: int
    source_unit: str | None = None
    source_id: int = 0
    target_id: int = 0
    features: dict[str, str] = field(default_factory=dict)


@dataclass
class _Unit:
    """A token or sub-token row."""

    begin: int
    end: int
    token: str
    line: int


@dataclass
class _Document:
    """What one TSV file holds once parsed, still in the file's offset unit."""

    layers: list[_Layer] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)  # the rebuilt text, in order
    length: int = 0  # length of the rebuilt text in the file's offset unit
    first_sentence: str | None = None
    units: dict[str, _Unit] = field(default_factory=dict)
    spans: list[_Span] = field(default_factory=list)
    by_unit: dict[tuple[str, str], list[_Span]] = field(default_factory=dict)  # (unit, layer type)
    by_id: dict[tuple[str, int], _Span] = field(default_factory=dict)  # (layer type, disambiguation id)
    relations: list[_Relation] = field(default_factory=list)
    chain_links: set[str] = field(default_factory=set)


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Read WebAnno TSV 3.x files (folders are searched recursively for `*.tsv`).

    Returns one article per readable file, its annotations, and a problem (file and line)
    for each line that cannot be read; the rest of the file is still imported. A file whose
    format line or layer header cannot be read is skipped with one problem. Never raises on bad
    input.
    """
    builder = ImportBuilder(options, unit="utf16")
    layer_names: dict[str, str] = {}  # UIMA type → toolkit layer name, the same in every file
    for path in input_files(paths, builder.problems, suffix_in(".tsv")):
        _read_file(builder, path, layer_names)
    return builder.imported


def _read_file(builder: ImportBuilder, path: Path, layer_names: dict[str, str]) -> None:
    content = read_utf8(path, builder.problems)
    if content is None:
        return

    def problem(line: int | None, message: str, code: str = "malformed") -> None:
        builder.problem(path, line, code, message)

    measure: Callable[[str], int] = _utf16_length if builder.unit == "utf16" else len
    # A BOM is not part of the format line; the document text is rebuilt, so dropping it is safe.
    doc = _parse(content.removeprefix("\ufeff").split("\n"), measure, problem, builder.imported)
    # The same stem in two folders must not give one id: the second gets its folder's name in front.
    article_id = doc and builder.article(path, None, path.stem, "".join(doc.pieces), title=doc.first_sentence,
                                         alternatives=[f"{path.parent.name}-{path.stem}"])
    if doc is not None and article_id is not None:
        _check_tokens(builder, path, doc, article_id)
        kept = {id(span): _span(builder, path, article_id, span, layer_names, n) for n, span in enumerate(doc.spans)}
        for relation in doc.relations:
            _relation(builder, path, doc, article_id, layer_names, kept, relation)
        if doc.chain_links:
            builder.skip("webanno chain link", len(doc.chain_links))
    # Tokens are checked after the whole text is rebuilt; report in line order all the same.
    builder.in_line_order(path)


def _check_tokens(builder: ImportBuilder, path: Path, doc: _Document, article_id: str) -> None:
    text = builder.get_article(article_id)["text"]
    for address, token in doc.units.items():
        begin, end = builder.to_codepoints(article_id, "text", token.begin), builder.to_codepoints(
            article_id, "text", token.end)
        covered = text[begin:end] if begin is not None and end is not None else None
        # INCEpTION writes the token column unescaped; other writers may escape it like #Text.
        if covered not in (token.token, _unescape_text(token.token)):
            builder.problem(path, token.line, "span-text-mismatch", f"token {address} {token.token!r} does not "
                            f"match the text at {token.begin}-{token.end} ({covered!r})")


def _span(builder: ImportBuilder, path: Path, article_id: str, span: _Span, layer_names: dict[str, str],
          position: int | None = None) -> str | None:
    """The id of the span annotation the file's `position`-th parsed span (None: a relation's token end) became.

    Every parsed span is its own INCEpTION annotation, even one identical to another stacked on the
    same tokens (`ORG[1]|ORG[2]`: an annotator's two annotations), so its position is its identity;
    a token end is the same token span however often relations name it.
    """
    layer = _layer_name(span.layer, "span", layer_names, builder.imported)
    found, attributes = _label_and_attributes(span.features, layer)
    record = builder.span(path, span.line, article_id, layer, "token" if position is None else found, span.begin,
                          span.end, what=f"annotation in layer {layer!r}", numbered=f"{article_id}-{layer}-",
                          reference=position is None, identity=position, attributes=attributes or None)
    return record["id"] if record else None


def _relation(builder: ImportBuilder, path: Path, doc: _Document, article_id: str, layer_names: dict[str, str],
              kept: dict[int, str | None], relation: _Relation) -> None:
    """A relation between the base layer's spans at its two tokens; a relation whose base type is not
    a span layer of the file (or a DKPro dependency, which INCEpTION attaches to tokens, without a base
    span there) links the tokens themselves, as spans of a `token` layer."""
    if relation.source_unit is None or relation.source_unit not in doc.units:
        message = f"relation source {relation.source_unit!r} is not a token; skipped"
        builder.problem(path, relation.line, "unknown-reference", message)
        return
    base = next(layer.base_type for layer in doc.layers if layer.type_name == relation.layer_type)
    span_types = {layer.type_name for layer in doc.layers if layer.kind == "span"}
    ends: list[str | None] = []
    for address, wanted in ((relation.source_unit, relation.source_id), (relation.target_unit, relation.target_id)):
        candidate = _resolve(doc, base, address, wanted) if base in span_types else None
        end = kept.get(id(candidate)) if candidate is not None else None
        if end is None and (base not in span_types or relation.layer_type == DEPENDENCY_TYPE):
            unit = doc.units[address]
            end = _span(builder, path, article_id, _Span(TOKEN_TYPE, unit.begin, unit.end, unit.line), layer_names)
        ends.append(end)
    if ends[0] is None or ends[1] is None:
        builder.problem(path, relation.line, "unknown-reference", f"no {base} annotation at {relation.source_unit} "
                        f"or {relation.target_unit} for this relation; skipped")
        return
    layer = _layer_name(relation.layer_type, "relation", layer_names, builder.imported)
    label, attributes = _label_and_attributes(relation.features, layer)
    builder.relation(path, relation.line, article_id, layer, label, ends[0], ends[1],
                     numbered=f"{article_id}-{layer}-", attributes=attributes or None)


def _parse(
    lines: list[str],
    measure: Callable[[str], int],
    problem: Callable[..., None],
    imported: Imported,
) -> _Document | None:
    """Parse the header and body; None (after one problem) when the file is not TSV 3.x at all."""
    doc = _Document()
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index == len(lines) or not _FORMAT.match(lines[index].rstrip("\r")):
        line = index + 1 if index < len(lines) else None
        problem(line, "not a WebAnno TSV 3.x file: no '#FORMAT=WebAnno TSV 3.x' line", "unreadable")
        return None
    index += 1

    column = 0
    sentence_lines: list[str] = []  # `#Text=` lines of the sentence being read
    in_sentence = False  # True once the sentence's first token was placed
    skip_sentence = False
    current_token: str | None = None

    for line_no, raw in enumerate(lines[index:], start=index + 1):
        line = raw.rstrip("\r")
        if not line:
            in_sentence = False
            skip_sentence = False
            continue
        if line.startswith("#"):
            if line.startswith(("#T_SP=", "#T_CH=", "#T_RL=")):
                if doc.units or sentence_lines:
                    problem(line_no, "layer declaration after the text started; ignored")
                    continue
                layer = _layer_declaration(line, column)
                if layer is None:
                    problem(line_no, f"cannot read layer declaration {line!r}; the file is skipped")
                    return None
                doc.layers.append(layer)
                column += len(layer.columns)
            elif line.startswith("#Text="):
                if in_sentence:  # a new sentence without the blank line before it
                    in_sentence = False
                    skip_sentence = False
                sentence_lines.append(line[len("#Text=") :])
            elif line.startswith("#Sentence.id="):
                pass  # sentence ids have no place in the data model
            else:
                imported.skip("unknown header line")
            continue

        fields = line.split("\t")
        address = fields[0]
        offsets = _OFFSETS.match(fields[1]) if len(fields) > 1 else None
        # The first row of a sentence places the sentence in the text, so its offsets are read
        # before anything else: without them the whole sentence cannot be placed.
        unreadable = not _ADDRESS.match(address) or offsets is None
        if not unreadable and offsets is not None and int(offsets.group(2)) < int(offsets.group(1)):
            unreadable = True
        if unreadable:
            if sentence_lines:
                problem(line_no, f"cannot read id and offsets of the first row {line!r}; sentence skipped")
                sentence_lines, skip_sentence, in_sentence = [], True, True
            elif not skip_sentence:
                problem(line_no, f"cannot read token id and offsets from {line!r}; row skipped")
            continue
        assert offsets is not None
        begin, end = int(offsets.group(1)), int(offsets.group(2))
        is_subtoken = "." in address
        if sentence_lines:
            if is_subtoken:
                problem(line_no, "a sentence must start with a token, not a sub-token; sentence skipped")
                sentence_lines, skip_sentence, in_sentence = [], True, True
                continue
            skip_sentence = not _place_sentence(doc, sentence_lines, begin, measure, line_no, problem)
            sentence_lines = []
            in_sentence = True
        elif not in_sentence:
            problem(line_no, "token row outside a sentence (no '#Text=' line before it); row skipped")
            continue
        if skip_sentence:
            continue
        if len(fields) < 3 + column:
            problem(line_no, f"expected {3 + column} tab-separated fields, found {len(fields)}; row skipped")
            continue
        if address in doc.units:
            problem(line_no, f"token id {address} appears twice; row skipped")
            continue
        if is_subtoken and (current_token is None or address.split(".")[0] != current_token):
            problem(line_no, f"sub-token {address} does not follow its token; row skipped")
            continue
        if not is_subtoken:
            current_token = address
        doc.units[address] = _Unit(begin, end, fields[2], line_no)
        cells = fields[3 : 3 + column]
        for layer in doc.layers:
            layer_cells = cells[layer.first_column : layer.first_column + len(layer.columns)]
            if layer.kind == "span":
                _read_span_cells(doc, layer, layer_cells, address, begin, end, line_no, imported)
            elif layer.kind == "relation":
                _read_relation_cells(doc, layer, layer_cells, address, line_no, problem)
            else:
                for cell in layer_cells:
                    for value in _stack(cell):
                        link = _CHAIN_LINK.search(value)
                        if link:
                            doc.chain_links.add(f"{layer.type_name}:{link.group(1)}")
    if sentence_lines:
        problem(len(lines), "sentence text without token rows at the end of the file; ignored")
    return doc


def _layer_declaration(line: str, first_column: int) -> _Layer | None:
    prefix, _, rest = line.partition("=")
    entries = [entry for entry in rest.split("|")]
    type_name = entries[0].strip()
    if not type_name:
        return None
    declared = entries[1:]
    if prefix == "#T_SP":
        columns: list[tuple[str, ColumnRole]] = []
        for position, entry in enumerate(declared):
            if entry.startswith("ROLE_"):
                columns.append((entry, "slot_role"))
            elif position > 0 and columns[-1][1] == "slot_role":
                columns.append((entry, "slot_target"))  # the target type that follows each ROLE_
            else:
                columns.append((entry, "feature"))
        if not columns:
            # A layer without features still has one column, holding `*` where it annotates.
            columns.append(("", "placeholder"))
        return _Layer(type_name, "span", tuple(columns), first_column)
    if prefix == "#T_RL":
        if not declared or not declared[-1].startswith("BT_"):
            return None
        features: list[tuple[str, ColumnRole]] = [(entry, "feature") for entry in declared[:-1]]
        if not features:
            features.append(("", "placeholder"))
        columns = [*features, (declared[-1], "base")]
        base_type = declared[-1].removeprefix("BT_")
        return _Layer(type_name, "relation", tuple(columns), first_column, base_type=base_type)
    chain_columns: list[tuple[str, ColumnRole]] = [
        (entry, "chain_link" if entry == "referenceRelation" else "chain_type") for entry in declared
    ] or [("", "placeholder")]
    return _Layer(type_name, "chain", tuple(chain_columns), first_column)


def _place_sentence(
    doc: _Document,
    sentence_lines: list[str],
    begin: int,
    measure: Callable[[str], int],
    line_no: int,
    problem: Callable[..., None],
) -> bool:
    """Append a sentence to the rebuilt text at offset `begin`, as INCEpTION does: every sentence
    is followed by a line break, dropped again when the next sentence starts right there; a wider
    gap is filled with spaces. False (after a problem) when the sentence would overlap the text."""
    if doc.length > begin:
        if doc.length == begin + 1 and doc.pieces and doc.pieces[-1].endswith("\n"):
            doc.pieces[-1] = doc.pieces[-1][:-1]
            doc.length -= 1
        else:
            problem(line_no, f"sentence starts at {begin}, inside the previous sentence; sentence skipped")
            return False
    if doc.length < begin:
        doc.pieces.append(" " * (begin - doc.length))
        doc.length = begin
    sentence = "".join(_unescape_text(text) + "\n" for text in sentence_lines)
    if doc.first_sentence is None:
        doc.first_sentence = sentence
    doc.pieces.append(sentence)
    doc.length += measure(sentence)
    return True


def _read_span_cells(
    doc: _Document,
    layer: _Layer,
    cells: list[str],
    address: str,
    begin: int,
    end: int,
    line_no: int,
    imported: Imported,
) -> None:
    """Read one row's cells of a span layer, creating or extending annotations.

    Within a row the n-th stacked value of every column belongs to the same annotation; across
    rows a disambiguation id `[n]` says which earlier annotation a value continues (multi-token).
    """
    slots: dict[int, _Span] = {}
    for (feature, role), cell in zip(layer.columns, cells, strict=True):
        if cell == "_" or cell == "":
            continue
        for position, raw_value in enumerate(_stack(cell)):
            value, disambiguation = raw_value, None
            if role != "slot_target":  # slot targets carry their own per-target ids
                match = _DISAMBIGUATION.match(raw_value)
                if match and not raw_value.endswith("\\]"):
                    value, disambiguation = match.group(1), int(match.group(2))
            span = slots.get(position)
            if span is None and role == "slot_target":
                continue  # a slot target without its annotation: nothing to attach it to
            if span is None and disambiguation is not None:
                span = doc.by_id.get((layer.type_name, disambiguation))
                if span is not None:
                    span.begin, span.end = min(span.begin, begin), max(span.end, end)
            if span is None:
                span = _Span(layer.type_name, begin, end, line_no)
                doc.spans.append(span)
            slots[position] = span
            if disambiguation is not None:
                doc.by_id[(layer.type_name, disambiguation)] = span
            if role == "feature" and value != "*":
                span.features[feature] = _unescape_value(value)
            elif role == "slot_role" and value != "*":
                imported.skip("webanno slot feature", len(re.split(r"(?<!\\);", value)))
    if slots:
        doc.by_unit[(address, layer.type_name)] = [slots[position] for position in sorted(slots)]


def _read_relation_cells(
    doc: _Document,
    layer: _Layer,
    cells: list[str],
    address: str,
    line_no: int,
    problem: Callable[..., None],
) -> None:
    """Read one row's cells of a relation layer: the row is the relation's target, the base
    column (`BT_`) names the source token, `1-3[2_5]` adding the source's and target's ids."""
    slots: dict[int, _Relation] = {}
    for (feature, role), cell in zip(layer.columns, cells, strict=True):
        if cell == "_" or cell == "":
            continue
        for position, value in enumerate(_stack(cell)):
            relation = slots.get(position)
            if relation is None:
                relation = _Relation(layer.type_name, address, line_no)
                slots[position] = relation
                doc.relations.append(relation)
            if role == "base":
                ids = _RELATION_IDS.match(value)
                source = ids.group(1) if ids else value
                if not _ADDRESS.match(source):
                    problem(line_no, f"cannot read relation source {value!r}")
                    continue
                relation.source_unit = source
                if ids:
                    relation.source_id, relation.target_id = int(ids.group(2)), int(ids.group(3))
            elif role == "feature" and value != "*":
                relation.features[feature] = _unescape_value(value)


def _resolve(doc: _Document, layer_type: str | None, address: str, wanted: int) -> _Span | None:
    """The span annotation of `layer_type` at a token: the one with disambiguation id `wanted`
    (ids are only written when the token holds several), else the only one there."""
    candidates = doc.by_unit.get((address, layer_type or ""), [])
    if wanted > 0:
        span = doc.by_id.get((layer_type or "", wanted))
        return span if span is not None and any(span is candidate for candidate in candidates) else None
    return candidates[0] if candidates else None


def _stack(cell: str) -> list[str]:
    return _STACK_SEP.split(cell)


def _label_and_attributes(features: dict[str, str], layer: str) -> tuple[str, dict[str, str]]:
    """Label = the feature `value` if it has one, else the first feature with a value (in column
    order), else the layer name; the remaining features become attributes.

    `value` is DKPro's and INCEpTION's main feature (NamedEntity, custom layers); preferring it
    keeps e.g. `NamedEntity|identifier|value` labelled `PER`, not with an entity-linking URL.
    """
    items = [(name, value) for name, value in features.items() if value != ""]
    if not items:
        return layer, {}
    main = next((item for item in items if item[0] == "value"), items[0])
    return main[1], {name: value for name, value in items if (name, value) != main}


def _layer_name(type_name: str, kind: str, names: dict[str, str], imported: Imported) -> str:
    """A manifest-safe layer name from the type's short name, stable across files; a second type
    with the same short name (or a name already used for another kind) gets a number."""
    if type_name in names:
        return names[type_name]
    short = type_name.rsplit(".", 1)[-1].lower()
    base = _LAYER_NAME_BAD.sub("_", short).strip("_")
    if not base or not base[0].isalpha():
        base = f"layer_{base}".rstrip("_")
    base = base[:60]
    taken = set(names.values())
    name, n = base, 2
    while name in taken or (name in imported.layers and imported.layers[name] != kind):
        name = f"{base}_{n}"
        n += 1
    names[type_name] = name
    return name


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
