"""The `news-toolkit` command: a thin skin over the library (each command calls one public function).

Exit codes: 0 success, 1 invalid records (nothing exported unless asked), 2 the command could not
run (bad manifest, unreadable path, bad option).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from toolkit.errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, ToolkitError

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

    Exit codes: 0 success; 1 invalid records; 2 the command could not run.
    """

DatasetPath = Annotated[Path, typer.Argument(help="Dataset folder holding dataset.yaml, or the manifest file.")]


def _guard(work: Callable[[], T]) -> T:
    """Run library work; a user-facing failure becomes one line on stderr and its exit code."""
    from toolkit.console import err

    try:
        return work()
    except ToolkitError as exc:
        err.print(f"[red]error:[/red] {exc.message}", markup=True)
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        err.print(f"[red]error:[/red] {where}{exc.strerror or exc}", markup=True)
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        raise typer.Exit(130) from None


@app.command()
def validate(
    path: DatasetPath,
    report: Annotated[Path | None, typer.Option(help="Write the full report as JSON to this file.")] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Write every invalid line, byte for byte, with its problems, to this folder.")
    ] = None,
    max_line_bytes: Annotated[int, typer.Option(min=1, help="Longest line accepted, in bytes.")] = 32 * 1024 * 1024,
    show: Annotated[int, typer.Option(min=0, help="How many problems to list on the terminal.")] = 20,
) -> None:
    """Check every record: JSON Schema, then offsets, quoted text, ids, references and labels."""
    from toolkit.console import print_report, progress_bar
    from toolkit.validate import ValidationReport, validate as validate_dataset

    def work() -> ValidationReport:
        with progress_bar("validating") as on_progress:
            return validate_dataset(
                path, rejects_dir=rejects, report_path=report, max_line_bytes=max_line_bytes, on_progress=on_progress
            )

    result = _guard(work)
    print_report(result, shown=show)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_INVALID)


def main() -> None:
    app()
