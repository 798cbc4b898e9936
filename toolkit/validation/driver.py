"""The validation driver: read → per-record checks on an engine → staging store → cross-record checks.

Lines are read in a fixed order (article files in manifest order, then annotation files) and cut
into batches; an engine runs the per-record checks of each batch (`records.stage`, anywhere) and
the driver only moves the resulting Arrow batches into the staging store (where workers see the
staging folder they write them there themselves, partitioned by article). The cross-record checks
then run as set operations, one task per partition on the engine (one partition on one machine,
several on a cluster), and the sequential resolver judges the few records in conflict (`cross`).
Memory does not grow with the corpus: the store works out of core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from toolkit.engines import Engine, EngineOptions, open_engine
from toolkit.hygiene import duplicates
from toolkit.hygiene.staging import HygieneSpec
from toolkit.manifest import Manifest, load_manifest
from toolkit.problems import RecordKind
from toolkit.publish import refuse_input
from toolkit.readers import DEFAULT_MAX_LINE_BYTES, can_range, cut_blocks, file_size, iter_blocks, plan_ranges
from toolkit.rejects import RejectsWriter, check_rejects_folder
from toolkit.store import StagingStore
from toolkit.validation import cross
from toolkit.validation.records import StageContext, Staged, stage, stage_range
from toolkit.validation.report import ValidationReport

FAST_PATH = True  # tests switch it off: the resolver then judges every record (the reference)
# The staged lines' partitions (cross.partition_conflicts), for engines with several nodes: one per
# this many input bytes, and at least one per node, so that every node checks some and each one's
# checks fit a worker's DuckDB memory limit without much spilling. On one machine, one: DuckDB's
# threads already use every core there, and partitions cost staging time (1M articles, validate:
# seven partitions 117 s, one 111 s; their rules 20.6 s against 22.7 s, staging 74 s against 67 s).
PARTITION_BYTES = 512 << 20
MAX_PARTITIONS = 1024


def partition_count(input_bytes: int, nodes: int) -> int:
    """Partitions for an input of this size on `nodes` machines: verdicts do not depend on it, only
    where the work runs."""
    if nodes <= 1:
        return 1
    return min(MAX_PARTITIONS, max(nodes, -(-input_bytes // PARTITION_BYTES)))


def run_validation(
    manifest: Manifest,
    store: StagingStore,
    engine: Engine,
    *,
    rejects_dir: Path | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
    rejects_shown_as: Path | None = None,
) -> ValidationReport:
    """Validate every record of `manifest`, leaving the accepted ones in `store` (what export reads).

    `rejects_shown_as`: the folder error messages name when `rejects_dir` is a staging folder.

    Per-record checks run in batches on `engine`; cross-record checks run in the store.
    """
    files: list[tuple[Path, RecordKind]] = [(p, "article") for p in manifest.article_files]
    files += [(p, "annotation") for p in manifest.annotation_files]
    if rejects_dir is not None:  # before the work: a rejects file fed back as an input must not be overwritten
        check_rejects_folder(rejects_dir, {_display_name(p, manifest.root): p for p, _ in files})
    total = manifest.input_bytes()
    report = ValidationReport()
    done_before = 0
    spool = str(store.spool) if engine.shares_files else None  # else the driver writes what workers send
    # Partitions are checked where the staged files are: on the nodes when they see the staging
    # folder, else all here (cross.check_partitions), where cutting them would only cost staging time.
    partitions = partition_count(total, engine.nodes if engine.shares_files else 1)
    store.partitions = partitions  # the resolver's accepted records and the export plan are cut the same way
    hygiene = HygieneSpec.for_threshold(manifest.duplicates.threshold, manifest.splits.field_paths())
    for index, (path, kind) in enumerate(files):
        report.files.append(_display_name(path, manifest.root))
        progress = None
        if on_progress is not None:
            base = done_before

            def progress(done: int, base: int = base) -> None:
                on_progress(base + done, total)

        context = StageContext(kind, manifest.layers, max_line_bytes, index, spool,
                               hygiene if kind == "article" else None, partitions)
        with store.guarded():  # a worker that cannot write its staged rows: the staging folder's fault
            for staged in _staged(engine, context, path, progress):
                for table, batch in staged.tables.items():
                    store.add(table, batch)
        done_before += file_size(path)

    duplicates.find_duplicates(store, engine, manifest.duplicates)
    clean_articles, clean_annotations = cross.find_conflicts(store, engine, fast=FAST_PATH)
    for kind, clean in (("articles", clean_articles), ("annotations", clean_annotations)):
        report.counts[kind].read += clean
        report.counts[kind].valid += clean
    sources = dict(zip(report.files, (path for path, _ in files), strict=True))
    rejects = RejectsWriter(rejects_dir, sources, rejects_shown_as) if rejects_dir is not None else None
    try:
        cross.Resolver(manifest.layers, store, report, rejects, report.files, manifest.duplicates.policy).run()
    finally:
        if rejects is not None:
            rejects.close()
    cross.accepted_views(store)
    report.duplicates = duplicates.clusters(store)
    report.duplicate_counts = duplicates.cluster_counts(store)
    report.agreement = cross.agreement_by_partition(store, engine, manifest.layers)
    return report


def _staged(engine: Engine, context: StageContext, path: Path,
            progress: Callable[[int], None] | None) -> Iterator[Staged]:
    """The staged rows of one file, in read order: workers read byte ranges of it themselves where
    they can open it (no line passes through the driver); else the driver reads and sends the lines."""
    if engine.reads_inputs and can_range(path):
        ranges = plan_ranges(path)
        for file_range, staged in zip(ranges, engine.map(stage_range, context, ranges), strict=True):
            if progress is not None:
                progress(file_range.end)
            yield staged
        return
    yield from engine.map(stage, context, cut_blocks(iter_blocks(path, context.max_line_bytes, progress)))


def validate(
    path: Path | str,
    *,
    rejects_dir: Path | None = None,
    report_path: Path | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
    engine: EngineOptions | None = None,
    temp_dir: Path | str | None = None,
    memory_limit: str | None = None,
    allow_outside: bool = False,
) -> ValidationReport:
    """Validate the dataset at PATH (a folder holding `dataset.yaml`, or the manifest itself).

    Returns the report; `report.ok` is False when any record is invalid. Writes the JSON report to
    `report_path` and each invalid line, byte for byte, with its problems to `rejects_dir` when
    given. `engine` says where the per-record checks run (default: a process per core); the
    report is the same whatever runs them. The staging database lives in `temp_dir` (default:
    TMPDIR) under `memory_limit` (DuckDB syntax, e.g. '2GB') and is removed on every exit path.
    Raises `ToolkitError` (exit code 2) when the dataset cannot be read at all or the staging
    folder fails. Inputs must be inside the manifest's folder unless `allow_outside`.
    """
    manifest = load_manifest(path, allow_outside=allow_outside)
    inputs = [manifest.path, *manifest.article_files, *manifest.annotation_files]
    if report_path is not None:
        refuse_input(Path(report_path), inputs)  # before the work, not after an hour of it
    with StagingStore(temp_dir, memory_limit) as store, open_engine(engine, manifest.input_bytes()) as running:
        report = run_validation(
            manifest, store, running, rejects_dir=rejects_dir, max_line_bytes=max_line_bytes, on_progress=on_progress
        )
    if report_path is not None:
        report.write_json(report_path, inputs)
    return report


def _display_name(path: Path, root: Path) -> str:
    """The file as the manifest names it (a symlink's name, not its target), relative to its folder."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
