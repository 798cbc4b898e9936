"""The staging store: every line read, as Arrow columns in Parquet files, queried by an embedded DuckDB.

Validation stages each record once (the per-record verdict and the few fields the cross-record
checks need, plus the line's bytes) as Parquet files per batch (the lines cut into partitions by
article), written by whoever ran the batch — a worker process writes its own, so the driver never
touches the rows. The cross-record checks then run as set operations over these files, a
partition at a time and wherever the folder is seen (`toolkit.validation.cross`), and export reads
the accepted rows back as Arrow. DuckDB works out of core: joins, sorts and window functions stay
under `memory_limit` and spill to a temporary folder, so memory does not grow with the corpus.

The store owns one temporary folder (under `TMPDIR` unless told otherwise) holding the database
and its spill files, and removes it on every exit path. Failures of that folder (full, unwritable)
become a `ToolkitError` naming it (exit 2).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.errors import ToolkitError
from toolkit.publish import owned_directory

# DuckDB's share of the driver's memory: the 1M-article export peaked at 845 MiB with it (benchmarks/README.md).
DEFAULT_MEMORY_LIMIT = "256MB"
LINE_BITS = 40  # a read-order key is file index << LINE_BITS | line number

# data: the line as the checks see it; record: what to export when it is not the line (an article
# whose annotations are inside it is exported without them).
ARTICLE_COLUMNS = pa.schema([
    ("k", pa.int64()), ("ok", pa.bool_()), ("id", pa.string()), ("title", pa.string()), ("text", pa.string()),
    ("data", pa.binary()), ("too_long", pa.bool_()), ("record", pa.binary()),
])
# sub: 0 for an annotation line, i + 1 for the i-th annotation inside the article line k (whose
# data is then the record to export). kind: 1 = span, 2 = document, 3 = relation (null: not ok).
# annotator and label (set where ok): the per-annotator rules and agreement read them without
# parsing the records again.
ANNOTATION_COLUMNS = pa.schema([
    ("k", pa.int64()), ("sub", pa.int32()), ("ok", pa.bool_()), ("id", pa.string()), ("article_id", pa.string()),
    ("layer", pa.string()), ("kind", pa.int8()), ("no_overlap", pa.bool_()), ("single", pa.bool_()),
    ("start", pa.int64()), ("end", pa.int64()), ("field", pa.string()), ("quoted", pa.string()),
    ("head", pa.string()), ("tail", pa.string()), ("annotator", pa.string()), ("label", pa.string()),
    ("data", pa.binary()), ("too_long", pa.bool_()),
])

# Duplicate detection and grouped splits (toolkit/hygiene), one row per article that passed its own
# checks: exact-text hash, normalised URL, title within its source, publication time (µs, UTC) and
# the MinHash signature; its LSH band buckets; and the values of the `splits.group_by` field paths.
HYGIENE_COLUMNS = pa.schema([
    ("k", pa.int64()), ("id", pa.string()), ("exact", pa.int64()), ("url", pa.string()), ("title_key", pa.string()),
    ("published", pa.int64()), ("sig", pa.binary()),
])
BAND_COLUMNS = pa.schema([("k", pa.int64()), ("band", pa.int16()), ("bucket", pa.int64())])
# Annotation ids and their articles, partitioned by the annotation id: the one cross-record rule
# that spans articles (an annotation id used twice) is checked partition by partition over it.
ANNOTATION_ID_COLUMNS = pa.schema([("id", pa.string()), ("article_id", pa.string())])
GROUP_KEY_COLUMNS = pa.schema([("k", pa.int64()), ("key", pa.string())])
# Duplicate detection's candidates (the first read of each id), one table per key it compares, each
# cut into partitions by that key: written by a task per article partition, read by a task per key
# partition (toolkit/hygiene/duplicates.py). And the articles that take no part in the LSH search
# (second reads of an id, exact copies but the first), which every bucket partition's task reads.
CANDIDATE_COLUMNS = {
    "cand_exact": pa.schema([("k", pa.int64()), ("id", pa.string()), ("key", pa.int64())]),
    "cand_url": pa.schema([("k", pa.int64()), ("id", pa.string()), ("key", pa.string())]),
    "cand_title": pa.schema([("k", pa.int64()), ("id", pa.string()), ("key", pa.string())]),
}
EXCLUDED_COLUMNS = pa.schema([("k", pa.int64())])
# The exact, URL and title clusters the key partitions found: every member's read-order key and id.
CLUSTER_COLUMNS = pa.schema([("kind", pa.string()), ("cluster", pa.int64()), ("k", pa.int64()), ("id", pa.string())])

_ACCEPTED_ARTICLES = pa.schema([("k", pa.int64()), ("id", pa.string()), ("data", pa.binary())])
_ACCEPTED_ANNOTATIONS = pa.schema([("k", pa.int64()), ("sub", pa.int32()), ("article_id", pa.string()),
                                   ("data", pa.binary())])
# The export's plan: every accepted article's key, id and split (written by the split plan's task per
# partition, partitioned like the articles, so that each partition's records are gathered where they are).
PLAN_COLUMNS = pa.schema([("k", pa.int64()), ("id", pa.string()), ("split", pa.string())])
# The articles of groups of two or more (related: copies, one URL, one story id...) and their group's
# split, decided by the driver over the groups alone; partitioned like the articles, so that each
# partition's task writes its part of the export plan (toolkit/hygiene/groups.py). The `splits.group_by`
# field values that more than one article has (`glink`) have the columns of `gkey`.
GROUPED_COLUMNS = pa.schema([("k", pa.int64()), ("id", pa.string()), ("root", pa.int64()), ("split", pa.string())])
# The ids of the articles in conflict (written by the driver after the resolver, partitioned like the
# articles), so that a partition's task sees which of its records are accepted as they are.
CONFLICT_COLUMNS = pa.schema([("id", pa.string())])
# Tables kept as Parquet files: the staged lines, the records the resolver accepted, the export plan,
# and duplicate detection's rows (hygiene columns, band buckets, candidates, clusters).
STAGED_COLUMNS = {"art": ARTICLE_COLUMNS, "ann": ANNOTATION_COLUMNS, "aid": ANNOTATION_ID_COLUMNS,
                  "acc_art": _ACCEPTED_ARTICLES, "acc_ann": _ACCEPTED_ANNOTATIONS, "plan": PLAN_COLUMNS,
                  "conf": CONFLICT_COLUMNS, "grouped": GROUPED_COLUMNS, "glink": GROUP_KEY_COLUMNS,
                  "hyg": HYGIENE_COLUMNS, "band": BAND_COLUMNS, "gkey": GROUP_KEY_COLUMNS,
                  **CANDIDATE_COLUMNS, "excl": EXCLUDED_COLUMNS, "dup_found": CLUSTER_COLUMNS}
# The staged lines are cut into partitions by the article they concern (an article by its id, an
# annotation by its article_id), so every cross-record rule but annotation id uniqueness can be
# checked one partition at a time, anywhere (toolkit/validation/cross.py); that one rule reads
# `aid`, partitioned by the annotation id. The resolver's accepted records, the ids in conflict and
# the export plan are cut the same way, so that agreement is measured and export gathers each
# partition's accepted records where it is (toolkit/validation/cross.py, toolkit/export/shards.py).
# Their files carry the partition in a column of their own.
PARTITIONED_BY = {"art": "id", "ann": "article_id", "aid": "id",
                  "acc_art": "id", "acc_ann": "article_id", "plan": "id", "conf": "id", "grouped": "id",
                  # Duplicate detection: an article's hygiene row with its article; its LSH band
                  # rows by bucket, and its candidate keys by key, so that articles that may be
                  # copies of each other meet in one partition (toolkit/hygiene/duplicates.py).
                  "hyg": "id", "band": "bucket", "cand_exact": "key", "cand_url": "key", "cand_title": "key",
                  # Grouped splits: the field values to group by, by value (toolkit/hygiene/groups.py).
                  "gkey": "key"}
PARTITION_COLUMN = "part"
STAGE_ROWS = 65_536  # rows per staged file a partition's task writes

_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}

STAGE_PREFIX = "news-toolkit-stage-"  # folders in TMPDIR; a killed run's are swept by the next run

_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)


def check_memory_limit(value: str) -> str:
    """A memory size DuckDB understands (512MB, 2GB, 1.5GiB), or a `ToolkitError` saying what is expected."""
    if not _SIZE.fullmatch(value.strip()):
        raise ToolkitError(f"--memory-limit '{value}' is not a size such as 512MB, 2GB or 1.5GiB")
    return value.strip()


def read_key(file_index: int, line: int) -> int:
    return (file_index << LINE_BITS) | line


def split_key(key: int) -> tuple[int, int]:
    return key >> LINE_BITS, key & ((1 << LINE_BITS) - 1)


def write_staged(folder: Path | str, table: str, batch: pa.RecordBatch, partitions: int = 1,
                 name: str | None = None) -> None:
    """Write one batch of staged rows of `table` as `<folder>/<table>/<first key>.parquet` (for the
    partitioned tables, one row group per partition; an annotation batch also writes its ids to `aid`).

    Batches cover disjoint lines, so names never collide, whichever process writes them. No
    compression: the files live only as long as the run, and are read a few times.
    """
    if name is None:
        key = batch.column(0)[0].as_py()
        # Annotations inside one article line share its key: their sub-order keeps the names apart.
        sub = f"-{batch.column('sub')[0].as_py():010d}" if "sub" in batch.schema.names else ""
        name = f"{key:020d}{sub}"
    path = Path(folder) / table / f"{name}.parquet"
    if table not in PARTITIONED_BY:
        pq.write_table(pa.Table.from_batches([batch]), path, compression="none", write_statistics=False)
        return
    _write_partitioned(path, batch, PARTITIONED_BY[table], partitions)
    if table == "ann":
        ids = batch.select(["id", "article_id"]).filter(pc.is_valid(batch.column("id")))
        if ids.num_rows:
            _write_partitioned(Path(folder) / "aid" / path.name, ids, "id", partitions)


def _write_partitioned(path: Path, batch: pa.RecordBatch, by: str, partitions: int) -> None:
    """The rows grouped by partition (read order kept inside each), one row group per partition, each
    row tagged with its partition in `part` (the only column with statistics: a reader may skip the
    other row groups without decoding them). Grouped, a partition's reader decodes little else:
    at 100k articles in 8 partitions, one partition's annotation records read in 0.022 s against
    0.060 s for all, and as fast with a filter statistics cannot answer — DuckDB filters on `part`
    first and skips the other columns' values of rows filtered out. One file per batch, not per
    partition: a file costs more to write than a row group (at 1M articles, seven files per batch
    made staging 25% slower)."""
    parts = partition_of(batch.column(by), partitions)
    order = np.argsort(parts, kind="stable")
    ordered = parts[order].astype(np.int32)
    grouped = batch.take(pa.array(order)) if partitions > 1 else batch
    tagged = pa.RecordBatch.from_arrays([*grouped.columns, pa.array(ordered)],
                                        names=[*grouped.schema.names, PARTITION_COLUMN])
    cuts = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
    with pq.ParquetWriter(path, tagged.schema, compression="none", write_statistics=[PARTITION_COLUMN]) as writer:
        for lo, hi in zip(cuts, cuts[1:], strict=False):
            writer.write_batch(tagged.slice(lo, hi - lo), row_group_size=hi - lo)


def partition_of(values: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """Each value's partition in [0, partitions): a string's `id_hash` modulo `partitions`; an integer
    (a hash already: text hashes, LSH buckets) modulo `partitions` as unsigned; nulls go to partition 0."""
    if partitions == 1 or len(values) == 0:
        return np.zeros(len(values), np.int64)
    if pa.types.is_integer(values.type):
        numbers = np.asarray(pc.fill_null(values, 0).cast(pa.int64()), np.int64).view(np.uint64)
        return (numbers % np.uint64(partitions)).astype(np.int64)
    return (id_hash(values) % np.uint64(partitions)).astype(np.int64)


def id_hash(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each string's 64-bit hash (uint64) of its UTF-8 bytes, the same in every process and on every
    machine (Python's `hash` is salted per process); nulls hash to 0.

    A polynomial hash over the bytes, vectorised (prefix sums of byte × weight, wrapping at 2**64),
    then finalised with MurmurHash3's mixer so that ids differing in one character spread out.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, np.uint64)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.cast(pa.large_string())  # 64-bit offsets whatever came in
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset:values.offset + n + 1]
    data = values.buffers()[2]
    chars = (np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]] if data is not None
             else np.zeros(0, np.uint8)).astype(np.uint64)
    lengths = np.diff(offsets)
    # Each byte's weight is _MULTIPLIER ** (its position in its string): later bytes count differently.
    positions = np.arange(len(chars), dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0], lengths)
    longest = int(lengths.max(initial=0))
    weights = np.cumprod(np.full(max(longest, 1), _MULTIPLIER, np.uint64), dtype=np.uint64)
    sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(chars * weights[positions], dtype=np.uint64)])
    h = sums[offsets[1:] - offsets[0]] - sums[offsets[:-1] - offsets[0]] + lengths.astype(np.uint64)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    if values.null_count:
        h[np.asarray(pc.is_null(values))] = 0
    return h


_MULTIPLIER = np.uint64(0x100000001B3)  # FNV's 64-bit prime: odd, so no weight is ever 0


class Queries:
    """Queries over `self.con` in a `self.guarded()` block: the driver's store and a task's database
    (`TaskStore`) answer the same calls, so code such as agreement runs unchanged in either."""

    con: duckdb.DuckDBPyConnection

    def guarded(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def execute(self, sql: str, parameters: list[Any] | None = None) -> None:
        with self.guarded():
            self.con.execute(sql, parameters or [])

    def scratch_table(self, name: str, sql: str) -> None:
        """Create (or replace) working table `name` from a query, in memory (see the constructor)."""
        self.execute(f"CREATE OR REPLACE TABLE scratch.{name} AS {sql}")
        self.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM scratch.{name}")

    def drop_scratch(self, name: str) -> None:
        self.execute(f"DROP VIEW {name}")
        self.execute(f"DROP TABLE scratch.{name}")

    def insert(self, table: str, rows: pa.Table | pa.RecordBatch) -> None:
        """Append Arrow rows (columns in the table's order) to a table of the database."""
        with self.guarded():
            self.con.register("_inserted_rows", rows)
            try:
                self.con.execute(f"INSERT INTO {table} SELECT * FROM _inserted_rows")
            finally:
                self.con.unregister("_inserted_rows")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Every row of a query whose result is small (counts, a few keys)."""
        with self.guarded():
            return self.con.execute(sql).fetchall()

    def scalar(self, sql: str) -> Any:
        with self.guarded():
            return self.con.execute(sql).fetchall()[0][0]

    def reader(self, sql: str, batch_rows: int = 8192) -> Iterator[pa.RecordBatch]:
        """The result of a query as Arrow record batches, streamed (not materialised)."""
        with self.guarded():
            cursor = self.con.cursor()  # its own stream: the caller may write while reading
            try:
                yield from cursor.sql(sql).to_arrow_reader(batch_rows)
            finally:
                cursor.close()


class TaskStore(Queries):
    """A task's own DuckDB (`open_duckdb`) seen as a store: working tables in an attached in-memory
    `scratch` database, as in `StagingStore`. Failures are `open_duckdb`'s to report."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        con.execute("ATTACH ':memory:' AS scratch")

    def guarded(self) -> AbstractContextManager[None]:
        return nullcontext()


class StagingStore(Queries):
    """Staged lines and accepted records in a temporary DuckDB database. Use as a context manager.

    Holds real state (a connection and a folder that must be removed), hence a class.
    """

    def __init__(self, directory: Path | str | None = None, memory_limit: str | None = None) -> None:
        limit = check_memory_limit(memory_limit or DEFAULT_MEMORY_LIMIT)
        # TMPDIR as given: Python's tempfile would quietly fall back to /tmp when it is unusable, and a
        # curator who points TMPDIR at a big disk wants to hear that it did not work, not fill /tmp.
        parent = Path(directory or os.environ.get("TMPDIR") or tempfile.gettempdir())
        self.parent = parent
        # An owned folder (held by a lock while in use): the next run removes what a killed one left.
        self._owner = ExitStack()
        try:
            self.folder = self._owner.enter_context(owned_directory(parent, STAGE_PREFIX))
        except ToolkitError as exc:
            raise ToolkitError(f"{parent}: cannot create the staging folder ({exc.message}); "
                               "set TMPDIR to a writable folder with free space") from None
        try:
            # An in-memory database whose blocks spill to `temp_directory` under the memory limit.
            # A database file cost a synchronous write per statement (7.7 ms against 1.0 ms, about
            # 0.3 s of every validation's fixed cost); nothing here needs to outlive the run.
            self.memory_limit = limit
            # How many partitions the staged rows are cut into (validation sets it before staging).
            self.partitions = 1
            spill = self.folder / "spill"
            spill.mkdir()
            self.con = _connect(limit, spill)
            # Working tables derived from the staged files live in an attached in-memory database:
            # never written to the database file (creating them there cost 7.9 s of 12 s of
            # cross-record checks at 100k articles), spilled to the temporary folder under the
            # memory limit like any DuckDB data, and visible to every cursor (a TEMP table is not).
            self.con.execute("ATTACH ':memory:' AS scratch")
            self.spool = self.folder / "staged"
            for name, schema in STAGED_COLUMNS.items():
                (self.spool / name).mkdir(parents=True)
                # An empty file: the views below need one to know the columns, even for no input. Named
                # to sort after every staged file ('~' after digits): DuckDB estimates a glob's rows
                # from its first file, and an empty first file made every staged table "~0 rows", so
                # joins hashed the staged side (the near-duplicate pairs' signature lookup hashed
                # every signature: +125 MiB at 200k articles).
                if name in PARTITIONED_BY:
                    schema = schema.append(pa.field(PARTITION_COLUMN, pa.int32()))
                pq.write_table(schema.empty_table(), self.spool / name / "~empty.parquet")
                self.con.execute(f"CREATE VIEW {name} AS {staged_rows(self.spool, name)}")
        except duckdb.Error as exc:
            self.close()
            raise self.error(exc) from None
        except OSError as exc:
            self.close()
            raise ToolkitError(f"{parent}: cannot write the staging files ({exc.strerror}); "
                               "set TMPDIR to a writable folder with free space") from None

    def __enter__(self) -> StagingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        con = getattr(self, "con", None)
        if con is not None:
            try:
                con.close()
            except duckdb.Error:
                pass
            self.con = None  # type: ignore[assignment]
        self._owner.close()

    def error(self, exc: BaseException) -> ToolkitError:
        return duckdb_failure(self.parent, exc)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        """Turn DuckDB and disk failures inside the block into a `ToolkitError` naming the staging folder."""
        try:
            yield
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None  # Ctrl-C reached DuckDB first: exit 130, not a store failure
        except duckdb.Error as exc:
            raise self.error(exc) from None
        except OSError as exc:
            raise ToolkitError(f"{self.parent}: cannot write the staging files ({exc.strerror}); "
                               "set TMPDIR to a writable folder with free space") from None

    # -- staging --------------------------------------------------------------------------------

    def add(self, table: str, batch: pa.RecordBatch, name: str | None = None) -> None:
        """Stage rows of `table` that a batch function handed back instead of writing them (a table
        whose first column is not a read-order key names each batch's file)."""
        if batch.num_rows:
            with self.guarded():
                write_staged(self.spool, table, batch, self.partitions, name)

    def accept(self, articles: list[tuple[int, str, bytes]], annotations: list[tuple[int, int, str, bytes]]) -> None:
        """Keep records the sequential resolver accepted, given in read order: (key, id, bytes) and
        (key, sub-order, article id, bytes)."""
        with self.guarded():
            if articles:
                write_staged(self.spool, "acc_art", _batch(articles, _ACCEPTED_ARTICLES), self.partitions)
            if annotations:
                write_staged(self.spool, "acc_ann", _batch(annotations, _ACCEPTED_ANNOTATIONS), self.partitions)


@dataclass(frozen=True)
class PartitionJob:
    """What every partition's check needs: the staged rows' folder, DuckDB's memory limit, the folder
    to spill to, and the staging folder's parent (which a failure names)."""

    spool: str
    memory_limit: str
    spill: str
    parent: str
    partitions: int = 1  # how many there are (a task that stages rows cuts them the same way)

    def connect(self, step: str, partition: int) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """The DuckDB of one task of `step` on `partition`: under the memory limit, spilling to a
        folder of the task's own (`open_duckdb`)."""
        return open_duckdb(self.memory_limit, Path(self.spill) / f"{step}{partition:05d}", self.parent)

    def stage(self, con: duckdb.DuckDBPyConnection, query: str, table: str, name: str) -> None:
        """Write the rows of a task's `query` as staged files of `table`, a batch per file named `name`
        and its number (a task run again rewrites the same files)."""
        for number, batch in enumerate(con.sql(query).to_arrow_reader(STAGE_ROWS)):
            if batch.num_rows:
                write_staged(self.spool, table, batch.cast(STAGED_COLUMNS[table]), self.partitions,
                             name=f"{name}-{number:010d}")


def partition_job(store: StagingStore) -> PartitionJob:
    """Where the partitions' tasks find the staged rows, and how their DuckDB runs, for `store`."""
    return PartitionJob(str(store.spool), store.memory_limit, str(store.folder / "spill"), str(store.parent),
                        store.partitions)


def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                                      schema=schema)


def staged_rows(spool: Path | str, table: str, partition: int | None = None) -> str:
    """A query of the staged rows of `table`: all of them, or one partition's."""
    pattern = sql_text(str(Path(spool) / table / "*.parquet"))
    if table not in PARTITIONED_BY:
        return f"SELECT * FROM read_parquet('{pattern}')"
    where = "" if partition is None else f" WHERE {PARTITION_COLUMN} = {int(partition)}"
    return f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM read_parquet('{pattern}'){where}"


def duckdb_failure(parent: Path | str, exc: BaseException) -> ToolkitError:
    """A DuckDB failure as the one line a user can act on (most are the staging folder's, under `parent`)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ToolkitError(f"the staging database ran out of memory ({text}); raise --memory-limit, "
                            f"or give it more room to spill under {parent}")
    return ToolkitError(f"{parent}: the staging database failed ({text}); "
                        "set TMPDIR to a writable folder with free space")


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """A connection's memory limit in bytes (DuckDB shows it as '244.1 MiB')."""
    number, unit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].split()
    return int(float(number) * _UNITS[unit])


# A task's DuckDB memory per thread: its threads scan row groups of whole lines (texts, records) and
# those buffers do not spill. At 50k articles the export's gathering ran out of 128MB with two
# threads and passed with one; so one thread per this much of the memory limit (256MB: two).
TASK_THREAD_BYTES = 96 << 20


@contextmanager
def open_duckdb(memory_limit: str, spill: Path, parent: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB of its own for a worker's task: in memory, spilling to `spill` (removed afterwards),
    with a thread per `TASK_THREAD_BYTES` of its memory limit (at least one; at most the cores).

    Its failures become the `ToolkitError` the driver's store would raise (naming `parent`, the
    staging folder's parent): the task may run in a process that cannot send a DuckDB error back.
    """
    try:
        spill.mkdir(parents=True, exist_ok=True)
        con = _connect(memory_limit, spill)
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        con.execute(f"SET threads = {max(1, min(threads, memory_limit_bytes(con) // TASK_THREAD_BYTES))}")
    except duckdb.Error as exc:
        raise duckdb_failure(parent, exc) from None
    try:
        yield con
    except duckdb.Error as exc:
        raise duckdb_failure(parent, exc) from None
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _connect(memory_limit: str, spill: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory database whose blocks spill to `spill` under `memory_limit`."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{sql_text(memory_limit)}'")
    con.execute(f"SET temp_directory = '{sql_text(str(spill))}'")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def sql_text(value: str) -> str:
    """`value` for use inside a single-quoted SQL string."""
    return value.replace("'", "''")
