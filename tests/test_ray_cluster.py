"""`--engine ray` on a real multi-node Ray cluster (issue 9), run on one machine.

`ray.cluster_utils.Cluster` starts several raylets, each with its own object store and workers,
as separate nodes of one cluster. On it: the build equals the local engine's file for file, and no
record passes through the driver (the workers read their byte ranges and write staged rows
themselves), measured as the bytes the driver received.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO

from toolkit import validate
from toolkit.engines import EngineOptions
from toolkit.engines import ray as ray_engine
from toolkit.export import export
from toolkit.store import StagingStore
from toolkit.validation import cross

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


@pytest.fixture(scope="module")
def cluster():
    nodes = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("cluster") / "c", 400, seed=11, broken=0.05).parent


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_node_cluster_builds_what_the_local_engine_builds(cluster, corpus, tmp_path, monkeypatch):
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    monkeypatch.setattr(sys.modules["toolkit.readers"], "RANGE_BYTES", 16_000)  # many ranges, both nodes busy
    engines: list[ray_engine.RayData] = []
    opened = ray_engine.open

    def recording(options):  # the engine object, to read what its driver received
        context = opened(options)
        engines.append(context.__enter__())
        return _Reentered(context, engines[-1])

    monkeypatch.setattr(ray_engine, "open", recording)
    mapped = _recording_map(monkeypatch)
    on_ray = export(corpus, out_dir=tmp_path / "ray", skip_invalid=True, engine=EngineOptions(engine="ray"))
    local = export(corpus, out_dir=tmp_path / "local", skip_invalid=True, engine=EngineOptions(workers=1))
    assert on_ray.report.problem_counts == local.report.problem_counts
    assert _files(on_ray.output) == _files(local.output)
    assert (on_ray.rejects is None) == (local.rejects is None)
    if local.rejects is not None:
        assert _files(on_ray.rejects) == _files(local.rejects)
    # Staging sent the driver only empty results; what it received is the export's row batches.
    inputs = sum(p.stat().st_size for p in corpus.glob("*.jsonl"))
    assert engines and engines[0].shares_files and engines[0].reads_inputs
    validation_only = validate(corpus, engine=EngineOptions(engine="ray"))
    assert validation_only.problem_counts == local.report.problem_counts
    assert engines[-1].received_bytes < inputs / 20, (engines[-1].received_bytes, inputs)
    assert len(engines[-1].batches_by_node) == 2  # both nodes read and checked ranges
    # The cross-record checks ran on the cluster too: one partition of the staged lines per node, in
    # each of the two runs (the export, then the validation).
    assert engines[-1].nodes == 2 and mapped.count("partition_conflicts") == 2 * 2
    # And so did gathering the accepted records into shards (a task per partition, the export's):
    # the local build above came from one partition, so the bytes do not depend on the partitions.
    assert mapped.count("gather_partition") == 2
    # Agreement too, counted in each partition and added up (the generated corpus has people enough).
    assert mapped.count("partition_agreement") >= 2 * 2
    assert on_ray.report.agreement and on_ray.report.agreement == local.report.agreement


def _recording_map(monkeypatch) -> list[str]:
    """The names of the functions the Ray engine was given, one per task."""
    mapped: list[str] = []
    original = ray_engine.RayData.map

    def recording(self, fn, context, batches, in_flight=None):
        batches = list(batches)
        mapped.extend([fn.__name__] * len(batches))
        return original(self, fn, context, batches, in_flight)

    monkeypatch.setattr(ray_engine.RayData, "map", recording)
    return mapped


class _Reentered:
    """A context manager handing back an engine already entered (so the test can keep hold of it)."""

    def __init__(self, context, engine) -> None:
        self._context, self._engine = context, engine

    def __enter__(self):
        return self._engine

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)


def test_shared_storage_lets_nodes_elsewhere_read_and_stage(cluster, corpus, monkeypatch):
    """Nodes on other machines (simulated: the engine is told they are) get lines from the driver and
    hand rows back — unless --shared-storage says they see the same paths; then the driver's intake
    is what it is for local nodes. The report is the same either way."""
    monkeypatch.setattr(ray_engine, "_on_this_machine", lambda: False)
    engines: list[ray_engine.RayData] = []
    opened = ray_engine.open

    def recording(options):
        context = opened(options)
        engines.append(context.__enter__())
        return _Reentered(context, engines[-1])

    monkeypatch.setattr(ray_engine, "open", recording)
    mapped = _recording_map(monkeypatch)
    cut: list[int] = []  # the number of partitions of each run
    check_partitions = cross.check_partitions

    def counted(store, engine):
        cut.append(store.partitions)
        return check_partitions(store, engine)

    monkeypatch.setattr(cross, "check_partitions", counted)
    inputs = sum(p.stat().st_size for p in corpus.glob("*.jsonl"))
    apart = validate(corpus, engine=EngineOptions(engine="ray"))
    assert not engines[-1].reads_inputs and engines[-1].received_bytes > inputs / 2
    # The staged rows are on the driver's machine: their cross-record checks stay there, uncut.
    assert cut == [1] and "partition_conflicts" not in mapped
    shared = validate(corpus, engine=EngineOptions(engine="ray", shared_storage=True))
    assert engines[-1].reads_inputs and engines[-1].shares_files
    assert engines[-1].received_bytes < inputs / 20
    assert cut == [1, 2] and mapped.count("partition_conflicts") == 2  # one per node, checked on the nodes
    assert shared.problem_counts == apart.problem_counts and shared.counts == apart.counts


def test_the_driver_keeps_no_row_per_article_or_annotation(cluster, corpus, tmp_path, monkeypatch):
    """What stays on the driver grows with what the corpus has of duplicates and conflicts, not with
    its articles or annotations: with several partitions no working table of the driver's DuckDB
    holds a row per line, and the only ones with more than a handful of rows are the ids in
    conflict and the duplicate clusters (the split and export plans are the partitions': the old
    driver kept five tables of a row per article for them). On one partition there are rows per
    line (the working copies that the rules, the resolver and agreement read there), which shows
    the probe sees them."""
    tables: list[dict[str, int]] = []
    close = StagingStore.close

    def measured(store):
        if getattr(store, "con", None) is not None:
            tables.append(dict(store.con.execute(
                "SELECT database_name || '.' || table_name, estimated_size FROM duckdb_tables()").fetchall()))
        close(store)

    monkeypatch.setattr(StagingStore, "close", measured)
    on_ray = export(corpus, out_dir=tmp_path / "ray", skip_invalid=True, engine=EngineOptions(engine="ray"))
    export(corpus, out_dir=tmp_path / "local", skip_invalid=True, engine=EngineOptions(workers=1))
    articles = on_ray.report.counts["articles"].read
    annotations = on_ray.report.counts["annotations"].read
    assert annotations > 4 * articles  # the generated corpus: a dozen annotations per article
    on_the_driver, alone = tables[0], tables[-1]
    assert on_the_driver and max(on_the_driver.values()) <= articles, on_the_driver
    sizable = {name for name, rows in on_the_driver.items() if rows > 20}
    assert sizable <= {"scratch.conflicts", "scratch.dup_ids", "scratch.dup_members"}, on_the_driver
    assert max(alone.values()) > articles, alone
