"""A disk-backed store of the valid records seen so far, so memory does not grow with the corpus.

Annotations in separate files need their article's title and text (span checks) and, for export,
every article needs its annotations: both are lookups by article id into data far larger than
memory should hold. SQLite (stdlib, one temporary file) answers them with bounded memory.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

_CACHE_SIZE = 256


class RecordStore:
    """Valid articles (id, title, text, record) and annotations (article id, record) in insertion order.

    Records are stored as the JSON bytes the caller gives. Holds real state (a database and a
    small cache of recently used articles), hence a class. Use as a context manager.
    """

    def __init__(self, directory: Path | None = None, keep_records: bool = True) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="news-toolkit-", dir=directory)
        self._db = sqlite3.connect(Path(self._dir.name) / "records.sqlite", isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            CREATE TABLE articles (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT, text TEXT,
                                   record BLOB);
            CREATE UNIQUE INDEX articles_id ON articles (id);
            CREATE TABLE annotations (seq INTEGER PRIMARY KEY, article_id TEXT NOT NULL, record BLOB);
            BEGIN;
            """
        )
        self.keep_records = keep_records
        self._cache: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._annotations_indexed = False
        self._last_id: str | None = None
        self._last: tuple[str, str] | None = None

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def add_article(self, article_id: str, title: str, text: str, record: bytes) -> None:
        self._db.execute(
            "INSERT INTO articles (id, title, text, record) VALUES (?, ?, ?, ?)",
            (article_id, title, text, record if self.keep_records else None),
        )

    def add_annotation(self, article_id: str, record: bytes) -> None:
        if self.keep_records:
            self._db.execute("INSERT INTO annotations (article_id, record) VALUES (?, ?)", (article_id, record))

    def fields(self, article_id: str) -> tuple[str, str] | None:
        """(title, text) of a stored article, or None; recently used articles are served from memory."""
        if article_id == self._last_id:  # annotations usually come grouped by article
            return self._last
        hit = self._cache.get(article_id)
        if hit is not None:
            self._cache.move_to_end(article_id)
            self._last_id, self._last = article_id, hit
            return hit
        row = self._db.execute("SELECT title, text FROM articles WHERE id = ?", (article_id,)).fetchone()
        if row is None:
            return None
        self._cache[article_id] = row
        self._last_id, self._last = article_id, row
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return row

    def commit(self) -> None:
        """Make everything added so far durable and indexed for the export's lookups."""
        self._db.execute("COMMIT")
        if not self._annotations_indexed:
            self._db.execute("CREATE INDEX annotations_article ON annotations (article_id, seq)")
            self._annotations_indexed = True
        self._db.execute("BEGIN")

    def count_articles(self) -> int:
        return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def iter_articles(self) -> Iterator[tuple[str, bytes]]:
        """(id, record) of every stored article, in the order they were read."""
        yield from self._db.execute("SELECT id, record FROM articles ORDER BY seq")

    def iter_articles_with_annotations(self) -> Iterator[tuple[str, bytes, list[bytes]]]:
        """(id, record, [annotation records in read order]) for every article, in read order.

        One merge pass over two sorted cursors instead of a query per article.
        """
        annotations = self._db.execute(
            "SELECT a.seq, n.record FROM annotations n JOIN articles a ON a.id = n.article_id "
            "ORDER BY a.seq, n.seq"
        )
        pending = next(annotations, None)
        for seq, article_id, record in self._db.execute("SELECT seq, id, record FROM articles ORDER BY seq"):
            mine: list[bytes] = []
            while pending is not None and pending[0] == seq:
                mine.append(pending[1])
                pending = next(annotations, None)
            yield article_id, record, mine
