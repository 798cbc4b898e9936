"""Data-defined shards, gathered and written by the engine's workers: the export's one pass over the accepted records.

Which shard an article lands in is a function of the data alone: its split, and a hash of its id
modulo the split's number of shards (`shard_counts`: one per `SHARD_SOURCE_BYTES` of the split's
share of the input). Rows keep read order inside a shard, and a split's files are its shards in
order; so the bytes depend neither on the engine nor on the number of workers or nodes, and a split
smaller than a shard is one file in read order.

Three steps; the driver moves keys and file names, never a record:
1. The split plan (`hygiene.groups.plan_splits`) writes the export plan — every accepted article's
   key, id and split — cut into the staged lines' partitions: the groups of related articles are
   decided on the driver (few), every other article's split by a task per partition.
2. A task per partition (`gather_partition`), where the staged files are seen, gathers the
   partition's accepted records (clean lines as staged, the rest as the resolver accepted them)
   into one piece file per (split, shard). An article and its annotations share a partition.
3. A task per shard (`write_shard`) reads its pieces, puts the rows in read order, builds them
   batch by batch (`rows.build_batch`) and writes its Parquet or JSON Lines files. The driver
   receives statistics and file names, and gives the files their final `<split>-NNNNN-of-NNNNN`
   names, split by split in shard order.

Workers that cannot see the staging folder (Ray nodes on other machines without
`--shared-storage`): the partitions are gathered here, where the staged rows are, and each shard's
records travel with its task; the files' bytes come back.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.engines import Engine, InProcess
from toolkit.export.rows import (
    BATCH_ARTICLES,
    CONFIGS,
    BuildStats,
    RowContext,
    SplitWriter,
    StoredArticle,
    build_batch,
)
from toolkit.export.views import ShardViews, ShardViewWriter, ViewJob, ViewPlan, merge_report, view_plan
from toolkit.hygiene.groups import plan_splits
from toolkit.publish import sha256_file
from toolkit.splits import SPLIT_ORDER
from toolkit.store import PartitionJob, StagingStore, id_hash, partition_job, staged_rows

# A shard's share of the input (JSON, `shard_counts`): Parquet with zstd comes to a fifth to a third
# of that. Big enough that a shard's fixed costs do not show, small enough that a 100k-article corpus
# (~300 MB) gives the workers of one machine several shards to share, and a worker holds one shard
# at a time.
SHARD_SOURCE_BYTES = 96 * 1024 * 1024

# Shards whose records travel with their task (workers that cannot see the staging folder) that the
# driver may hold at once: each is up to ~`SHARD_SOURCE_BYTES` of records, read and then pickled.
RECORDS_IN_FLIGHT = 4

WriterFactory = Callable[[str, str, Path], SplitWriter]  # (config, split, folder) → that config's writer


@dataclass(frozen=True)
class ShardJob:
    """What every shard's worker needs: how rows are built, and how a config's files are written."""

    rows: RowContext
    make_writer: WriterFactory
    views: ViewPlan | None = None  # the views to write from the shard's article rows (Hub builds)


@dataclass(frozen=True)
class Shard:
    """One shard of one split: its records' files (or, for workers elsewhere, the records themselves)."""

    split: str
    index: int
    articles: tuple[str, ...] = ()  # Arrow files of (k, id, data)
    annotations: tuple[str, ...] = ()  # Arrow files of (article_k, k, sub, data)
    out: str | None = None  # the folder the worker writes into; None: it sends the files' bytes back
    tables: tuple[pa.Table, pa.Table] | None = None  # (articles, annotations) when the files are out of reach


@dataclass
class WrittenShard:
    """A worker's answer: the shard's statistics and, per config, its files in order (paths, or bytes)."""

    stats: BuildStats
    files: dict[str, list[str]] = field(default_factory=dict)
    contents: dict[str, list[bytes]] = field(default_factory=dict)
    digests: dict[str, list[str]] = field(default_factory=dict)  # each file's sha256: the driver reads none
    articles: int = 0
    views: ShardViews | None = None


def write_shard(job: ShardJob, shard: Shard) -> WrittenShard:
    """Build and write the rows of one shard, in read order (run by the engine, anywhere)."""
    articles, annotations = shard.tables or _records(shard)
    articles = articles.sort_by("k")
    annotations = annotations.sort_by([("article_k", "ascending"), ("k", "ascending"), ("sub", "ascending")])
    if shard.out is not None:
        written = _write_rows(job, shard, articles, annotations, Path(shard.out))
        written.digests = {config: [sha256_file(Path(f)) for f in files] for config, files in written.files.items()}
        return written
    with tempfile.TemporaryDirectory(prefix="news-toolkit-shard-") as folder:
        written = _write_rows(job, shard, articles, annotations, Path(folder))
        written.contents = {config: [Path(f).read_bytes() for f in files] for config, files in written.files.items()}
        written.digests = {config: [hashlib.sha256(data).hexdigest() for data in contents]
                           for config, contents in written.contents.items()}
        written.files = {config: [Path(f).name for f in files] for config, files in written.files.items()}
        return written


# The columns of the shards' piece files: an article's read-order key, and each annotation's
# article's key then its own (a piece without annotations has no such file).
_COLUMNS = {
    "articles": pa.schema([("k", pa.int64()), ("id", pa.string()), ("data", pa.binary())]),
    "annotations": pa.schema([("article_k", pa.int64()), ("k", pa.int64()), ("sub", pa.int64()),
                              ("data", pa.binary())]),
}


def _records(shard: Shard) -> tuple[pa.Table, pa.Table]:
    """A shard's (articles, annotations) from its record files, in no particular order."""
    return _read(shard.articles, "articles"), _read(shard.annotations, "annotations")


def _read(files: tuple[str, ...], config: str) -> pa.Table:
    if not files:
        return _COLUMNS[config].empty_table()
    tables = []
    for path in files:
        with pa.OSFile(path) as source:  # read whole, not mapped: the file goes when the shard is written
            tables.append(pa.ipc.open_file(source).read_all())
    return pa.concat_tables(tables)


def _write_rows(job: ShardJob, shard: Shard, articles: pa.Table, annotations: pa.Table, out: Path) -> WrittenShard:
    stats = BuildStats()
    writers: dict[str, SplitWriter] = {}
    views = ShardViewWriter(job.views, shard.split, out) if job.views is not None and job.views.configs else None
    for batch in _stored(shard.split, articles, annotations):
        built = build_batch(job.rows, batch)
        for (config, split), (part, rows) in built.parts.items():
            if config not in writers:
                writers[config] = job.make_writer(config, split, out / config)
            writers[config].add(part, rows)
            if config == "articles" and views is not None:
                views.add(part)
        stats.merge(built.stats)
    files = {config: [str(p) for p in writers[config].close()] for config in CONFIGS if config in writers}
    written_views = views.close() if views is not None else None
    if written_views is not None:
        files.update(written_views.files)
    return WrittenShard(stats, files, articles=articles.num_rows, views=written_views)


def _stored(split: str, articles: pa.Table, annotations: pa.Table) -> Iterator[list[StoredArticle]]:
    """Batches of `BATCH_ARTICLES` (id, record, annotation records, split), both tables in read order."""
    if not articles.num_rows:
        return
    numbers = articles.column("k").to_numpy()
    # Each article's annotations are the run of rows carrying its key.
    bounds = np.searchsorted(annotations.column("article_k").to_numpy() if annotations.num_rows
                             else np.zeros(0, np.int64),
                             np.append(numbers, numbers[-1] + 1)).tolist()
    for start in range(0, len(numbers), BATCH_ARTICLES):
        end = min(start + BATCH_ARTICLES, len(numbers))
        ids = articles.column("id").slice(start, end - start).to_pylist()
        records = articles.column("data").slice(start, end - start).to_pylist()
        first, last = bounds[start], bounds[end]
        notes = annotations.column("data").slice(first, last - first).to_pylist() if last > first else []
        yield [(ids[i], records[i], notes[bounds[start + i] - first:bounds[start + i + 1] - first], split)
               for i in range(end - start)]


def shard_counts(articles: dict[str, int], input_bytes: int) -> dict[str, int]:
    """Split → its number of shards: one per `SHARD_SOURCE_BYTES` of its share of the input (its
    share of the build's `articles`, split → count). The input's size, not the accepted records',
    so that the count is known before any record is read; a function of the data all the same."""
    total = sum(articles.values())
    return {split: max(1, -(-input_bytes * count // (total * SHARD_SOURCE_BYTES))) for split, count in articles.items()}


@dataclass(frozen=True)
class GatherJob:
    """What every partition's gathering needs: where its rows are (and how its DuckDB runs), where
    the pieces go, and each split's number of shards."""

    where: PartitionJob
    out: str
    shards: dict[str, int]


@dataclass(frozen=True)
class Piece:
    """One partition's records of one shard: their files."""

    split: str
    shard: int
    article_file: str
    annotation_file: str | None


# The partition's accepted articles: the export plan's, clean (not judged by the resolver) as staged,
# else as the resolver accepted them; and their annotations likewise. The plan's keys first in
# DuckDB's storage: both queries join them, and they are narrow.
_KEYS = """
CREATE TABLE keys AS
SELECT p.k, p.id, p.split, r.k IS NOT NULL AS resolved FROM plan p LEFT JOIN (SELECT k FROM acc_art) r USING (k)
"""
_ARTICLES = """
SELECT e.split, e.id AS article, e.k, e.id, coalesce(a.record, a.data) AS data
FROM keys e JOIN art a USING (k) WHERE NOT e.resolved
UNION ALL
SELECT e.split, e.id, e.k, e.id, r.data FROM keys e JOIN acc_art r USING (k)
"""
_ANNOTATIONS = """
SELECT e.split, e.id AS article, e.k AS article_k, n.k, n.sub::BIGINT AS sub, n.data
FROM ann n JOIN keys e ON e.id = n.article_id WHERE n.ok AND NOT e.resolved
UNION ALL
SELECT e.split, e.id, e.k, c.k, c.sub::BIGINT, c.data FROM acc_ann c JOIN keys e ON e.id = c.article_id
"""


def gather_partition(job: GatherJob, partition: int) -> list[Piece]:
    """Write one partition's accepted records into a piece file per (split, shard) and say which
    (run by the engine, where the staging folder is seen). File names depend only on the
    partition and the shard: a task that is run again rewrites the same files."""
    folder = Path(job.out) / f"p{partition:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    where = job.where
    with where.connect("gather", partition) as con:
        for name in ("art", "ann", "acc_art", "acc_ann", "plan"):
            con.execute(f"CREATE VIEW {name} AS {staged_rows(where.spool, name, partition)}")
        con.execute(_KEYS)
        articles = _write_pieces(con, _ARTICLES, job.shards, folder, "articles")
        annotations = _write_pieces(con, _ANNOTATIONS, job.shards, folder, "annotations")
    return [Piece(split, shard, path, annotations.get((split, shard)))
            for (split, shard), path in sorted(articles.items())]


# Rows per batch read from a partition's query: a batch is cut into as many runs as it touches
# shards (all of them: shards are hashes), so bigger batches mean fewer, bigger writes. Articles
# carry their texts (~3 KB each on news), annotations a few hundred bytes: ~20 MB a batch either way.
_GATHER_ROWS = {"articles": 8192, "annotations": 65536}


def _write_pieces(con: duckdb.DuckDBPyConnection, sql: str, shards: dict[str, int], folder: Path,
                  config: str) -> dict[tuple[str, int], str]:
    """Stream the rows of `sql` (split, the article's id, then the record's columns) into one Arrow
    file per (split, shard), a batch at a time; (split, shard) → file."""
    writers: dict[tuple[str, int], pa.ipc.RecordBatchFileWriter] = {}
    try:
        for batch in con.sql(sql).to_arrow_reader(_GATHER_ROWS[config]):
            if not batch.num_rows:
                continue
            splits = pc.dictionary_encode(batch.column("split"))
            names = splits.dictionary.to_pylist()
            counts = np.array([shards[name] for name in names], np.uint64)
            codes = splits.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            shard = (id_hash(batch.column("article")) % counts[codes]).astype(np.int64)
            # One sort, then a zero-copy slice per (split, shard) run: not a filter per shard.
            key = codes * (int(counts.max()) + 1) + shard
            order = np.argsort(key, kind="stable")
            records = batch.drop_columns(["split", "article"]).take(pa.array(order)).cast(_COLUMNS[config])
            ordered = key[order]
            cuts = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
            for lo, hi in zip(cuts, cuts[1:], strict=False):
                name = (names[int(codes[order[lo]])], int(shard[order[lo]]))
                if name not in writers:
                    writers[name] = pa.ipc.new_file(folder / f"{name[0]}-{name[1]:05d}-{config}.arrow",
                                                    _COLUMNS[config])
                writers[name].write_batch(records.slice(lo, hi - lo))
    finally:
        for writer in writers.values():
            writer.close()
    return {name: str(folder / f"{name[0]}-{name[1]:05d}-{config}.arrow") for name in writers}


def plan_shards(store: StagingStore, engine: Engine, folder: Path, articles: dict[str, int],
                input_bytes: int) -> list[Shard]:
    """Gather every partition's records of the export plan (split → its `articles`) into pieces under
    `folder` (on the engine where it sees the staging folder, else here); the shards, in split
    order then shard order (the order their files take in the build)."""
    job = GatherJob(partition_job(store), str(folder), shard_counts(articles, input_bytes))
    runner = engine if engine.shares_files else InProcess()
    found: dict[tuple[str, int], list[Piece]] = {}
    for pieces in runner.map(gather_partition, job, range(store.partitions)):
        for piece in pieces:
            found.setdefault((piece.split, piece.shard), []).append(piece)
    return [Shard(split, shard, tuple(p.article_file for p in found[(split, shard)]),
                  tuple(p.annotation_file for p in found[(split, shard)] if p.annotation_file is not None))
            for split, shard in sorted(found, key=lambda key: (SPLIT_ORDER.index(key[0]), key[1]))]


def write_shards(
    store: StagingStore,
    context: RowContext,
    engine: Engine,
    stats: BuildStats,
    make_writer: WriterFactory,
    data: Path,
    suffix: str,
    input_bytes: int,
    on_progress: Callable[[int, int], None] | None = None,
    views: list[ViewJob] | None = None,
    digests: dict[Path, str] | None = None,
) -> dict[str, dict[str, list[Path]]]:
    """Write every config's rows as `<data>/<config>/<split>-NNNNN-of-NNNNN<suffix>`; config → split → files.

    `digests` gets each file's sha256 (final path → hex), computed by the worker that wrote it.

    With `views` (Hub builds), each shard's worker also writes the shard's part of every view, and
    each view's report is merged from the shards' in order. Splits without rows get no files (and
    no entry), so no config points at an empty glob.
    """
    stats.split_plan = plan_splits(store, context.splits, engine)
    work = store.folder / "export"
    with store.guarded():  # pieces written where the staging folder is: a full disk is its fault
        planned = plan_shards(store, engine, work / "records", stats.split_plan.articles, input_bytes)
    total = sum(stats.split_plan.articles.values())
    done = 0
    outputs: dict[tuple[str, str], list[Path | bytes]] = {}
    sums: dict[tuple[str, str], list[str]] = {}
    tasks = _tasks(planned, work / "out", engine.shares_files)
    views = views or []
    results = engine.map(write_shard, ShardJob(context, make_writer, view_plan(views)), tasks,
                         in_flight=None if engine.shares_files else RECORDS_IN_FLIGHT)
    reports = {job.report.config: job.report for job in views}
    view_rows_before: Counter = Counter()  # (config, split) → the view's rows in the shards merged so far
    # Workers that share the staging folder write the shards there: a full disk is its fault.
    with store.guarded() if engine.shares_files else nullcontext():
        for shard, written in zip(planned, results, strict=True):
            stats.merge(written.stats)
            if written.views is not None:
                for config, report in written.views.reports.items():
                    merge_report(reports[config], shard.split, view_rows_before[(config, shard.split)], report)
                    view_rows_before[(config, shard.split)] += written.views.rows[config]
            for config, files in written.files.items():
                made = written.contents[config] if written.contents else [Path(f) for f in files]
                outputs.setdefault((config, shard.split), []).extend(made)
                sums.setdefault((config, shard.split), []).extend(written.digests[config])
            done += written.articles
            if on_progress is not None:
                on_progress(done, total)
    result: dict[str, dict[str, list[Path]]] = {}
    for config in [*CONFIGS, *reports]:
        for split in SPLIT_ORDER:
            if outputs.get((config, split)):
                placed = _place(outputs[(config, split)], data / config, split, suffix)
                result.setdefault(config, {})[split] = placed
                if digests is not None:
                    digests.update(zip(placed, sums[(config, split)], strict=True))
    shutil.rmtree(work, ignore_errors=True)
    return result


def _tasks(planned: list[Shard], out: Path, shared: bool) -> Iterator[Shard]:
    """The shards as the workers get them: files to read and a folder to write in, or, for workers
    that cannot see the staging folder, the records themselves (read one shard at a time, as the
    engine asks for them, so the driver holds a window of shards, not the corpus)."""
    for shard in planned:
        if shared:
            yield Shard(shard.split, shard.index, shard.articles, shard.annotations,
                        str(out / shard.split / str(shard.index)))
        else:
            yield Shard(shard.split, shard.index, tables=_records(shard))


def _place(pieces: list[Path | bytes], folder: Path, split: str, suffix: str) -> list[Path]:
    """A split's files, moved (or written) to their final names in the build, numbered in order."""
    folder.mkdir(parents=True, exist_ok=True)
    final = []
    for i, piece in enumerate(pieces):
        path = folder / f"{split}-{i:05d}-of-{len(pieces):05d}{suffix}"
        if isinstance(piece, bytes):
            path.write_bytes(piece)
        else:
            shutil.move(piece, path)
        final.append(path)
    return final
