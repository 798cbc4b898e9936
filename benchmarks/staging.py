"""Per-record staging of annotation lines: Arrow columns (`columnar.py`) against the per-line checks, one run.

Backs the figures in CHANGELOG and the issue notes: same lines, same 4096-line blocks, same process;
prints seconds, µs per line and the ratio, plus what the duplicate-key screen costs per line.

    .venv/bin/python benchmarks/staging.py --articles 20000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402

from toolkit.manifest import load_manifest  # noqa: E402
from toolkit.readers import iter_lines  # noqa: E402
from toolkit.validation.columnar import annotation_batch  # noqa: E402
from toolkit.validation.records import stage_annotation_lines, unique_keys  # noqa: E402

BLOCK = 4096


def best_of(runs: int, work) -> float:  # noqa: ANN001 - a zero-argument callable
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs per contender")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="news-toolkit-bench-staging-") as tmp:
        generate(Path(tmp), args.articles, seed=0)
        manifest = load_manifest(tmp)
        lines = [(i, raw.data, False) for i, raw in enumerate(iter_lines(Path(tmp) / "annotations.jsonl"), 1)]
    blocks = [lines[i:i + BLOCK] for i in range(0, len(lines), BLOCK)]
    columnar = [annotation_batch(block, manifest.layers) for block in blocks]
    per_line = [stage_annotation_lines(block, manifest.layers) for block in blocks]
    fallbacks = sum(batch is None for batch in columnar)
    same = all(c is None or c.equals(p) for c, p in zip(columnar, per_line, strict=True))
    t_columnar = best_of(args.runs, lambda: [annotation_batch(block, manifest.layers) for block in blocks])
    t_per_line = best_of(args.runs, lambda: [stage_annotation_lines(block, manifest.layers) for block in blocks])
    parsed = [(data, orjson.loads(data)) for _, data, _ in lines]
    t_keys = best_of(args.runs, lambda: [unique_keys(data, record) for data, record in parsed])
    n = len(lines)
    print(f"{n:,} annotation lines of {args.articles:,} generated articles, blocks of {BLOCK}, best of {args.runs}")
    print(f"per-line checks      {t_per_line:7.2f} s  {t_per_line / n * 1e6:5.2f} µs/line  1.0×")
    print(f"columnar (Arrow)     {t_columnar:7.2f} s  {t_columnar / n * 1e6:5.2f} µs/line  "
          f"{t_per_line / t_columnar:.2f}× faster  (blocks on the per-line path: {fallbacks}; same rows: {same})")
    print(f"duplicate-key screen {t_keys:7.2f} s  {t_keys / n * 1e6:5.2f} µs/line")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
