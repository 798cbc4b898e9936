"""Data-defined shards, written by the engine's workers: the export's one pass over the accepted records.

The driver numbers the accepted articles in read order and cuts each split into shards of about
`SHARD_SOURCE_BYTES` of records (an article and its annotations, as validated), of equal size, so
which shard an article lands in depends on the data alone. The driver streams each config's
records out of DuckDB as Arrow batches into one staging file per shard (`_copy_by_shard`).
A worker then reads one shard, puts it back in read order, builds its rows batch by batch
(`rows.build_batch`) and writes its Parquet or JSON Lines files. The driver receives statistics
and file names only, and gives the files their final `<split>-NNNNN-of-NNNNN` names, split by split
in shard order. So the bytes depend neither on the engine nor on the number of workers, and no
record becomes a Python object in the driver.

Workers that cannot see the staging folder (Ray nodes on other machines without
`--shared-storage`) get their shard's records in the task and hand back the files' bytes.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from toolkit.engines import Engine
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
from toolkit.splits import SPLIT_ORDER
from toolkit.store import StagingStore

# A shard's records as validated (JSON): Parquet with zstd comes to a fifth to a third of that. Big
# enough that a shard's fixed costs do not show, small enough that a 100k-article corpus (~300 MB)
# gives the workers of one machine several shards to share, and a worker holds one shard at a time.
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
    articles: tuple[str, ...] = ()  # Arrow files of (rn, id, data)
    annotations: tuple[str, ...] = ()  # Arrow files of (rn, k, sub, data)
    out: str | None = None  # the folder the worker writes into; None: it sends the files' bytes back
    tables: tuple[pa.Table, pa.Table] | None = None  # (articles, annotations) when the files are out of reach


@dataclass
class WrittenShard:
    """A worker's answer: the shard's statistics and, per config, its files in order (paths, or bytes)."""

    stats: BuildStats
    files: dict[str, list[str]] = field(default_factory=dict)
    contents: dict[str, list[bytes]] = field(default_factory=dict)
    articles: int = 0
    views: ShardViews | None = None


def write_shard(job: ShardJob, shard: Shard) -> WrittenShard:
    """Build and write the rows of one shard, in read order (run by the engine, anywhere)."""
    articles, annotations = shard.tables or _records(shard)
    articles = articles.sort_by("rn")
    annotations = annotations.sort_by([("rn", "ascending"), ("k", "ascending"), ("sub", "ascending")])
    if shard.out is not None:
        return _write_rows(job, shard, articles, annotations, Path(shard.out))
    with tempfile.TemporaryDirectory(prefix="news-toolkit-shard-") as folder:
        written = _write_rows(job, shard, articles, annotations, Path(folder))
        written.contents = {config: [Path(f).read_bytes() for f in files] for config, files in written.files.items()}
        written.files = {config: [Path(f).name for f in files] for config, files in written.files.items()}
        return written


# The columns of the shards' record files (a shard without annotations has no such file).
_COLUMNS = {
    "articles": pa.schema([("rn", pa.int64()), ("id", pa.string()), ("data", pa.binary())]),
    "annotations": pa.schema([("rn", pa.int64()), ("k", pa.int64()), ("sub", pa.int64()), ("data", pa.binary())]),
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
    numbers = articles.column("rn").to_numpy()
    # Each article's annotations are the run of rows carrying its number.
    bounds = np.searchsorted(annotations.column("rn").to_numpy() if annotations.num_rows else np.zeros(0, np.int64),
                             np.append(numbers, numbers[-1] + 1)).tolist()
    for start in range(0, len(numbers), BATCH_ARTICLES):
        end = min(start + BATCH_ARTICLES, len(numbers))
        ids = articles.column("id").slice(start, end - start).to_pylist()
        records = articles.column("data").slice(start, end - start).to_pylist()
        first, last = bounds[start], bounds[end]
        notes = annotations.column("data").slice(first, last - first).to_pylist() if last > first else []
        yield [(ids[i], records[i], notes[bounds[start + i] - first:bounds[start + i + 1] - first], split)
               for i in range(end - start)]


# Per accepted article: the bytes of its record and its annotations' records. A narrow table of
# its own, so that no later join, sort or window carries the records (at 200k articles a window
# over the joined rows ran out of the 256MB memory limit).
_SIZES = """
SELECT a.k, a.id, a.bytes + coalesce(n.bytes, 0) AS bytes
FROM (SELECT k, id, octet_length(data) AS bytes FROM accepted_articles) a
LEFT JOIN (SELECT article_id, sum(octet_length(data)) AS bytes FROM accepted_annotations GROUP BY article_id) n
    ON n.article_id = a.id
"""

# Per accepted article in read order: its number, split and shard — the split cut into equal runs
# of bytes, as many as `SHARD_SOURCE_BYTES` asks — and the shard's number in the build.
_PLAN = """
CREATE OR REPLACE TABLE export_articles AS
WITH sized AS (
    SELECT row_number() OVER (ORDER BY z.k) - 1 AS rn, z.k, z.id, s.split, z.bytes
    FROM scratch.export_sizes z JOIN article_split s USING (k)),
running AS (
    SELECT *, sum(bytes) OVER (PARTITION BY split ORDER BY rn) - bytes AS before,
           sum(bytes) OVER (PARTITION BY split) AS total FROM sized),
numbered AS (
    SELECT rn, k, id, split, CAST(floor(before * ceil(total / {target}) / total) AS BIGINT) AS shard FROM running)
-- n: the shard's place in the build, split by split ({splits}), then by shard.
SELECT *, dense_rank() OVER (ORDER BY list_position([{splits}], split), shard) - 1 AS n FROM numbered
"""


def plan_shards(store: StagingStore, folder: Path) -> list[Shard]:
    """Number and cut the accepted articles, copy each shard's records under `folder`; the shards in
    split order, then shard order (the order their files take in the build)."""
    store.scratch_table("export_sizes", _SIZES)
    store.execute(_PLAN.format(target=SHARD_SOURCE_BYTES, splits=", ".join(f"'{name}'" for name in SPLIT_ORDER)))
    store.drop_scratch("export_sizes")
    copies = {
        "articles": "SELECT e.n, e.rn, e.id, a.data FROM accepted_articles a JOIN export_articles e USING (k)",
        "annotations": "SELECT e.n, e.rn, a.k, a.sub::BIGINT AS sub, a.data "
                       "FROM accepted_annotations a JOIN export_articles e ON e.id = a.article_id",
    }
    files = {config: _copy_by_shard(store, sql, folder / config) for config, sql in copies.items()}
    return [Shard(split, shard, *(_held(files[config], n) for config in ("articles", "annotations")))
            for n, split, shard in store.rows("SELECT DISTINCT n, split, shard FROM export_articles ORDER BY n")]


def _held(files: dict[int, str], number: int) -> tuple[str, ...]:
    return (files[number],) if number in files else ()


def _copy_by_shard(store: StagingStore, sql: str, folder: Path) -> dict[int, str]:
    """Stream the rows of `sql` (shard number `n` first) from the store into one Arrow file per shard
    under `folder`; shard number → file.

    The driver only moves Arrow batches here (no row becomes a Python object), each batch's rows
    of a shard appended to that shard's file as they come: memory holds one batch. (DuckDB's own
    partitioned COPY buffered 524,288 rows per shard, out of the memory limit at 200k articles,
    and with smaller buffers hung at 1M.)
    """
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for batch in store.reader(sql):
            numbers = batch.column(0).to_numpy()
            rows = batch.drop_columns([batch.schema.names[0]])
            for shard in np.unique(numbers).tolist():
                if shard not in writers:
                    writers[shard] = pa.ipc.new_file(folder / f"{shard}.arrow", rows.schema)
                writers[shard].write_batch(rows.filter(pa.array(numbers == shard)))
    finally:
        for writer in writers.values():
            writer.close()
    return {shard: str(folder / f"{shard}.arrow") for shard in writers}


def write_shards(
    store: StagingStore,
    context: RowContext,
    engine: Engine,
    stats: BuildStats,
    make_writer: WriterFactory,
    data: Path,
    suffix: str,
    on_progress: Callable[[int, int], None] | None = None,
    views: list[ViewJob] | None = None,
) -> dict[str, dict[str, list[Path]]]:
    """Write every config's rows as `<data>/<config>/<split>-NNNNN-of-NNNNN<suffix>`; config → split → files.

    With `views` (Hub builds), each shard's worker also writes the shard's part of every view, and
    each view's report is merged from the shards' in order. Splits without rows get no files (and
    no entry), so no config points at an empty glob.
    """
    stats.split_plan = plan_splits(store, context.splits)
    work = store.folder / "export"
    planned = plan_shards(store, work / "records")
    total = store.scalar("SELECT count(*) FROM export_articles")
    done = 0
    pieces: dict[tuple[str, str], list[Path | bytes]] = {}
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
                pieces.setdefault((config, shard.split), []).extend(made)
            done += written.articles
            if on_progress is not None:
                on_progress(done, total)
    result: dict[str, dict[str, list[Path]]] = {}
    for config in [*CONFIGS, *reports]:
        for split in SPLIT_ORDER:
            if pieces.get((config, split)):
                result.setdefault(config, {})[split] = _place(pieces[(config, split)], data / config, split, suffix)
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
