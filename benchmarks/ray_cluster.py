"""`validate` and `export --engine ray` on 1, 2 and 3 Ray nodes started on this machine (issue 9), in one run.

    python benchmarks/ray_cluster.py [--articles 20000] [--nodes 1,2,3] [--sizes 20000,80000] [--workdir DIR]
                                     [--distinct-titles]

Each row is a fresh process that starts a `ray.cluster_utils.Cluster` of N raylets (one CPU each,
each its own node with its own object store) and validates, then exports, the generated corpus on
it. Printed per row: wall time, the time of the parallel part (workers reading byte ranges and
checking records, the partitions' duplicate search, cross-record rules and agreement; for export
also gathering and writing the shards) and of the driver's sequential part (the duplicate
clusters put together, the resolver, the split and export plans, the card), the driver's peak
RSS, the bytes the driver received from the workers, and each node's share of the tasks.

On a 2-core machine three one-CPU nodes oversubscribe the cores, so wall time cannot fall with
nodes here; what must hold is that the driver's intake stays near zero and the work spreads over
every node. Then each command runs on 2 nodes for each of `--sizes`: the driver's peak RSS and
intake as the corpus grows, and a projection of 10 M articles on 8 and 32 nodes of this
machine's size from the slopes between the smallest and largest size — the parallel part's cost
per record and CPU, spread over the nodes, plus the driver's part per record and its fixed cost
(DuckDB on one machine), which is what bounds the speed-up. Slopes, not means: a 20k run's fixed
costs (Ray Data's windows, the card's plots) would otherwise be counted once per record.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import corpus, count_records, table  # noqa: E402

CHILD = r"""
import json, resource, sys, tempfile, time
import ray
from ray import cluster_utils
import toolkit.export.shards as shards
import toolkit.hygiene.duplicates as duplicates
import toolkit.hygiene.groups as groups
import toolkit.validation.cross as cross
import toolkit.validation.driver as driver
from toolkit.engines import EngineOptions
from toolkit.engines import ray as ray_engine
from toolkit.export import export

nodes = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
for _ in range(int(sys.argv[2]) - 1):
    nodes.add_node(num_cpus=1)
nodes.wait_for_nodes()
ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
engines, parallel = [], [0.0]
opened, staged, write_shards = ray_engine.open, driver._staged, shards.write_shards
check_partitions, agreement_by_partition = cross.check_partitions, cross.agreement_by_partition

class Kept:
    def __init__(self, context):
        self.context = context
    def __enter__(self):
        engines.append(self.context.__enter__())
        return engines[-1]
    def __exit__(self, *exc):
        return self.context.__exit__(*exc)

def timed_staging(*args):
    start = time.perf_counter()
    yield from staged(*args)
    parallel[0] += time.perf_counter() - start

def on_the_workers(step):  # the partitions' tasks: cross-record checks, agreement (and the few ids sent)
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            parallel[0] += time.perf_counter() - start
    return timed

def timed_writing(*args, **kwargs):  # the workers' part: gathering and writing the shards, less the driver's plan
    start = time.perf_counter()
    try:
        return write_shards(*args, **kwargs)
    finally:
        parallel[0] += time.perf_counter() - start

def on_the_driver(step):  # a driver's step inside write_shards: the split plan
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            parallel[0] -= time.perf_counter() - start
    return timed

ray_engine.open = lambda options: Kept(opened(options))
driver._staged = timed_staging
cross.check_partitions = on_the_workers(check_partitions)
duplicates.search_partitions = on_the_workers(duplicates.search_partitions)  # the duplicate search's rounds
# Agreement runs in the partitions' tasks when there are several, else in the driver's store.
cross.agreement_by_partition = lambda store, engine, layers: (
    on_the_workers(agreement_by_partition) if store.partitions > 1 else agreement_by_partition)(store, engine, layers)
shards.write_shards = timed_writing
shards.plan_splits = on_the_driver(shards.plan_splits)
# Inside the split plan, the partitions' tasks that write the export plan are the workers' part
# (the bench's corpus groups by no field, so the shared field values' round does not run).
groups._plan_partitions = on_the_workers(groups._plan_partitions)
start = time.perf_counter()
if sys.argv[3] == "export":
    with tempfile.TemporaryDirectory() as out:
        report = export(sys.argv[1], format="hf", out_dir=out, engine=EngineOptions(engine="ray")).report
else:
    report = driver.validate(sys.argv[1], engine=EngineOptions(engine="ray"))
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "parallel": parallel[0], "received": engines[0].received_bytes,
                  "by_node": sorted(engines[0].batches_by_node.values(), reverse=True),
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "read": report.counts["articles"].read + report.counts["annotations"].read}))
ray.shutdown()
nodes.shutdown()
"""


def measure(root: Path, nodes: int, command: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(nodes), command], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"{nodes} node(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _figures(run: dict) -> list[str]:
    """A run's wall, parallel and driver seconds, driver peak RSS and bytes received, as table cells."""
    return [f"{run['wall']:.2f}", f"{run['parallel']:.2f}", f"{run['wall'] - run['parallel']:.2f}",
            f"{run['peak_mib']:.0f}", f"{run['received'] / 2**10:,.1f} KiB"]


def projection(first: dict, last: dict, nodes: int, articles: int) -> list[str]:
    """Lines projecting 10 M articles on 8 and 32 nodes from two sizes run on `nodes` one-CPU nodes:
    per-record costs are the slopes between the sizes (so fixed costs — starting Ray Data windows,
    the card's plots — are counted once, not once per record), plus the driver's fixed cost."""
    records = last["read"] - first["read"]
    per_cpu = (last["parallel"] - first["parallel"]) * nodes / records  # CPU-seconds per record, parallel part
    driver = ((last["wall"] - last["parallel"]) - (first["wall"] - first["parallel"])) / records
    fixed = (first["wall"] - first["parallel"]) - driver * first["read"]
    if per_cpu <= 0 or driver < 0:
        return ["the sizes are too close for slopes above the noise: take sizes at least 4× apart"]
    scale = 10_000_000 / articles * last["read"]  # records of 10 M articles like these
    lines = [f"parallel part {per_cpu * 1e6:.1f} CPU-µs per record, driver's part {driver * 1e6:.2f} µs per "
             f"record plus {max(fixed, 0):.1f} s; 10 M articles ({scale:,.0f} records), one CPU per node:"]
    for cluster in (8, 32):
        lines.append(f"  {cluster:2d} nodes: parallel part {scale * per_cpu / cluster / 60:,.1f} min + driver's part "
                     f"{(max(fixed, 0) + scale * driver) / 60:,.1f} min")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--nodes", default="1,2,3", help="comma list of node counts")
    parser.add_argument("--sizes", default="20000,80000",
                        help="corpus sizes for the rows on 2 nodes as the corpus grows ('' to skip)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    parser.add_argument("--distinct-titles", action="store_true",
                        help="corpora whose titles are all distinct: the generator's templates give most "
                             "articles a title another of their source has, and the driver keeps every "
                             "duplicate cluster (the report lists them); without them, what it keeps per article shows")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = corpus(args.workdir, args.articles, args.distinct_titles)
    records = count_records(root)
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    for command in ("validate", "export"):
        what = "export --format hf" if command == "export" else command
        rows = [["nodes", "wall s", "parallel s", "driver s", "driver peak MiB", "driver received",
                 "tasks per node"]]
        runs = {}
        for n in (int(v) for v in args.nodes.split(",") if v.strip()):
            run = runs[n] = measure(root, n, command)
            assert run["read"] == runs[min(runs)]["read"], "node counts disagree on what was read"
            rows.append([str(n), *_figures(run), " / ".join(str(b) for b in run["by_node"])])
        if len(rows) > 1:
            print(f"\n{what} --engine ray, {args.articles:,} articles ({records:,} records), one CPU per node\n")
            print(table(rows))
        if len(sizes) < 2:
            if runs:  # one size only: the means, fixed costs included (they overstate 10 M articles)
                first = runs[min(runs)]
                none = {"read": 0, "wall": 0.0, "parallel": 0.0}
                print(f"\nprojection of {what} from the means on {min(runs)} node(s) (fixed costs included):")
                print("\n".join(projection(none, first, min(runs), args.articles)))
            continue
        # The driver's intake, its peak RSS and its part as the corpus grows (issue 9: they must
        # not grow with it), and the projection from the slopes between the smallest and largest size.
        grown = [["articles", "records", "wall s", "parallel s", "driver s", "driver peak MiB", "driver received"]]
        sized_runs = []
        for n in sizes:
            sized_runs.append(measure(corpus(args.workdir, n, args.distinct_titles), 2, command))
            grown.append([f"{n:,}", f"{sized_runs[-1]['read']:,}", *_figures(sized_runs[-1])])
        print(f"\n{what} --engine ray as the corpus grows, 2 nodes:\n\n{table(grown)}")
        first, last = sized_runs[0], sized_runs[-1]
        growth = last["peak_mib"] / first["peak_mib"] - 1
        print(f"\ndriver peak RSS {sizes[0]:,} → {sizes[-1]:,} articles: {growth:+.0%}; "
              f"projection of {what} from the slopes {sizes[0]:,} → {sizes[-1]:,} articles on 2 nodes:")
        print("\n".join(projection(first, last, 2, sizes[-1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
