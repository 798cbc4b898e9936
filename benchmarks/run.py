"""Benchmarks: news-toolkit against what users run today, on the same generated corpus, in one run.

    python benchmarks/run.py [--articles 100000] [--memory 50000,200000] [--workers N] [--skip-duckdb]

Each contender runs in its own process; wall time and peak RSS come from `os.wait4`. Printed:
- validate: `news-toolkit validate` vs a plain `jsonschema` loop (json.loads + a reused
  Draft202012Validator's iter_errors per record) — goal ≥ 20×;
- export: `news-toolkit export --format hf` (validates too) vs `datasets.load_dataset("json")` +
  `to_parquet` (no validation) — goal ≤ 1.0× its wall time — and vs duckdb `COPY … TO parquet`
  (moonshot ≤ 1.5×; skipped when duckdb is not installed);
- memory: peak RSS of the export at each corpus size in --memory — goal < 1 GiB, growth < 25%.
Corpora are generated once per size under --workdir (benchmarks/generate.py, seed 0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

PY = sys.executable


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    peak_mib: float
    output: str


def measure(name: str, argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a command in a child process; its wall time and its own peak RSS (not ours)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})},
    )
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{name} failed ({proc.returncode}):\n{output[-3000:]}")
    return Run(name, seconds, usage.ru_maxrss / 1024, output)


JSONSCHEMA_LOOP = r"""
import json, sys, time
from toolkit.schemas import reference_validator
counts = {}
for path, kind in ((sys.argv[1], "article"), (sys.argv[2], "annotation")):
    validator = reference_validator(kind)  # Draft202012Validator, reused, $ref resolved offline
    n = bad = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                n += 1
                bad += any(True for _ in validator.iter_errors(json.loads(line)))
    counts[kind] = (n, bad)
print(counts)
"""

DATASETS_BASELINE = r"""
import sys, tempfile
import datasets
cache = tempfile.mkdtemp()
for path, name in ((sys.argv[1], "articles"), (sys.argv[2], "annotations")):
    out = f"{sys.argv[3]}/{name}.parquet"
    ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=cache)
    ds.to_parquet(out)
    print(out, ds.num_rows)
"""

DUCKDB_BASELINE = r"""
import sys, duckdb
for path, name in ((sys.argv[1], "articles"), (sys.argv[2], "annotations")):
    out = f"{sys.argv[3]}/{name}.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_json('{path}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    print(out)
"""


def corpus(workdir: Path, n: int) -> Path:
    root = workdir / f"corpus-{n}"
    if not (root / "dataset.yaml").exists():
        print(f"generating {n:,} articles in {root} …", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        generate(root, n, seed=0)
    return root


def count_records(root: Path) -> int:
    return sum(
        sum(1 for line in open(root / name, "rb") if line.strip()) for name in ("articles.jsonl", "annotations.jsonl")
    )


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def goal(ratio: float, target: float, at_least: bool) -> str:
    met = ratio >= target if at_least else ratio <= target
    return f"{'≥' if at_least else '≤'} {target:g}× " + ("met" if met else "NOT met")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--memory", default="50000,200000", help="corpus sizes for the memory check ('' to skip)")
    parser.add_argument("--workers", type=int, default=0, help="news-toolkit --workers (0: its default)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    parser.add_argument("--skip-duckdb", action="store_true")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    workers = ["--workers", str(args.workers)] if args.workers else []
    cli = [PY, "-m", "toolkit"]

    root = corpus(args.workdir, args.articles)
    records = count_records(root)
    files = [str(root / "articles.jsonl"), str(root / "annotations.jsonl")]
    out = args.workdir / "out"
    mib = sum(os.path.getsize(f) for f in files) / 2**20
    print(f"corpus: {args.articles:,} articles, {records:,} records, {mib:,.0f} MiB JSONL; {os.cpu_count()} cores\n",
          flush=True)

    rows = [["task", "contender", "wall s", "records/s", "peak RSS MiB", "ratio", "goal"]]

    def add(task: str, run: Run, ratio: str = "1.0×", target: str = "") -> None:
        rows.append([task, run.name, f"{run.seconds:.2f}", f"{records / run.seconds:,.0f}", f"{run.peak_mib:,.0f}",
                     ratio, target])

    def build(name: str, folder: str, *extra: str) -> Run:
        return measure(name, [*cli, "export", str(root), "--format", "hf", "--out", str(out / folder), *extra])

    plain = measure("jsonschema loop", [PY, "-c", JSONSCHEMA_LOOP, *files])
    ours = measure("news-toolkit validate", [*cli, "validate", str(root), *workers])
    one = measure("news-toolkit validate --workers 1", [*cli, "validate", str(root), "--workers", "1"])
    add("validate", plain)
    add("validate", ours, f"{plain.seconds / ours.seconds:.1f}× faster", goal(plain.seconds / ours.seconds, 20, True))
    add("validate", one, f"{plain.seconds / one.seconds:.1f}× faster")

    shutil.rmtree(out, ignore_errors=True)
    (out / "datasets").mkdir(parents=True)
    base = measure("datasets json + to_parquet", [PY, "-c", DATASETS_BASELINE, *files, str(out / "datasets")])
    export = build("news-toolkit export hf", "ours", *workers)
    export_one = build("news-toolkit export hf --workers 1", "one", "--workers", "1")
    add("export", base)
    ratio = export.seconds / base.seconds
    add("export", export, f"{ratio:.2f}× its time", goal(ratio, 1.0, False))
    add("export", export_one, f"{export_one.seconds / base.seconds:.2f}× its time")
    try:
        import duckdb  # noqa: F401

        have_duckdb = not args.skip_duckdb
    except ImportError:
        have_duckdb = False
    if have_duckdb:
        (out / "duckdb").mkdir()
        duck = measure("duckdb COPY to parquet", [PY, "-c", DUCKDB_BASELINE, *files, str(out / "duckdb")])
        add("export", duck)
        ratio = export.seconds / duck.seconds
        rows.append(["export", "news-toolkit vs duckdb", "", "", "", f"{ratio:.2f}× its time", goal(ratio, 1.5, False)])
    else:
        rows.append(["export", "duckdb COPY", "skipped", "", "", "", "pip install duckdb"])

    sizes = [int(s) for s in args.memory.split(",") if s.strip()]
    peaks = []
    for n in sizes:
        r = corpus(args.workdir, n)
        shutil.rmtree(out / f"mem-{n}", ignore_errors=True)
        argv = [*cli, "export", str(r), "--format", "hf", "--out", str(out / f"mem-{n}"), *workers]
        run = measure(f"export {n:,}", argv)
        peaks.append(run.peak_mib)
        rows.append(["memory", f"export hf, {n:,} articles", f"{run.seconds:.2f}", "", f"{run.peak_mib:,.0f}", "",
                     "< 1024 MiB " + ("met" if run.peak_mib < 1024 else "NOT met")])
    if len(peaks) >= 2:
        growth = peaks[-1] / peaks[0] - 1
        rows.append(["memory", f"growth {sizes[0]:,} → {sizes[-1]:,}", "", "", f"{growth:+.0%}", "",
                     "< 25% " + ("met" if growth < 0.25 else "NOT met")])
    print(table(rows))
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
