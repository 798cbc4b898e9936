"""The `news-toolkit` command: a thin skin over the library (each command calls one public function).

Exit codes: 0 success, 1 invalid records (nothing exported unless asked), 2 the command could not
run (bad manifest, unreadable path, bad option), 3 internal error (a bug: please report it),
130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from toolkit.engines import EngineOptions
from toolkit.errors import EXIT_INTERNAL, EXIT_INVALID, EXIT_OK, EXIT_USAGE, ToolkitError
from toolkit.ingest import IMPORTERS

if TYPE_CHECKING:  # imported lazily at run time: `--help` must not load trafilatura
    from toolkit.ingest.html import WebIngestResult

app = typer.Typer(
    name="news-toolkit",
    help="Validate annotated news articles and export them as Parquet, JSONL and Hugging Face datasets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        from toolkit import __version__

        typer.echo(f"news-toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Validate annotated news articles and export them as Parquet, JSONL and Hugging Face datasets.

    Exit codes: 0 success; 1 invalid records; 2 the command could not run; 3 internal error; 130 interrupted.
    """

DatasetPath = Annotated[Path, typer.Argument(help="Dataset folder holding dataset.yaml, or the manifest file.")]
Workers = Annotated[int, typer.Option(min=0, help="Worker processes (local engine); 0: one per core.")]
class Engine(StrEnum):
    local = "local"
    ray = "ray"


class ExportFormat(StrEnum):
    hf = "hf"
    parquet = "parquet"
    jsonl = "jsonl"


class Compression(StrEnum):
    none = "none"
    gz = "gz"
    zst = "zst"


class Annotators(StrEnum):
    all = "all"
    human = "human"
    model = "model"


class OffsetUnit(StrEnum):
    codepoint = "codepoint"
    utf16 = "utf16"


# The importer registry's names (its modules are imported only when used): `--help` lists them.
Tool = StrEnum("Tool", [(name, name) for name in IMPORTERS])

EngineName = Annotated[Engine, typer.Option("--engine", help="Where batches run: local (processes here) or ray.")]
RayAddress = Annotated[
    str | None,
    typer.Option(metavar="ADDR", help="Ray cluster to use with --engine ray (default: RAY_ADDRESS, else a local Ray)."),
]

SharedStorage = Annotated[
    bool,
    typer.Option(help="With --engine ray: every node sees the inputs and TMPDIR at the same paths (a shared "
                      "filesystem), so workers read and stage records without the driver."),
]


AllowOutside = Annotated[
    bool, typer.Option(help="Read inputs outside the dataset folder (absolute paths, '..', symlinks leading out).")
]
MemoryLimit = Annotated[
    str | None,
    typer.Option(metavar="SIZE",
                 help="Memory the staging database may use before it spills to TMPDIR, e.g. 2GB (default 256MB)."),
]


def _engine(engine: Engine, workers: int, ray_address: str | None, shared_storage: bool = False) -> EngineOptions:
    return EngineOptions(engine=engine.value, workers=workers, ray_address=ray_address,  # type: ignore[arg-type]
                         shared_storage=shared_storage)


def _guard(work: Callable[[], T]) -> T:
    """Run library work; a user-facing failure becomes one line on stderr and its exit code."""
    from toolkit.console import err, error_line

    try:
        return work()
    except ToolkitError as exc:
        err.print(error_line(exc.message))
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(error_line(f"{where}{exc.strerror or exc}"))
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        err.print(error_line("", "interrupted"))
        raise typer.Exit(130) from None
    except Exception as exc:
        if _interrupted(exc):
            err.print(error_line("", "interrupted"))
            raise typer.Exit(130) from None
        # Every failure a user can cause is a ToolkitError; anything else is our bug. One line and
        # its own exit code still, so scripts can tell it from bad input; the traceback on request.
        if os.environ.get("NEWS_TOOLKIT_DEBUG"):
            raise
        err.print(error_line(f"internal error ({type(exc).__name__}: {exc}); this is a bug in news-toolkit, "
                             "please report it (NEWS_TOOLKIT_DEBUG=1 shows the traceback)"))
        raise typer.Exit(EXIT_INTERNAL) from None


@app.command()
def validate(
    path: DatasetPath,
    report: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write the full report as JSON to this file.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Write every invalid line, byte for byte, with its problems, to this folder."),
    ] = None,
    max_line_bytes: Annotated[int, typer.Option(min=1, help="Longest line accepted, in bytes.")] = 32 * 1024 * 1024,
    show: Annotated[int, typer.Option(min=0, help="How many problems to list on the terminal.")] = 20,
    workers: Workers = 0,
    engine: EngineName = Engine.local,
    ray_address: RayAddress = None,
    shared_storage: SharedStorage = False,
    memory_limit: MemoryLimit = None,
    allow_outside: AllowOutside = False,
) -> None:
    """Check every record: JSON Schema, then offsets, quoted text, ids, references and labels.

    Example: news-toolkit validate examples/sample-news --report report.json --rejects rejects/
    """
    from toolkit.console import print_report, progress_bar
    from toolkit.validation import ValidationReport
    from toolkit.validation import validate as validate_dataset

    def work() -> ValidationReport:
        with progress_bar("validating") as on_progress:
            return validate_dataset(
                path, rejects_dir=rejects, report_path=report, max_line_bytes=max_line_bytes, on_progress=on_progress,
                engine=_engine(engine, workers, ray_address, shared_storage),
                memory_limit=memory_limit, allow_outside=allow_outside,
            )

    result = _guard(work)
    print_report(result, shown=show)
    _print_agreement(result.agreement)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_INVALID)


def _print_agreement(rows: list) -> None:
    """The agreement rows of the report (`hygiene.agreement`) as a short table; nothing when none."""
    from rich.table import Table

    from toolkit.console import out
    from toolkit.hygiene.agreement import figure

    if not rows:
        return
    # Short: each layer as a whole (a multi: true layer has only per-label rows); per label in --report and the card.
    overall = {row.layer for row in rows if row.label is None}
    rows = [row for row in rows if row.label is None or row.layer not in overall]
    table = Table(title="Annotator agreement (people only; per label: --report and the card)", title_justify="left")
    for column in ("layer", "measure", "label", "value", "annotators", "articles"):
        table.add_column(column, justify="right" if column in ("value", "annotators", "articles") else "left")
    for row in rows:
        table.add_row(row.layer, row.measure, row.label or "(all)", figure(row.value), f"{row.annotators:,}",
                      f"{row.articles:,}")
    out.print(table)


@app.command()
def export(
    path: DatasetPath,
    format: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="hf (Hub layout + card + Croissant), parquet or jsonl.")
    ] = ExportFormat.hf,
    out: Annotated[Path, typer.Option(metavar="DIR", help="Folder the build is written into.")] = Path("dist"),
    skip_invalid: Annotated[
        bool, typer.Option(help="Export the valid records; write the invalid ones to <out>/<name>.rejects/.")
    ] = False,
    compression: Annotated[Compression, typer.Option(help="JSONL only: none, gz or zst.")] = Compression.none,
    annotators: Annotated[
        Annotators, typer.Option(help="Keep all annotations, only human ones (gold) or only model output (silver).")
    ] = Annotators.all,
    max_line_bytes: Annotated[int, typer.Option(min=1, help="Longest line accepted, in bytes.")] = 32 * 1024 * 1024,
    workers: Workers = 0,
    engine: EngineName = Engine.local,
    ray_address: RayAddress = None,
    shared_storage: SharedStorage = False,
    memory_limit: MemoryLimit = None,
    allow_outside: AllowOutside = False,
    previous: Annotated[
        Path | None,
        typer.Option(metavar="OLD_BUILD",
                     help="An earlier build (may be the one being replaced): the card says what changed since it."),
    ] = None,
) -> None:
    """Validate, then write a Parquet, JSONL or Hugging Face build (atomically: a failed export changes nothing).

    Example: news-toolkit export examples/sample-news --format hf --out dist

    Example: news-toolkit export examples/sample-news --out dist --previous dist/sample-news
    """
    from toolkit.console import out as console
    from toolkit.console import print_report, print_split_plan, progress_bar
    from toolkit.export import ExportResult
    from toolkit.export import export as export_dataset
    from toolkit.splits import SPLIT_ORDER

    def work() -> ExportResult:
        with progress_bar("validating") as on_validate, progress_bar("writing") as on_write:
            return export_dataset(
                path, format=format.value, out_dir=out, skip_invalid=skip_invalid, jsonl_compression=compression.value,
                annotators=annotators.value,
                max_line_bytes=max_line_bytes, on_validate_progress=on_validate, on_write_progress=on_write,
                engine=_engine(engine, workers, ray_address, shared_storage),
                memory_limit=memory_limit, allow_outside=allow_outside,
                previous=previous,
            )

    result = _guard(work)
    if result.output is None:
        print_report(result.report)
        if result.empty:
            where = f"; the invalid records are in {result.rejects}" if result.rejects else ""
            console.print(f"Nothing exported: no article was accepted, so a build would hold no rows{where}.")
            raise typer.Exit(EXIT_INVALID if not result.report.ok else EXIT_USAGE)
        console.print("Nothing exported: fix the records above, or pass --skip-invalid to export the valid ones.")
        raise typer.Exit(EXIT_INVALID)
    if not result.report.ok:
        print_report(result.report, shown=5)
        console.print(f"Skipped invalid records; they are in {result.rejects}")
    stats = result.stats
    console.print(f"Wrote {result.output} ({len(result.files)} files): {sum(stats.articles.values()):,} articles, "
                  f"{sum(stats.annotations.values()):,} annotations "
                  f"({', '.join(f'{k} {stats.articles[k]:,}' for k in SPLIT_ORDER if k in stats.articles)})")
    print_split_plan(stats.split_plan, result.report)
    if format is ExportFormat.hf:
        console.print("Load it with:\n"
                      f"  from datasets import load_dataset\n  ds = load_dataset({result.output.as_posix()!r})")


ingest_app = typer.Typer(help="Turn raw scraped article text into article records.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


@ingest_app.command("text")
def ingest_text(
    files: Annotated[list[Path], typer.Argument(help="Text files or folders of .txt files.")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="Articles JSONL file to write.")],
    language: Annotated[str, typer.Option(metavar="LANG", help="BCP 47 language of the articles.")] = "en",
    timezone: Annotated[str, typer.Option(metavar="ZONE", help="IANA time zone of the dates in the files.")] = "UTC",
    source_name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Name of the publication, stored in source.name.")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(metavar="NAME|FILE", help="Site profile: a built-in name or a YAML file.")
    ] = None,
) -> None:
    """Parse scraped article text files (title, date, caption, body, READ links) into article records.

    Example: news-toolkit ingest text scrapes/ --out articles.jsonl --timezone Europe/London
    """
    from toolkit.console import err as error_console
    from toolkit.console import out as console
    from toolkit.console import printable
    from toolkit.ingest.text import TextIngestResult, write_articles
    from toolkit.ingest.text import ingest_text as run_ingest

    def work() -> tuple[TextIngestResult, int]:
        result = run_ingest(files, language=language, timezone=timezone, source_name=source_name, profile=profile)
        return result, write_articles(result, out, inputs=files)

    result, written = _guard(work)
    for problem in result.problems:
        error_console.print(printable(str(problem.as_problem())))
    skipped = f"; skipped {len(result.problems):,} files" if result.problems else ""
    console.print(f"Wrote {written:,} articles to {out}{skipped}")
    raise typer.Exit(EXIT_INVALID if result.problems else EXIT_OK)


PageLanguage = Annotated[
    str | None,
    typer.Option(metavar="LANG", help="BCP 47 language of every article (default: each page's own, else und)."),
]


@ingest_app.command("html")
def ingest_html(
    files: Annotated[list[Path], typer.Argument(help="HTML pages or folders of .html/.htm files.")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="Articles JSONL file to write.")],
    language: PageLanguage = None,
    workers: Workers = 0,
    engine: EngineName = Engine.local,
    ray_address: RayAddress = None,
) -> None:
    """Extract one article per saved news page (trafilatura: main text, title, date, authors, site).

    Example: news-toolkit ingest html pages/ --out articles.jsonl
    """
    from toolkit.ingest.html import ingest_html as run_ingest

    _web_ingest(run_ingest, files, out, language, _engine(engine, workers, ray_address))


@ingest_app.command("warc")
def ingest_warc(
    files: Annotated[list[Path], typer.Argument(help="WARC files (.warc, .warc.gz) or folders of them.")],
    out: Annotated[Path, typer.Option(metavar="FILE", help="Articles JSONL file to write.")],
    language: PageLanguage = None,
    workers: Workers = 0,
    engine: EngineName = Engine.local,
    ray_address: RayAddress = None,
) -> None:
    """Extract an article from every HTML response of WARC archives (CC-NEWS), with URL, fetch date and record.

    Example: news-toolkit ingest warc CC-NEWS-20240101000000-00000.warc.gz --out articles.jsonl
    """
    from toolkit.ingest.warc import ingest_warc as run_ingest

    _web_ingest(run_ingest, files, out, language, _engine(engine, workers, ray_address))


def _web_ingest(run_ingest: Callable[..., WebIngestResult], files: list[Path], out: Path, language: str | None,
                engine: EngineOptions) -> None:
    """Run an HTML/WARC ingest with a progress bar; problems as `file:offset: code: message` on stderr,
    a summary line, exit 1 when anything was skipped."""
    from toolkit.console import err as error_console
    from toolkit.console import out as console
    from toolkit.console import printable, progress_bar

    def work() -> WebIngestResult:
        with progress_bar("extracting") as on_progress:
            return run_ingest(files, out=out, language=language, on_progress=on_progress, engine=engine)

    result = _guard(work)

    for problem in result.problems:
        error_console.print(printable(str(problem)))
    skipped = f"; skipped {len(result.problems):,} pages or records (listed above)" if result.problems else ""
    console.print(f"Wrote {result.written:,} articles to {out}{skipped}")
    raise typer.Exit(EXIT_INVALID if result.problems else EXIT_OK)


@app.command("import")
def import_(
    tool: Annotated[Tool, typer.Argument(help="The annotation tool whose export this is.")],
    paths: Annotated[list[Path], typer.Argument(help="Export files or folders of the tool.")],
    out: Annotated[
        Path,
        typer.Option(metavar="DIR", help="Dataset folder to write (dataset.yaml, articles.jsonl, annotations.jsonl)."),
    ],
    name: Annotated[
        str | None, typer.Option(metavar="SLUG", help="Dataset name (slug); default: the folder name.")
    ] = None,
    language: Annotated[str, typer.Option(metavar="LANG", help="BCP 47 language of the texts.")] = "und",
    offset_unit: Annotated[
        OffsetUnit | None, typer.Option(help="Override the tool's offset unit: codepoint or utf16.")
    ] = None,
) -> None:
    """Import an annotation tool's export as a dataset that validate and export accept.

    Example: news-toolkit import labelstudio export.json --out my-dataset --language en
    """
    from toolkit.console import err as error_console
    from toolkit.console import out as console
    from toolkit.console import printable
    from toolkit.ingest import ImportOptions, ImportSummary, import_dataset

    def work() -> ImportSummary:
        unit = offset_unit.value if offset_unit is not None else None
        options = ImportOptions(offset_unit=unit, language=language)  # type: ignore[arg-type]
        return import_dataset(tool.value, paths, out, name=name, options=options)

    summary = _guard(work)
    for problem in summary.problems:
        error_console.print(printable(str(problem)))
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in summary.skipped.items())
    console.print(f"Wrote {summary.manifest}: {summary.articles:,} articles, {summary.annotations:,} annotations, "
                  f"layers {', '.join(f'{k} ({v})' for k, v in summary.layers.items()) or 'none'}"
                  + (f"; skipped {skipped}" if skipped else ""))
    if summary.problems:
        console.print(f"{len(summary.problems):,} problems: the inputs named above were not (fully) imported.")
    raise typer.Exit(EXIT_INVALID if summary.problems else EXIT_OK)


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="The earlier release: a build folder or a dataset folder.")],
    new: Annotated[Path, typer.Argument(help="The later release: a build folder or a dataset folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON (for scripts).")] = False,
) -> None:
    """What changed between two releases: articles added, removed, edited, moved split; annotations per label.

    Example: news-toolkit diff dist/news-v1 dist/news-v2
    """
    import orjson

    from toolkit.console import print_diff
    from toolkit.diff import diff as run_diff

    result = _guard(lambda: run_diff(old, new))
    if as_json:
        typer.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_diff(result)


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C as a dependency reports it: DuckDB turns SIGINT into its own exception ("Query interrupted")."""
    return type(exc).__name__ == "InterruptException" or str(exc).startswith("Query interrupted")


def main() -> None:
    """The console script. Ctrl-C before a command's own guard runs (while modules load) is exit 130 too."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    finally:
        # The outcome is decided (and printed): a Ctrl-C while the interpreter shuts down must not
        # turn it into a death by signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
