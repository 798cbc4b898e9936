"""Exports: validate, then write Parquet, JSON Lines or a Hugging Face build, atomically.

`export()` is the public entry point. A format is one module with a `write(context) -> list[Path]`
function and one line in `FORMATS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from toolkit.arrow_types import RowPlan, row_plan
from toolkit.engines import Engine, EngineOptions, open_engine
from toolkit.errors import ToolkitError
from toolkit.export.labels import write_labels
from toolkit.export.rows import ANNOTATORS, Annotators, BuildStats
from toolkit.manifest import Manifest, load_manifest
from toolkit.publish import (
    EXPORT_KINDS,
    MARKER,
    held_target,
    publish,
    read_marker,
    remove_output,
    sha256_file,
    staging_directory,
    write_marker,
)
from toolkit.readers import DEFAULT_MAX_LINE_BYTES
from toolkit.store import StagingStore
from toolkit.validation import ValidationReport, run_validation

Format = Literal["hf", "parquet", "jsonl"]
Progress = Callable[[int, int], None]


@dataclass
class BuildContext:
    """Everything a format writer needs: the manifest, the valid records, where to write."""

    manifest: Manifest
    store: StagingStore
    plan: RowPlan
    staging: Path
    stats: BuildStats
    engine: Engine
    jsonl_compression: str = "none"
    on_progress: Progress | None = None
    digests: dict[Path, str] = field(default_factory=dict)
    annotators: Annotators = "all"  # sha256 of files already hashed (each file once)
    # The report's agreement rows when the build holds exactly the accepted records (then measuring
    # again over the build's articles would give the same rows; at 100k articles that was ~10 s).
    agreement: list | None = None


@dataclass(frozen=True)
class ExportResult:
    """What `export` did: the validation report, and the build folder (None when nothing was written)."""

    report: ValidationReport
    output: Path | None
    files: tuple[Path, ...] = ()
    rejects: Path | None = None
    stats: BuildStats | None = None
    empty: bool = False  # nothing written because no article was accepted (a build would hold no rows)


def _formats() -> dict[str, Callable[[BuildContext], list[Path]]]:
    from toolkit.export import hf, jsonl, parquet

    return {"hf": hf.write, "parquet": parquet.write, "jsonl": jsonl.write}


def output_folder(manifest: Manifest, fmt: Format, out_dir: Path) -> Path:
    """Where a format's build goes: `<out>/<name>` for hf, `<out>/<name>-<format>` otherwise."""
    return out_dir / (manifest.name if fmt == "hf" else f"{manifest.name}-{fmt}")


def write_checksums(root: Path, files: list[Path], known: dict[Path, str] | None = None) -> Path:
    """`SHA256SUMS` in the format `sha256sum -c` reads, paths relative to the build root.

    `known` digests (computed for Croissant) are reused: a shard of hundreds of MB is read once.
    """
    known = known or {}
    lines = [f"{known.get(p) or sha256_file(p)}  {p.relative_to(root).as_posix()}\n" for p in sorted(files)]
    target = root / "SHA256SUMS"
    target.write_text("".join(lines), encoding="utf-8")
    return target


def previous_build(previous: Path | str) -> Path:
    """`previous` if it is a news-toolkit export build (any format); else `ToolkitError` (exit 2) naming it."""
    folder = Path(previous)
    marker = read_marker(folder) if folder.is_dir() else None
    if marker is None or marker.get("kind") not in EXPORT_KINDS or not (folder / "data" / "articles").is_dir():
        raise ToolkitError(f"{folder}: --previous must be a build written by news-toolkit export "
                           f"(a folder with {MARKER} and data/articles/)")
    return folder


def build_version(build: Path) -> str | None:
    """The dataset version a build was made from: Croissant's `version` (hf builds), else the card's configs'."""
    try:
        version = json.loads((build / "croissant.json").read_text(encoding="utf-8")).get("version")
        if isinstance(version, str) and version:
            return version
    except (OSError, ValueError, AttributeError):
        pass  # parquet and jsonl builds carry no Croissant; their minimal card is tried next
    try:
        front = (build / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[0].removeprefix("---\n")
        configs = yaml.safe_load(front).get("configs") or []
        return next((str(c["version"]) for c in configs if isinstance(c, dict) and c.get("version")), None)
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None


def record_changes(staging: Path, previous: Path, temp_dir: Path | str | None) -> None:
    """Add "Changes since <version>" to the staged card, comparing the staged data with `previous`.

    Runs before the new build is published, so `previous` may be the very folder it replaces.
    """
    from toolkit.diff import diff_builds
    from toolkit.export.card import changes_section, insert_section

    card = staging / "README.md"
    change = diff_builds(previous, staging, temp_dir=temp_dir)
    section = changes_section(change, build_version(previous))
    card.write_text(insert_section(card.read_text(encoding="utf-8"), section), encoding="utf-8")


def export(
    path: Path | str,
    *,
    format: Format = "hf",
    out_dir: Path | str = "dist",
    skip_invalid: bool = False,
    jsonl_compression: str = "none",
    annotators: Annotators = "all",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_validate_progress: Progress | None = None,
    on_write_progress: Progress | None = None,
    engine: EngineOptions | None = None,
    temp_dir: Path | str | None = None,
    memory_limit: str | None = None,
    allow_outside: bool = False,
    previous: Path | str | None = None,
) -> ExportResult:
    """Validate the dataset at PATH and, if every record is valid (or `skip_invalid`), write a build.

    The build goes to `output_folder(...)`, written beside it and renamed into place, so a failed
    or interrupted export leaves the previous build untouched. With `skip_invalid`, invalid
    records go to `<out>/<name>.rejects/` beside the build and are not exported; without it, any
    invalid record means nothing is written (`result.output is None`). `engine` says where the
    per-batch work runs (default: a process per core); the build is byte-identical whatever runs it.
    The staging database lives in `temp_dir` (default: TMPDIR) under `memory_limit` (e.g. '2GB').
    Inputs must be inside the manifest's folder unless `allow_outside`.
    With `previous` (an earlier build, possibly the one this export replaces), the card gets a
    "Changes since <its version>" section.
    Raises `ToolkitError` (exit code 2) for an unreadable dataset, an unknown format or a `previous`
    that is not a news-toolkit build (checked before any work).
    """
    writers = _formats()
    previous = previous_build(previous) if previous is not None else None
    if format not in writers:
        raise ToolkitError(f"unknown format '{format}' (choose from {', '.join(writers)})")
    if annotators not in ANNOTATORS:
        raise ToolkitError(f"unknown annotators '{annotators}' (choose from {', '.join(ANNOTATORS)})")
    if jsonl_compression not in ("none", "gz", "zst"):
        raise ToolkitError(f"unknown JSONL compression '{jsonl_compression}' (choose none, gz or zst)")
    manifest = load_manifest(path, allow_outside=allow_outside)
    out = Path(out_dir)
    target = output_folder(manifest, format, out)
    rejects_target = out / f"{manifest.name}.rejects"
    try:
        plan = row_plan(manifest)
    except ValueError as exc:
        raise ToolkitError(f"{manifest.path}: {exc}") from None
    # Both targets are held (locked, checked, leftovers of killed runs undone) before any work,
    # so a refusal or a concurrent run is reported at once, not after validating.
    inputs = (manifest.root, *manifest.article_files, *manifest.annotation_files)
    hold_rejects = (held_target(rejects_target, inputs=inputs, kind="rejects", name=manifest.name) if skip_invalid
                    else nullcontext())
    stage_rejects = staging_directory(rejects_target) if skip_invalid else nullcontext(None)
    hold_target = held_target(target, inputs=inputs, kind=format, name=manifest.name)
    with (hold_target, hold_rejects, StagingStore(temp_dir, memory_limit) as store,
          stage_rejects as rejects_staging, open_engine(engine, manifest.input_bytes()) as running):
        report = run_validation(
            manifest, store, running, rejects_dir=rejects_staging,
            max_line_bytes=max_line_bytes, on_progress=on_validate_progress, rejects_shown_as=rejects_target,
        )
        if not report.ok and not skip_invalid:
            return ExportResult(report=report, output=None)
        if not store.scalar("SELECT EXISTS (SELECT 1 FROM accepted_article_ids)"):
            # No article to build from (an empty dataset, or every article rejected or dropped): no
            # reader could load a build without rows, so none is written; the rejects are.
            published = None
            if rejects_staging is not None and not report.ok:
                publish(rejects_staging, rejects_target, kind="rejects", name=manifest.name)
                published = rejects_target
            return ExportResult(report=report, output=None, rejects=published, empty=True)
        stats = BuildStats(kept_annotators=annotators)
        with staging_directory(target) as staging:
            # Every accepted record goes into the build unless annotators are filtered (copies left out
            # under `duplicates: drop` are not accepted in the first place).
            same_records = annotators == "all"
            context = BuildContext(manifest, store, plan, staging, stats, running, jsonl_compression, on_write_progress,
                                   annotators=annotators,
                                   agreement=report.agreement if same_records else None)
            files = writers[format](context)
            if previous is not None:  # before SHA256SUMS, which covers the card
                record_changes(staging, previous, temp_dir)
            files.append(write_labels(staging, manifest))  # label names for every reader, in every format
            files.append(write_marker(staging, format, manifest.name))  # before SHA256SUMS, which covers every file
            files.append(write_checksums(staging, files, context.digests))
            publish(staging, target, kind=format, name=manifest.name)
        final = tuple(target / f.relative_to(staging) for f in files)
        if rejects_staging is not None and not report.ok:
            publish(rejects_staging, rejects_target, kind="rejects", name=manifest.name)
        elif rejects_staging is not None and rejects_target.exists():
            # Every record is valid now: rejects of an earlier run beside the build would mislead.
            remove_output(rejects_target, kind="rejects", name=manifest.name)
    rejects = rejects_target if (not report.ok and rejects_target.exists()) else None
    return ExportResult(report=report, output=target, files=final, rejects=rejects, stats=stats)
