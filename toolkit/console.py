"""Terminal output for the CLI: summaries and progress bars (the library itself prints nothing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from toolkit.problems import CODES
from toolkit.validation import ValidationReport, iter_problem_lines

if TYPE_CHECKING:
    from toolkit.diff import BuildDiff

# markup=False: paths, ids and messages are user text; "[...]" in them must print as written.
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]} | {0x0A: "\\n", 0x0D: "\\r",
                                                                                       0x09: "\\t"}


def printable(text: str) -> str:
    """User text with control characters escaped: a newline or an ESC in a path or an id must not
    start a fake `error:` line or drive the terminal."""
    return text.translate(_CONTROLS)


def error_line(message: str, label: str = "error:") -> Text:
    """`error: <message>` with only the label coloured; the message is never read as markup."""
    return Text.assemble((label, "red"), " ", printable(message)) if message else Text(label, style="red")

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
        if task is not None:  # a bar never shown must not leave an empty line on stderr
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
            out.print("  " + printable(line))
    print_duplicates(report, shown)
    verdict = Text("valid", style="green") if report.ok else Text("invalid records found", style="red")
    out.print(Text.assemble("Result: ", verdict))


DUPLICATE_KINDS = {
    "exact": "the same text (after NFC, whitespace folding, format characters removed)",
    "near": "near copies (estimated Jaccard similarity of 5-word shingles at or above the threshold)",
    "url": "the same URL (re-scrapes)",
    "title": "the same title within one source",
}


def print_duplicates(report: ValidationReport, shown: int = 20) -> None:
    """Clusters per kind, the first clusters by their article ids, and the copies left out (policy drop)."""
    counts = {kind: c for kind, c in report.duplicate_counts.items() if c[0]}
    if not counts:
        return
    table = Table(title="Duplicates", title_justify="left")
    for column in ("kind", "clusters", "articles", "meaning"):
        table.add_column(column, justify="right" if column in ("clusters", "articles") else "left")
    for kind, (clusters, articles) in counts.items():
        table.add_row(kind, f"{clusters:,}", f"{articles:,}", DUPLICATE_KINDS.get(kind, ""))
    out.print(table)
    total = sum(c for c, _ in counts.values())
    out.print(f"First clusters ({min(shown, len(report.duplicates))} of {total:,}):")
    for cluster in report.duplicates[:shown]:
        similarity = "" if cluster.similarity is None else f" (similarity {cluster.similarity:g})"
        ids = ", ".join(cluster.articles[:8]) + (f", … {len(cluster.articles) - 8:,} more" if len(cluster.articles) > 8
                                                 else "")
        out.print(f"  {cluster.kind}{similarity}: {ids}")
    if report.dropped:
        out.print(f"Left out of the build (duplicates: drop): {report.dropped_count:,} copies, "
                  f"e.g. {report.dropped[0]['id']} (a copy of {report.dropped[0]['kept']})")


def print_split_plan(plan: Any, report: ValidationReport) -> None:
    """After an export: the leakage check, copies left out, and each declared split left empty with why."""
    if plan is None:
        return
    out.print(f"Splits {plan.strategy}; grouped by {', '.join(plan.group_by)}: "
              f"{plan.groups:,} clusters, {plan.across:,} across splits")
    if report.dropped:
        out.print(f"Left out {report.dropped_count:,} duplicate copies (duplicates: drop); the report lists them")
    for name, why in plan.missing.items():
        out.print(Text.assemble(("warning:", "yellow"), f" no '{name}' split: {why}"))
    for name in plan.moved:
        out.print(f"note: one group was moved to '{name}', which the hash alone left empty")


def print_diff(result: BuildDiff, shown: int = 10) -> None:
    """The release diff: article counts, a few ids per change, and per layer and label the annotation changes."""
    a = result.articles
    out.print(f"{result.old} → {result.new}: {a['old']:,} → {a['new']:,} articles")
    for kind, ids in (("added", result.added), ("removed", result.removed), ("edited", result.edited)):
        more = f" (first {shown}: {', '.join(ids[:shown])})" if ids else ""
        out.print(f"  {kind}: {a[kind]:,}{more}")
    moved = "; ".join(f"{i} {s} → {t}" for i, s, t in result.moved[:shown])
    out.print(f"  moved split: {a['moved']:,}" + (f" ({moved})" if moved else ""),
              style="red" if a["moved"] else None)
    changed = [c for c in result.labels if c.added or c.removed or c.edited]
    if changed:
        table = Table(title="Annotations by layer and label", title_justify="left")
        for column in ("layer", "label", "before", "after", "added", "removed", "edited"):
            table.add_column(column, justify="left" if column in ("layer", "label") else "right")
        for c in changed:
            table.add_row(c.layer, c.label, *(f"{n:,}" for n in (c.old, c.new, c.added, c.removed, c.edited)))
        out.print(table)
    if result.unchanged:
        out.print("No changes.")
