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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolkit.ingest import Imported, ImportOptions, ImportProblem
from toolkit.ingest.dataset_writer import safe_id
from toolkit.ingest.files import read_export_file
from toolkit.offsets import utf16_to_codepoint_mapper

TECHNIQUE_LAYER = "persuasion"
SPAN_LAYER = "propaganda_span"
SPAN_LABEL = "propaganda"
LANGUAGE = "en"
TITLE_MAX_CHARS = 200

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
    tc: list[tuple[str, int, int]] = field(default_factory=list)
    si: list[tuple[str, int, int]] = field(default_factory=list)


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """Read PTC article and label files from folders (searched recursively) or single files.

    Returns one article per `articleNNN.txt` (language `en`), its technique (or, without TC labels,
    propaganda) spans, and an `ImportProblem` (file, line) for every row that cannot be imported:
    wrong field count, bad offsets, a span outside the text, an article without its `.txt`.
    Never raises on bad input.
    """
    imported = Imported()
    texts, label_files = _collect(paths, imported)
    articles: dict[str, _Article] = {}
    for number, path in texts:
        if number in articles:
            message = f"article{number} was already read from {articles[number].path}; skipped"
            imported.problems.append(ImportProblem(str(path), None, message))
            continue
        text = _read_utf8(path, imported)
        if text is not None:
            articles[number] = _Article(number, path, text)

    for path in label_files:
        _read_labels(path, articles, options, imported)

    for number in sorted(articles, key=lambda n: str(articles[n].path)):
        article = articles[number]
        article_id = safe_id(f"article{number}")
        title = _title(article.text, article_id)
        record = {"id": article_id, "title": title, "text": article.text, "language": LANGUAGE}
        imported.articles.append(record)
        if article.has_tc:
            rows, layer, prefix = [(label, s, e) for label, s, e in article.tc], TECHNIQUE_LAYER, "tc"
        else:
            rows, layer, prefix = [(SPAN_LABEL, s, e) for _, s, e in article.si], SPAN_LAYER, "si"
        for n, (label, start, end) in enumerate(rows, start=1):
            imported.declare(layer, "span", label)
            imported.annotations.append(
                {
                    "id": safe_id(f"{article_id}-{prefix}{n}"),
                    "article_id": article_id,
                    "layer": layer,
                    "label": label,
                    "start": start,
                    "end": end,
                    "field": "text",
                    "text": article.text[start:end],
                }
            )
    return imported


def _collect(paths: Sequence[Path], imported: Imported) -> tuple[list[tuple[str, Path]], list[Path]]:
    """Article texts (number, path) and label files, each sorted by path."""
    texts: list[tuple[str, Path]] = []
    labels: list[Path] = []

    def consider(file: Path) -> None:
        match = _ARTICLE_FILE.match(file.name)
        if match:
            texts.append((match.group(1), file))
        elif file.suffix == ".labels":
            labels.append(file)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    consider(file)
        elif path.is_file():
            consider(path)
        else:
            imported.problems.append(ImportProblem(str(path), None, "no such file or folder"))
    return sorted(texts, key=lambda item: str(item[1])), sorted(labels)


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


def _kind_from_name(name: str) -> LabelKind | None:
    if _TC_NAME.search(name):
        return "tc"
    if _SI_NAME.search(name):
        return "si"
    return None  # decided per row by its number of fields


def _read_labels(
    path: Path, articles: dict[str, _Article], options: ImportOptions, imported: Imported
) -> None:
    """Route the rows of one label file to their articles, reporting rows that cannot be used."""
    file = str(path)
    content = _read_utf8(path, imported)
    if content is None:
        return
    kind = _kind_from_name(path.name)
    named = _ARTICLE_IN_NAME.search(path.name)
    if kind == "tc" and named and named.group(1) in articles:
        # An empty TC file still says "this article was checked and has no technique spans".
        articles[named.group(1)].has_tc = True
    mappers: dict[str, Callable[[int], int]] = {}

    def problem(line: int, message: str) -> None:
        imported.problems.append(ImportProblem(file, line, message))

    for line_no, raw in enumerate(content.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        row_kind = kind or ("tc" if len(fields) == 4 else "si" if len(fields) == 3 else None)
        expected = 4 if row_kind == "tc" else 3
        if row_kind is None or len(fields) != expected:
            shape = "article_id<TAB>technique<TAB>start<TAB>end" if row_kind == "tc" else _SI_SHAPE
            problem(line_no, f"expected {shape}, found {len(fields)} field(s)")
            continue
        number = fields[0].strip().removeprefix("article")
        label = fields[1].strip() if row_kind == "tc" else SPAN_LABEL
        start_raw, end_raw = fields[-2].strip(), fields[-1].strip()
        if not _NUMBER.match(number):
            problem(line_no, f"article id {fields[0]!r} is not a number")
            continue
        if not label:
            problem(line_no, "empty technique")
            continue
        if not (_NUMBER.match(start_raw) and _NUMBER.match(end_raw)):
            problem(line_no, f"offsets {start_raw!r}, {end_raw!r} are not non-negative integers")
            continue
        article = articles.get(number)
        if article is None:
            problem(line_no, f"no article{number}.txt was read for this row")
            continue
        if options.offset_unit == "utf16":
            if number not in mappers:
                mappers[number] = utf16_to_codepoint_mapper(article.text)
            start, end = mappers[number](int(start_raw)), mappers[number](int(end_raw))
        else:
            start, end = int(start_raw), int(end_raw)
        if not 0 <= start < end <= len(article.text):
            size = len(article.text)
            problem(line_no, f"span {start_raw}-{end_raw} is empty or outside article{number} ({size} chars)")
            continue
        if row_kind == "tc":
            article.has_tc = True
            article.tc.append((label, start, end))
        else:
            article.si.append((label, start, end))


def _title(text: str, fallback: str) -> str:
    """Line 1, trimmed; the first non-blank line if line 1 is blank; else the article id."""
    for line in text.split("\n"):
        title = line.strip().lstrip("\ufeff").strip()[:TITLE_MAX_CHARS].strip()
        if title:
            return title
    return fallback
