"""CoNLL / IOB token files → articles and span annotations (DESIGN.md §1).

One token per line, columns separated by TAB (when any line of the file has one) or else by
spaces; a blank line ends a sentence, a `-DOCSTART-` line ends a document. Layouts read:

- CoNLL-2003 style: the token first, the tag last (`EU NNP B-NP B-ORG`, `JAPAN<TAB>B-LOC`);
- GermEval 2014: `index<TAB>token<TAB>outer<TAB>inner`, with a source line before each sentence
  (`#<TAB>http://…<TAB>[2009-08-13]`). A first column that is an integer on every line is an
  index; with four columns the last two are both tag columns (outer and inner entities).

Tagging schemes IOB1, IOB2 and BIOES (BILOU's L-/U- read as E-/S-) are told apart per file from
the tags themselves; `read(..., scheme=...)` and `layout=...` override the detection.

How the tool's data become records, where CoNLL says nothing:

- One article per `-DOCSTART-` document. A file without `-DOCSTART-` is one article, unless it has
  GermEval source lines: then consecutive sentences with the same source line are one article
  (GermEval's sentences each come from a different page). A source that is an http(s) URL becomes
  the article's `url`; other sources and the bracketed date go to `meta` (the date is not claimed
  as a publication date: for Wikipedia sentences it is when the page was crawled).
- The text is the tokens joined by single spaces, one sentence per line (`\\n`): CoNLL keeps no
  original spacing, and a blank line would claim a paragraph break the file never recorded.
- Every tag column is its own span layer: `entities` (the last, or GermEval's outer column) and
  `entities_inner` (GermEval's nested column), so each stays free of overlaps and can be tagged
  back as BIO on its own, as GermEval evaluates them.
- A line with the wrong number of columns, or not UTF-8, cannot be placed in its sentence: the
  whole sentence is left out. A tag error (an illegal tag, an I-/E- tag that does not continue an
  entity of its type in IOB2/BIOES) keeps the tokens but leaves out the entity it belongs to. Each
  is a problem naming file and line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder
from toolkit.ingest.files import input_files, numbered_lines, read_export_file, suffix_in

Scheme = Literal["iob1", "iob2", "bioes"]

LAYER_NAMES = ("entities", "entities_inner")
# File name endings read when a folder is given (a file named on the command line is always read).
FOLDER_SUFFIXES = frozenset(
    {".conll", ".iob", ".iob1", ".iob2", ".bio", ".bioes", ".bilou", ".tsv", ".txt", ".train", ".dev", ".test"}
)

_TAG = re.compile(r"^(?:O|([BIESLU])-(\S+))$")
_BILOU = {"L": "E", "U": "S"}
_DATE = re.compile(r"^\[(\d{4}-\d{2}-\d{2})\]$")
_URL = re.compile(r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+\S*$")


@dataclass(frozen=True)
class Layout:
    """Where the token and the tags are: 0-based column indexes, `columns` in all."""

    columns: int
    token: int
    tags: tuple[int, ...]


@dataclass(frozen=True)
class Entity:
    """Tokens [start, end) of one sentence carrying `label`."""

    start: int
    end: int
    label: str


@dataclass(slots=True)
class _Row:
    """A token line, keeping only the columns read (a 600k-line file is held whole)."""

    line: int
    token: str
    tags: tuple[str, ...]  # in the order of Layout.tags


@dataclass
class _Sentence:
    rows: list[_Row] = field(default_factory=list)
    # (line, why) of lines that could not be read as tokens: the sentence is left out.
    broken: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Document:
    line: int
    docstart: bool = False  # opened by a -DOCSTART- line (else: the file's start, or a new source)
    source: str | None = None
    date: str | None = None
    sentences: list[_Sentence] = field(default_factory=list)


def read(
    paths: Sequence[Path],
    options: ImportOptions,
    *,
    scheme: Scheme | None = None,
    layout: Layout | None = None,
) -> Imported:
    """Import CoNLL/IOB files, or folders of them (searched recursively, in name order).

    `scheme` and `layout` apply to every file; by default each file's are detected. Returns one
    article per document and one span annotation per entity; unreadable files, lines and tags
    become problems with file and line, and the rest is imported. Never raises on bad input.
    """
    # Offsets are counted by this importer on the text it builds, never read from the file: code points.
    builder = ImportBuilder(replace(options, offset_unit="codepoint"))
    for path in input_files(paths, builder.problems, suffix_in(*FOLDER_SUFFIXES)):
        _import_file(builder, path, scheme, layout)
    return builder.imported


# --- reading a file into documents ------------------------------------------------------------


def _import_file(builder: ImportBuilder, path: Path, scheme: Scheme | None, layout: Layout | None) -> None:
    raw = read_export_file(path, builder.problems)
    if raw is None:
        return
    lines = _decode_lines(raw)
    tab = any(text is not None and "\t" in text for _, text in lines)
    layout = layout or detect_layout(_candidate_rows(lines, tab))
    if layout is None:
        message = "no token lines with a tag column (at least two columns) found; nothing imported"
        builder.problem(path, None, "malformed", message)
        return
    documents = _documents(lines, tab, layout, builder.imported)
    untagged = _untagged_column(documents, layout)
    if untagged is not None:
        # A POS or chunk column read as tags would give one problem per line: say it once.
        column, row = untagged
        message = f"column {column + 1} holds no IOB tags (line {row.line}: {row.tags[layout.tags.index(column)]!r})"
        builder.problem(path, None, "malformed", f"{message}; nothing imported")
        return
    sequences = [
        [row.tags[k] for row in sentence.rows]
        for document in documents
        for sentence in document.sentences
        if not sentence.broken
        for k in range(len(layout.tags))
    ]
    scheme = scheme or detect_scheme(sequences)
    for number, document in enumerate(documents, start=1):
        _import_document(builder, path, layout, scheme, number, document)
    # Broken sentences are found before the tag errors of the sentences around them: report in line order.
    builder.in_line_order(path)


def _untagged_column(documents: list[_Document], layout: Layout) -> tuple[int, _Row] | None:
    """A tag column (0-based) where no line holds a legal tag, with its first line; None if each has one."""
    rows = [row for document in documents for sentence in document.sentences for row in sentence.rows]
    for k, column in enumerate(layout.tags):
        if rows and not any(parse_tag(row.tags[k]) for row in rows):
            return column, rows[0]
    return None


def _decode_lines(raw: bytes) -> list[tuple[int, str | None]]:
    """(line number, text without line ending), text None where the line is not UTF-8."""
    lines: list[tuple[int, str | None]] = []
    for number, chunk in numbered_lines(raw):
        try:
            lines.append((number, chunk.decode("utf-8")))
        except UnicodeDecodeError:
            lines.append((number, None))
    return lines


def _split(text: str, tab: bool) -> list[str]:
    # Split on the separator only: a token may hold a no-break space, which str.split() would cut.
    if tab:
        # A trailing TAB is an exporter's habit, not an empty last column.
        return text.rstrip(" \t").split("\t")
    return [part for part in text.strip(" ").split(" ") if part]


def _is_blank(text: str) -> bool:
    return not text.strip(" \t")


def _candidate_rows(lines: list[tuple[int, str | None]], tab: bool) -> Iterator[list[str]]:
    """The field lists of lines that can only be token lines, to detect the layout from."""
    for _, text in lines:
        if text is None or _is_blank(text) or text.startswith("#"):
            continue
        fields = _split(text, tab)
        if fields[0] != "-DOCSTART-":
            yield fields


def detect_layout(rows: Iterable[Sequence[str]]) -> Layout | None:
    """The most common column count is the file's; an all-integer first column is an index
    (GermEval, CoNLL-U); with an index and four columns the last two are tag columns (GermEval's
    outer and inner). None when there are no rows or only one column."""
    counts: Counter[int] = Counter()
    numbered: dict[int, bool] = {}  # column count → whether every such row starts with an integer
    for fields in rows:
        counts[len(fields)] += 1
        numbered[len(fields)] = numbered.get(len(fields), True) and fields[0].isdecimal()
    if not counts:
        return None
    columns = counts.most_common(1)[0][0]
    if columns < 2:
        return None
    indexed = columns >= 3 and numbered[columns]
    if indexed and columns == 4:
        return Layout(columns, 1, (2, 3))
    return Layout(columns, 1 if indexed else 0, (columns - 1,))


def _documents(lines: list[tuple[int, str | None]], tab: bool, layout: Layout, imported: Imported) -> list[_Document]:
    """Group a file's lines into documents of sentences; comment lines become sources or are
    counted as skipped."""
    has_docstart = any(text is not None and text.lstrip(" ").startswith("-DOCSTART-") for _, text in lines)
    documents: list[_Document] = []
    document: _Document | None = None
    sentence = _Sentence()
    for number, text in lines:
        if text is not None and _is_blank(text):
            sentence = _end_sentence(document, sentence)
            continue
        if document is None:
            document = _Document(number)
            documents.append(document)
        if text is None:
            sentence.broken.append((number, "not UTF-8"))
            continue
        fields = _split(text, tab)
        if fields[0] == "-DOCSTART-":
            if document.line != number:  # the line that opened the file's first document needs no second one
                sentence = _end_sentence(document, sentence)
                document = _Document(number)
                documents.append(document)
            document.docstart = True
            continue
        if text.startswith("#") and not _is_token_row(fields, layout):
            sentence = _end_sentence(document, sentence)
            source = _source_line(text, tab)
            if source is None:
                imported.skip("comment line")
            elif not has_docstart and (document.sentences and (document.source, document.date) != source):
                document = _Document(number)
                documents.append(document)
                document.source, document.date = source
            elif document.source is None:
                document.source, document.date = source
            continue
        if len(fields) != layout.columns:
            sentence.broken.append(
                (number, f"{_columns(len(fields))} where the file's token lines have {layout.columns}")
            )
            continue
        sentence.rows.append(_Row(number, fields[layout.token], tuple(fields[c] for c in layout.tags)))
    _end_sentence(document, sentence)
    return documents


def _end_sentence(document: _Document | None, sentence: _Sentence) -> _Sentence:
    """File `sentence` in its document when it holds any line; return the empty sentence to fill next."""
    if document is not None and (sentence.rows or sentence.broken):
        document.sentences.append(sentence)
    return _Sentence()


def _columns(number: int) -> str:
    return "1 column" if number == 1 else f"{number} columns"


def _is_token_row(fields: list[str], layout: Layout) -> bool:
    """A line starting with `#` is a token line (the token `#`) when it has the file's columns
    and tags where the tags go; otherwise it is a comment."""
    return len(fields) == layout.columns and all(_TAG.match(fields[c]) for c in layout.tags)


def _source_line(text: str, tab: bool) -> tuple[str, str | None] | None:
    """GermEval's `#<TAB>source<TAB>[date]`: (source, date); None for any other comment."""
    fields = [f.strip() for f in (text.split("\t") if tab else text.split(" ")) if f.strip()]
    if len(fields) < 2 or fields[0] != "#":
        return None
    date_match = _DATE.match(fields[-1])
    source = " ".join(fields[1:-1] if date_match else fields[1:])
    if not source or not (date_match or _URL.match(source)):
        # `# text = …`, `# sent_id = 3` (CoNLL-U) and free comments are not sources.
        return None
    return source, date_match.group(1) if date_match else None


# --- tagging schemes ------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a file has a few dozen distinct tags and a million tag cells
def parse_tag(tag: str) -> tuple[str, str | None] | None:
    """("O", None), or (prefix in B/I/E/S, type) with BILOU's L/U read as E/S; None if illegal."""
    match = _TAG.match(tag)
    if match is None:
        return None
    if match.group(1) is None:
        return "O", None
    prefix = match.group(1)
    return _BILOU.get(prefix, prefix), match.group(2)


def detect_scheme(sequences: Iterable[Sequence[str]]) -> Scheme:
    """BIOES if any E-/S- (or L-/U-) tag occurs; IOB1 if some I- tag starts an entity and every
    B- tag sits right after a tag of its own type (IOB1 uses B- only between two adjacent
    entities of one type); IOB2 otherwise."""
    i_starts = False
    b_only_between = True
    for tags in sequences:
        previous: str | None = None
        for tag in tags:
            parsed = parse_tag(tag)
            prefix, label = parsed if parsed is not None else ("O", None)
            if prefix in ("E", "S"):
                return "bioes"
            if prefix == "I" and label != previous:
                i_starts = True
            if prefix == "B" and label != previous:
                b_only_between = False
            previous = label
    return "iob1" if i_starts and b_only_between else "iob2"


@dataclass
class _Open:
    start: int
    label: str
    broken: bool = False


def decode(tags: Sequence[str], scheme: Scheme) -> tuple[list[Entity], list[tuple[int, str]]]:
    """The entities of one sentence's tags, and (token index, message) for each tag error.

    B- and S- always start an entity; I- and E- continue one of their type. An I- that cannot
    continue starts a new entity in IOB1 and is an error in IOB2/BIOES. An entity holding an
    error is left out. In BIOES, B-/I- entities not closed by E- are accepted (files mix IOB2
    with S- tags: flair's fashion sample).
    """
    entities: list[Entity] = []
    problems: list[tuple[int, str]] = []
    current: _Open | None = None

    def close(end: int) -> None:
        nonlocal current
        if current is not None and not current.broken:
            entities.append(Entity(current.start, end, current.label))
        current = None

    for index, tag in enumerate(tags):
        parsed = parse_tag(tag)
        if parsed is None or (scheme != "bioes" and parsed[0] in ("E", "S")):
            if current is not None:
                current.broken = True
                problems.append(
                    (index, f"illegal tag {tag!r} in the {current.label} entity ({scheme}); the entity is left out")
                )
            else:
                problems.append((index, f"illegal tag {tag!r} ({scheme}); read as O"))
            continue
        prefix, label = parsed
        if prefix == "O":
            close(index)
        elif prefix == "B":
            close(index)
            current = _Open(index, label or "")
        elif prefix == "S":
            close(index)
            entities.append(Entity(index, index + 1, label or ""))
        else:  # I or E
            if current is None or current.label != label:
                if scheme == "iob1" and prefix == "I":
                    close(index)
                    current = _Open(index, label or "")
                else:
                    what = f"continues a {current.label} entity" if current else "does not continue an entity"
                    problems.append((index, f"{tag} {what} ({scheme}); the entity is left out"))
                    if current is None:
                        current = _Open(index, label or "", broken=True)
                    else:
                        current.broken = True
                        current.label = label or ""  # the I-X run that follows belongs to the same error
            if prefix == "E":
                close(index + 1)
    close(len(tags))
    return entities, problems


# --- documents to records ---------------------------------------------------------------------


def _import_document(builder: ImportBuilder, path: Path, layout: Layout, scheme: Scheme, number: int,
                     document: _Document) -> None:
    sentences = _readable_sentences(builder, path, document)
    if not sentences:
        if not document.sentences and document.docstart:
            builder.skip("empty document")
        return
    lines = [" ".join(row.token for row in sentence.rows) for sentence in sentences]
    # The same file stem in two folders (train/x.conll, dev/x.conll) gets `-2`: the builder keeps ids unique.
    text = "\n".join(lines)
    article_id = builder.article(path, document.line, f"{path.stem}-{number}", text, **_source(path, document))
    if article_id is None:
        return
    offset = 0
    for sentence, line_text in zip(sentences, lines, strict=True):
        _import_sentence(builder, path, article_id, layout, scheme, sentence, offset)
        offset += len(line_text) + 1


def _readable_sentences(builder: ImportBuilder, path: Path, document: _Document) -> list[_Sentence]:
    """The document's sentences without those holding a line that could not be read (reported)."""
    sentences: list[_Sentence] = []
    for sentence in document.sentences:
        if sentence.broken:
            first, last = _line_range(sentence)
            for line, why in sentence.broken:
                code = "invalid-encoding" if why == "not UTF-8" else "malformed"
                builder.problem(path, line, code, f"{why}; its sentence (lines {first}-{last}) is left out")
        else:
            sentences.append(sentence)
    return sentences


def _source(path: Path, document: _Document) -> dict:
    """The article's `url` (a source that is an http(s) URL) and `meta` (where in the file, other sources, date)."""
    meta = {"conll_file": path.name, "conll_line": str(document.line)}
    url = document.source if document.source is not None and _URL.match(document.source) else None
    if document.source is not None and url is None:
        meta["source"] = document.source
    if document.date is not None:
        meta["source_date"] = document.date
    return {"url": url, "meta": meta}


def _import_sentence(builder: ImportBuilder, path: Path, article_id: str, layout: Layout, scheme: Scheme,
                     sentence: _Sentence, offset: int) -> None:
    """Decode each tag column of a sentence whose line starts at code point `offset` of the text."""
    tokens = [row.token for row in sentence.rows]
    starts = _token_starts(tokens, offset)
    for k, layer in enumerate(_layer_names(len(layout.tags))):
        entities, errors = decode([row.tags[k] for row in sentence.rows], scheme)
        for index, message in errors:
            builder.problem(path, sentence.rows[index].line, "malformed", message)
        for entity in entities:
            start, end = starts[entity.start], starts[entity.end - 1] + len(tokens[entity.end - 1])
            # Entity ids are numbered per article, in reading order.
            builder.span(path, sentence.rows[entity.start].line, article_id, layer, entity.label, start, end,
                         numbered=f"{article_id}-e")


def _line_range(sentence: _Sentence) -> tuple[int, int]:
    lines = [row.line for row in sentence.rows] + [line for line, _ in sentence.broken]
    return min(lines), max(lines)


def _token_starts(tokens: list[str], offset: int) -> list[int]:
    """Code-point offset of each token in the sentence's line, which starts at `offset`."""
    starts = []
    for token in tokens:
        starts.append(offset)
        offset += len(token) + 1
    return starts


def _layer_names(count: int) -> list[str]:
    return [LAYER_NAMES[k] if k < len(LAYER_NAMES) else f"entities_{k + 1}" for k in range(count)]
