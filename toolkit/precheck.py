"""The per-record half of validation: checks that need no other record, run in batches on any engine.

`precheck(context, lines)` looks at each line of a batch alone — JSON, JSON Schema, real dates,
layer and label declared, offsets present or absent as the layer says, and for spans the offsets
and quoted text against the article (read from the store's database) — and returns, per line,
either the few fields the cross-record checks need or None. None only means "take the careful
path": `validate.py` then re-reads that line and explains every problem. A line that passes here
still goes through the cross-record checks (ids, references, overlaps) in the driver, in read
order, so the verdicts do not depend on how the batches were run.

These functions are pure given their arguments (the article database is read-only here), which
is what lets the local process pool and Ray run them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from toolkit.manifest import Layer
from toolkit.problems import RecordKind
from toolkit.readers import Block, clean_line
from toolkit.schemas import date_fields, fast_validator

# What a line that passed gives the driver.
ArticleKey = tuple[str, str, str]  # id, title, text
# id, article id, layer, start, end, field, head, tail
AnnotationKey = tuple[str, str, str, Any, Any, str, Any, Any]


def bad_dates(record: dict[str, Any], kind: RecordKind) -> list[tuple[str, str]]:
    """(field, value) of date fields whose value has the RFC 3339 shape but is not a real moment."""
    return [(name, record[name]) for name in date_fields(kind) if not _real_moment(record.get(name))]


def _real_moment(value: Any) -> bool:
    """False only for a string that is not a real date/time (the schema has checked its shape)."""
    if type(value) is not str:
        return True
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:  # RFC 3339 allows a lower-case t and z, which fromisoformat does not read
            parsed = datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
        except ValueError:
            return False
    if parsed.tzinfo is not None:
        try:  # exports store UTC: 0001-01-01T00:00:00+01:00 is a moment no UTC timestamp can hold
            parsed.astimezone(UTC)
        except OverflowError:
            return False
    return True


@dataclass(frozen=True)
class CheckContext:
    """What a batch needs besides its lines: the record kind, the manifest's layers, the article database."""

    kind: RecordKind
    layers: dict[str, Layer]
    max_line_bytes: int
    articles_db: str | None = None  # SQLite file of the valid articles (title, text), for span checks


class ArticleTexts:
    """(title, text) of stored articles by id, from a SQLite database, with a small cache.

    Annotations usually come grouped by article, so the last article answered is kept apart from
    the bounded LRU cache.
    """

    CACHE_SIZE = 256

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._cache: dict[str, tuple[str, str]] = {}
        self._last_id: str | None = None
        self._last: tuple[str, str] | None = None

    def get(self, article_id: str) -> tuple[str, str] | None:
        if article_id == self._last_id:
            return self._last
        hit = self._cache.pop(article_id, None)
        if hit is None:
            hit = self._db.execute("SELECT title, text FROM articles WHERE id = ?", (article_id,)).fetchone()
            if hit is None:
                return None
            if len(self._cache) >= self.CACHE_SIZE:
                del self._cache[next(iter(self._cache))]
        self._cache[article_id] = hit  # (re)inserted last: dicts keep insertion order, so this is an LRU
        self._last_id, self._last = article_id, hit
        return hit


@lru_cache(maxsize=2)
def _texts(path: str) -> ArticleTexts | None:
    """One read-only connection per process and database (workers run many batches; old ones are closed).

    None where the database cannot be read: a Ray worker on another node than the driver, when the
    temporary folder is not on a shared file system. Span annotations then get no key here and
    the driver checks them (same verdicts, less parallel work).
    """
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        db.execute("SELECT 1 FROM articles LIMIT 1")
    except sqlite3.Error:
        return None
    return ArticleTexts(db)


BLANK = False  # the key of a blank line: nothing to check, nothing to count


def precheck(context: CheckContext, block: Block) -> list[Any]:
    """Per line of the block: its key, None (take the careful path) or `BLANK`."""
    if block.cut:
        return [None]
    lines = [_cleaned(line, block.first + i, context.max_line_bytes) for i, line in enumerate(block.lines)]
    if context.kind == "article":
        return [data and _article(data) for data in lines]
    label_sets = {name: frozenset(layer.labels) for name, layer in context.layers.items()}
    texts = _texts(context.articles_db) if context.articles_db else None
    dates = tuple(date_fields("annotation"))
    # One string object per article id in the batch: pickle then sends each id once, and the
    # driver keeps one copy however many annotations name it.
    same: dict[str, str] = {}
    return [data and _annotation(data, context.layers, label_sets, texts, dates, same) for data in lines]


def _cleaned(line: bytes, number: int, max_line_bytes: int) -> bytes | None | bool:
    """The line to check; None when over-long (the careful path says so), `BLANK` when blank."""
    if number != 1 and len(line) <= max_line_bytes and line[-1:] != b"\r":  # the usual line: nothing to clean
        return line if line and not line.isspace() else BLANK
    raw = clean_line(line, number, max_line_bytes)
    if raw is None:
        return BLANK
    return None if raw.too_long else raw.data


def _article(data: bytes) -> ArticleKey | None:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    # Articles with embedded annotations always take the careful path, which checks those too.
    if type(record) is not dict or "annotations" in record or not fast_validator("article").is_valid(record):
        return None
    if not all(_real_moment(record.get(name)) for name in date_fields("article")):
        return None
    return record["id"], record["title"], record["text"]


def _annotation(
    data: bytes,
    layers: dict[str, Layer],
    label_sets: dict[str, frozenset[str]],
    texts: ArticleTexts | None,
    dates: tuple[str, ...],
    same: dict[str, str],
) -> AnnotationKey | None:
    try:
        ann = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(ann) is not dict or not fast_validator("annotation").is_valid(ann):
        return None
    layer = layers.get(ann["layer"])
    if layer is None or ann["label"] not in label_sets[layer.name]:
        return None
    for name in dates:
        if not _real_moment(ann.get(name)):
            return None
    article_id = same.setdefault(ann["article_id"], ann["article_id"])
    start, end = ann.get("start"), ann.get("end")
    field_name = "title" if ann.get("field") == "title" else "text"  # literals: shared, sent once
    if layer.kind == "span":
        fields = texts.get(article_id) if texts is not None and start is not None and end is not None else None
        if fields is None:
            return None
        value = fields[0] if field_name == "title" else fields[1]
        if not 0 <= start < end <= len(value):
            return None
        quoted = ann.get("text")
        if quoted is not None and quoted != value[start:end]:
            return None
    elif "start" in ann or "end" in ann:
        return None
    head, tail = ann.get("head"), ann.get("tail")
    if layer.kind == "relation" and (head is None or tail is None):
        return None
    return ann["id"], article_id, layer.name, start, end, field_name, head, tail
