"""Importer for the Propaganda Techniques Corpus (SemEval-2020 Task 11) folders.

Layout (README_PTC_v2.md): `articleNNN.txt` holds the title on line 1, an empty line, then one
sentence per line; `articleNNN.task2-TC.labels` has one row per technique span
(`NNN<TAB>Technique<TAB>start<TAB>end`) and `articleNNN.task1-SI.labels` one row per propaganda
span (`NNN<TAB>start<TAB>end`). Offsets are code points into the whole file, end exclusive, so the
article text is the file content unchanged.

What becomes what: TC rows → span layer `persuasion` (label = the technique as written, spans may
overlap); SI rows → span layer `propaganda_span` (label `propaganda`), but only for articles that
have no TC labels, since TC spans are the same spans with a technique. Rows are routed by their
article id column, so the per-article files and the combined dev/test label files both work.
Other files (README, templates) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolkit.ingest import Imported, ImportOptions
from toolkit.ingest.builder import ImportBuilder
from toolkit.ingest.files import input_files, read_utf8

TECHNIQUE_LAYER = "persuasion"
SPAN_LAYER = "propaganda_span"
SPAN_LABEL = "propaganda"
LANGUAGE = "en"

_ARTICLE_FILE = re.compile(r"^article(\d+)\.txt$")
_ARTICLE_IN_NAME = re.compile(r"article(\d+)")
_NUMBER = re.compile(r"^\d+$")
_TC_NAME = re.compile(r"(?i)task2|\btc\b")
_SI_NAME = re.compile(r"(?i)task1|\bsi\b")
_SI_SHAPE = "article_id<TAB>start<TAB>end"

LabelKind = Literal["tc", "si"]


@dataclass
class _Article:
    number: str
    path: Path
    text: str
    has_tc: bool = False  # a TC label file (even an empty one) exists for it
    # (label file, line, technique, start, end) in the file's offset unit: checked when built.
    tc: list[tuple[str, int, str, int, int]] = field(default_factory=list)
    si: list[tuple[str, int, str, int, int]] = field(default_factory=list)


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Read PTC article and label files from folders (searched recursively) or single files.

    Returns one article per `articleNNN.txt` (language `en`), its technique (or, without TC labels,
    propaganda) spans, and a problem (file, line) for every row that cannot be imported: wrong
    field count, bad offsets, a span outside the text, an article without its `.txt`.
    Never raises on bad input.
    """
    builder = ImportBuilder(options)
    files = input_files(paths, builder.problems, lambda p: bool(_ARTICLE_FILE.match(p.name)) or p.suffix == ".labels")
    articles: dict[str, _Article] = {}
    for path in files:
        match = _ARTICLE_FILE.match(path.name)
        if match is None:
            continue
        if match.group(1) in articles:
            message = f"article{match.group(1)} was already read from {articles[match.group(1)].path}; skipped"
            builder.problem(path, None, "duplicate-id", message)
            continue
        text = read_utf8(path, builder.problems)
        if text is not None:
            articles[match.group(1)] = _Article(match.group(1), path, text)
    for path in files:
        if path.suffix == ".labels":
            _read_labels(path, articles, builder)
    for number in sorted(articles, key=lambda n: str(articles[n].path)):
        _build(builder, articles[number])
    return builder.imported


def _build(builder: ImportBuilder, article: _Article) -> None:
    article_id = builder.article(article.path, None, f"article{article.number}", article.text, language=LANGUAGE)
    if article_id is None:
        return
    if article.has_tc:
        rows, layer, prefix = article.tc, TECHNIQUE_LAYER, "tc"
    else:
        rows, layer, prefix = article.si, SPAN_LAYER, "si"
    for n, (file, line, label, start, end) in enumerate(rows, start=1):
        builder.span(file, line, article_id, layer, label, start, end, what=f"span {start}-{end}",
                     wanted_id=f"{article_id}-{prefix}{n}", field="text")


def _kind_from_name(name: str) -> LabelKind | None:
    if _TC_NAME.search(name):
        return "tc"
    if _SI_NAME.search(name):
        return "si"
    return None  # decided per row by its number of fields


def _read_labels(path: Path, articles: dict[str, _Article], builder: ImportBuilder) -> None:
    """Route the rows of one label file to their articles, reporting rows that cannot be used."""
    content = read_utf8(path, builder.problems)
    if content is None:
        return
    kind = _kind_from_name(path.name)
    named = _ARTICLE_IN_NAME.search(path.name)
    if kind == "tc" and named and named.group(1) in articles:
        # An empty TC file still says "this article was checked and has no technique spans".
        articles[named.group(1)].has_tc = True
    for line_no, raw in enumerate(content.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        row_kind = kind or ("tc" if len(fields) == 4 else "si" if len(fields) == 3 else None)
        expected = 4 if row_kind == "tc" else 3
        if row_kind is None or len(fields) != expected:
            shape = "article_id<TAB>technique<TAB>start<TAB>end" if row_kind == "tc" else _SI_SHAPE
            builder.problem(path, line_no, "malformed", f"expected {shape}, found {len(fields)} field(s)")
            continue
        number = fields[0].strip().removeprefix("article")
        label = fields[1].strip() if row_kind == "tc" else SPAN_LABEL
        start_raw, end_raw = fields[-2].strip(), fields[-1].strip()
        if not _NUMBER.match(number):
            builder.problem(path, line_no, "malformed", f"article id {fields[0]!r} is not a number")
        elif not label:
            builder.problem(path, line_no, "malformed", "empty technique")
        elif not (_NUMBER.match(start_raw) and _NUMBER.match(end_raw)):
            builder.problem(path, line_no, "malformed",
                            f"offsets {start_raw!r}, {end_raw!r} are not non-negative integers")
        elif number not in articles:
            builder.problem(path, line_no, "unknown-reference", f"no article{number}.txt was read for this row")
        elif row_kind == "tc":
            articles[number].has_tc = True
            articles[number].tc.append((str(path), line_no, label, int(start_raw), int(end_raw)))
        else:
            articles[number].si.append((str(path), line_no, label, int(start_raw), int(end_raw)))
