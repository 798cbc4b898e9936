"""A disk-backed store of the valid records seen so far, so memory does not grow with the corpus.

Annotations in separate files need their article's title and text (span checks) and, for export,
every article needs its annotations: both are lookups by article id into data far larger than
memory should hold. SQLite (stdlib, one temporary file) answers them with bounded memory.
The database is in WAL mode so that batch workers (`toolkit.precheck`) can read the articles
through their own read-only connections while the driver goes on writing annotations.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from toolkit.precheck import ArticleTexts

_FLUSH_ROWS = 4096


class RecordStore:
    """Valid articles (id, title, text, record) and annotations (article id, record) in insertion order.

    Records are stored as the JSON bytes the caller gives. Holds real state (a database, rows
    waiting to be inserted in one statement, a cache of recently used articles), hence a class.
    Use as a context manager.
    """

    def __init__(self, directory: Path | None = None, keep_records: bool = True) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="news-toolkit-", dir=directory)
        self.path = Path(self._dir.name) / "records.sqlite"
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.executescript(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            CREATE TABLE articles (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, title TEXT, text TEXT,
                                   record BLOB);
            CREATE UNIQUE INDEX articles_id ON articles (id);
            CREATE TABLE annotations (seq INTEGER PRIMARY KEY, article_id TEXT NOT NULL, records BLOB);
            BEGIN;
            """
        )
        self.keep_records = keep_records
        self._texts = ArticleTexts(self._db)
        self._articles: list[tuple[str, str, str, bytes | None]] = []  # waiting for one INSERT
        self._annotations: list[tuple[str, bytes]] = []  # (article id, its consecutive records)
        self._annotations_indexed = False

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def add_article(self, article_id: str, title: str, text: str, record: bytes) -> None:
        self.add_articles([(article_id, title, text, record)])

    def add_articles(self, rows: list[tuple[str, str, str, bytes]]) -> None:
        """Add (id, title, text, record) rows, in read order."""
        if not self.keep_records:
            rows = [(i, title, text, None) for i, title, text, _ in rows]  # type: ignore[misc]
        self._articles.extend(rows)
        if len(self._articles) >= _FLUSH_ROWS:
            self._flush()

    def add_annotation(self, article_id: str, record: bytes) -> None:
        self.add_annotations([(article_id, record)])

    def add_annotations(self, rows: list[tuple[str, bytes]]) -> None:
        """Add (article id, record) rows, in read order (kept only when the store keeps records).

        Consecutive records of the same article — the usual layout of annotation files — are
        stored as one row, their lines joined by newlines (a JSON line holds no newline byte):
        an order of magnitude fewer rows to insert, index and read back.
        """
        if not self.keep_records or not rows:
            return
        runs = self._annotations
        run_article, run = rows[0][0], [rows[0][1]]
        for article_id, record in islice(rows, 1, None):
            if article_id == run_article:
                run.append(record)
            else:
                runs.append((run_article, b"\n".join(run)))
                run_article, run = article_id, [record]
        runs.append((run_article, b"\n".join(run)))
        if len(runs) >= _FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._articles:
            self._db.executemany("INSERT INTO articles (id, title, text, record) VALUES (?, ?, ?, ?)", self._articles)
            self._articles = []
        if self._annotations:
            self._db.executemany("INSERT INTO annotations (article_id, records) VALUES (?, ?)", self._annotations)
            self._annotations = []

    def fields(self, article_id: str) -> tuple[str, str] | None:
        """(title, text) of a stored article, or None; recently used articles are served from memory."""
        if self._articles:
            self._flush()
        return self._texts.get(article_id)

    def commit(self) -> None:
        """Make everything added so far visible to other connections and indexed for the export's lookups."""
        self._flush()
        self._db.execute("COMMIT")
        if not self._annotations_indexed:
            self._db.execute("CREATE INDEX annotations_article ON annotations (article_id, seq)")
            self._annotations_indexed = True
        self._db.execute("BEGIN")

    def count_articles(self) -> int:
        self._flush()
        return self._db.execute("SELECT count(*) FROM articles").fetchone()[0]

    def iter_articles_with_annotations(self) -> Iterator[tuple[str, bytes, list[bytes]]]:
        """(id, record, [annotation records in read order]) for every article, in read order.

        One merge pass over two sorted cursors instead of a query per article.
        """
        self._flush()
        annotations = self._db.execute(
            "SELECT a.seq, n.records FROM annotations n JOIN articles a ON a.id = n.article_id "
            "ORDER BY a.seq, n.seq"
        )
        pending = next(annotations, None)
        for seq, article_id, record in self._db.execute("SELECT seq, id, record FROM articles ORDER BY seq"):
            mine: list[bytes] = []
            while pending is not None and pending[0] == seq:
                mine.extend(pending[1].split(b"\n"))
                pending = next(annotations, None)
            yield article_id, record, mine
