"""What partitioning the staged lines costs and buys on one machine (issue 9), in one run.

    python benchmarks/partitions.py [--articles 100000] [--partitions 8] [--workdir DIR]

Validates the generated corpus twice with the default local engine: with one partition (what a
single machine uses) and with `--partitions` (what a cluster of that many nodes would use), timing
the staging (per-record checks, writing the staged files) and the cross-record rules separately.
Then reads one partition's annotation records back from the staged files, against reading all of
them, and with a filter that row-group statistics cannot answer: how much of the other partitions'
data a partition's task still decodes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import duckdb  # noqa: E402
from run import corpus, table  # noqa: E402

from toolkit.engines import open_engine  # noqa: E402
from toolkit.manifest import load_manifest  # noqa: E402
from toolkit.store import StagingStore, staged_rows  # noqa: E402
from toolkit.validation import cross, driver  # noqa: E402


@contextmanager
def _timing(module: object, name: str) -> Iterator[list[float]]:
    """Seconds spent in `module.name` while the block runs (the function wrapped, then restored)."""
    original, spent = getattr(module, name), [0.0]

    def timed(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(module, name, timed)
    try:
        yield spent
    finally:
        setattr(module, name, original)


def validate_with(root: Path, partitions: int, read_back: bool) -> dict[str, float]:
    """Validate with `partitions`; the phases' seconds (and, with `read_back`, the read-back figures)."""
    driver.partition_count = lambda input_bytes, nodes: partitions
    manifest = load_manifest(root)
    with (StagingStore() as store, open_engine(None, manifest.input_bytes()) as engine,
          _timing(cross, "check_partitions") as rules, _timing(cross, "find_conflicts") as conflicts):
        start = time.perf_counter()
        driver.run_validation(manifest, store, engine)
        figures = {"total": time.perf_counter() - start, "rules": rules[0], "find_conflicts": conflicts[0]}
        if read_back:
            figures.update(_read_back(store))
    return figures


def _read_back(store: StagingStore) -> dict[str, float]:
    con = duckdb.connect()

    def best(sql: str) -> tuple[float, int]:
        times, value = [], 0
        for _ in range(3):
            start = time.perf_counter()
            value = con.execute(sql).fetchall()[0][0]
            times.append(time.perf_counter() - start)
        return min(times), value

    size = "SELECT sum(octet_length(data)) FROM ({})"
    one_query = staged_rows(store.spool, "ann", 0)
    whole, all_bytes = best(size.format(staged_rows(store.spool, "ann")))
    one, one_bytes = best(size.format(one_query))
    blind, blind_bytes = best(size.format(one_query.replace("WHERE part = 0", "WHERE hash(part) = hash(0::INTEGER)")))
    assert one_bytes == blind_bytes
    return {"read all": whole, "read one": one, "read one, no statistics": blind,
            "bytes share": one_bytes / all_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = corpus(args.workdir, args.articles)
    one = validate_with(root, 1, read_back=False)
    many = validate_with(root, args.partitions, read_back=True)
    rows = [["partitions", "validate s", "staging and the rest s", "partition rules s", "ratio"]]
    for n, figures in ((1, one), (args.partitions, many)):
        rows.append([str(n), f"{figures['total']:.2f}", f"{figures['total'] - figures['find_conflicts']:.2f}",
                     f"{figures['rules']:.2f}", f"{figures['total'] / one['total']:.2f}×"])
    print(f"\nvalidate, {args.articles:,} articles, local engine (default workers)\n")
    print(table(rows))
    share = many["bytes share"]
    print(f"\nreading partition 0 of {args.partitions} back ({share:.0%} of the annotation records' bytes):")
    print(table([
        ["read", "best of 3 s", "ratio"],
        ["every partition", f"{many['read all']:.3f}", "1.00×"],
        ["partition 0", f"{many['read one']:.3f}", f"{many['read one'] / many['read all']:.2f}×"],
        ["partition 0, filter statistics cannot answer", f"{many['read one, no statistics']:.3f}",
         f"{many['read one, no statistics'] / many['read all']:.2f}×"],
    ]))


if __name__ == "__main__":
    main()
