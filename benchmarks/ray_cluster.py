"""`validate` and `export --engine ray` on 1, 2 and 3 Ray nodes started on this machine (issue 9), in one run.

    python benchmarks/ray_cluster.py [--articles 20000] [--nodes 1,2,3] [--sizes 20000,80000] [--workdir DIR]

Each row is a fresh process that starts a `ray.cluster_utils.Cluster` of N raylets (one CPU each,
each its own node with its own object store) and validates, then exports, the generated corpus on
it. Printed per row: wall time, the time of the parallel part (workers reading byte ranges and
checking records, then checking the partitions' cross-record rules; for export also workers
writing the shards) and of the driver's sequential part (duplicate clusters, the resolver,
agreement, planning and copying the shards, the card), the driver's peak RSS,
the bytes the driver received from the workers, and each node's share of the tasks.

On a 2-core machine three one-CPU nodes oversubscribe the cores, so wall time cannot fall with
nodes here; what must hold is that the driver's intake stays near zero and the work spreads over
every node. The projection scales the measured per-core throughput of the parallel part to 10 M
articles on 8 and 32 nodes of this machine's size, and adds the sequential part scaled by
records (DuckDB on one machine), which is what bounds the speed-up. Last, the driver's peak RSS
and intake of the export on 2 nodes for each of `--sizes` (they must stay flat as the corpus grows).
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

def on_the_driver(step):  # a driver's step inside write_shards: the split plan, the export plan
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
# Agreement runs in the partitions' tasks when there are several, else in the driver's store.
cross.agreement_by_partition = lambda store, engine, layers: (
    on_the_workers(agreement_by_partition) if store.partitions > 1 else agreement_by_partition)(store, engine, layers)
shards.write_shards = timed_writing
shards.write_plan, shards.plan_splits = on_the_driver(shards.write_plan), on_the_driver(shards.plan_splits)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--nodes", default="1,2,3", help="comma list of node counts")
    parser.add_argument("--sizes", default="20000,80000",
                        help="corpus sizes for the driver-memory rows on 2 nodes ('' to skip)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    root = corpus(args.workdir, args.articles)
    records = count_records(root)
    for command in ("validate", "export"):
        rows = [["nodes", "wall s", "parallel s", "driver s", "driver peak MiB", "driver received",
                 "tasks per node"]]
        runs = {}
        for n in (int(v) for v in args.nodes.split(",") if v.strip()):
            run = runs[n] = measure(root, n, command)
            assert run["read"] == runs[min(runs)]["read"], "node counts disagree on what was read"
            rows.append([str(n), f"{run['wall']:.2f}", f"{run['parallel']:.2f}",
                         f"{run['wall'] - run['parallel']:.2f}", f"{run['peak_mib']:.0f}",
                         f"{run['received'] / 2**10:,.1f} KiB", " / ".join(str(b) for b in run["by_node"])])
        what = "export --format hf" if command == "export" else command
        print(f"\n{what} --engine ray, {args.articles:,} articles ({records:,} records), one CPU per node\n")
        print(table(rows))
        first = runs[min(runs)]
        per_core = records / first["parallel"] / min(runs)  # records per second per CPU in the parallel part
        sequential = (first["wall"] - first["parallel"]) / records  # driver seconds per record
        scale = 10_000_000 / args.articles * records  # records of 10 M articles like these
        print(f"\nprojection of {what} for 10 M articles ({scale:,.0f} records), one CPU per node, from the "
              f"per-CPU throughput measured on {min(runs)} node(s):")
        for cluster in (8, 32):
            spread = scale / (per_core * cluster)
            print(f"  {cluster:2d} nodes: parallel part {spread / 60:,.1f} min + driver's sequential part "
                  f"{scale * sequential / 60:,.1f} min")
    sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    if sizes:
        # The driver's intake and peak RSS as the corpus grows (issue 9: they must not grow with it).
        grown = [["articles", "records", "wall s", "driver s", "driver peak MiB", "driver received"]]
        sized_runs = []
        for n in sizes:
            sized = corpus(args.workdir, n)
            run = measure(sized, 2, "export")
            sized_runs.append(run)
            grown.append([f"{n:,}", f"{run['read']:,}", f"{run['wall']:.2f}", f"{run['wall'] - run['parallel']:.2f}",
                          f"{run['peak_mib']:.0f}", f"{run['received'] / 2**10:,.1f} KiB"])
        print(f"\ndriver memory of export --engine ray as the corpus grows, 2 nodes:\n\n{table(grown)}")
        if len(sized_runs) >= 2:
            first, last = sized_runs[0], sized_runs[-1]
            print(f"\ndriver peak RSS {sizes[0]:,} → {sizes[-1]:,} articles: "
                  f"{last['peak_mib'] / first['peak_mib'] - 1:+.0%}")
            # The driver's part has fixed costs (the card's plots, starting up): its growth per record
            # between two sizes is what 10 M articles would add, not its mean per record.
            slope = ((last["wall"] - last["parallel"]) - (first["wall"] - first["parallel"])) / (
                last["read"] - first["read"])
            scale = 10_000_000 / sizes[-1] * last["read"]
            print(f"driver's sequential part per record, {sizes[0]:,} → {sizes[-1]:,} articles: "
                  f"{slope * 1e6:.2f} µs; for 10 M articles: {scale * slope / 60:,.1f} min "
                  "plus its fixed cost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
