"""Terminal output for the CLI: summaries and progress bars (the library itself prints nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from toolkit.problems import CODES
from toolkit.validation import ValidationReport, iter_problem_lines

# markup=False: paths, ids and messages are user text; "[...]" in them must print as written.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def error_line(message: str, label: str = "error:") -> Text:
    """`error: <message>` with only the label coloured; the message is never read as markup."""
    return Text.assemble((label, "red"), " ", message) if message else Text(label, style="red")

PROGRESS_MIN_BYTES = 4 * 1024 * 1024


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A callback (done, total) that draws a byte progress bar on stderr once the input is large."""
    progress = Progress(
        TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err, transient=True
    )
    task = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if total < PROGRESS_MIN_BYTES:
            return
        if task is None:
            progress.start()
            task = progress.add_task(label, total=total)
        progress.update(task, completed=done)

    try:
        yield update
    finally:
        progress.stop()


def print_report(report: ValidationReport, shown: int = 20) -> None:
    """Counts per record kind and per problem code, then the first problems as file:line lines."""
    table = Table(title="Records", title_justify="left")
    for column in ("kind", "read", "valid", "invalid"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, c in report.counts.items():
        table.add_row(kind, f"{c.read:,}", f"{c.valid:,}", f"{c.invalid:,}", style="red" if c.invalid else None)
    out.print(table)
    if report.problem_counts:
        codes = Table(title="Problems by code", title_justify="left")
        codes.add_column("code")
        codes.add_column("count", justify="right")
        codes.add_column("meaning")
        for code, count in sorted(report.problem_counts.items(), key=lambda kv: -kv[1]):
            codes.add_row(code, f"{count:,}", CODES.get(code, ""))
        out.print(codes)
        out.print(f"First problems ({min(shown, len(report.problems))} of {sum(report.problem_counts.values()):,}):")
        for line in list(iter_problem_lines(report.problems[:shown])):
            out.print("  " + line)
    verdict = Text("valid", style="green") if report.ok else Text("invalid records found", style="red")
    out.print(Text.assemble("Result: ", verdict))
