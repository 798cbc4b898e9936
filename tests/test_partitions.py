"""The staged lines in partitions by article: a stable hash, every article's lines in one partition,
and verdicts and builds that do not depend on the number of partitions nor on where they are checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.engines import InProcess, local
from toolkit.errors import ToolkitError
from toolkit.manifest import load_manifest
from toolkit.store import StagingStore, open_duckdb, partition_of
from toolkit.validation import cross, driver, run_validation

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

_M = 0x100000001B3
_MASK = (1 << 64) - 1


def _reference(value: str | None, partitions: int) -> int:
    """The partition hash written out byte by byte: what every machine must compute."""
    if value is None or partitions == 1:
        return 0
    data = value.encode()
    h = (sum(byte * pow(_M, i + 1, 1 << 64) for i, byte in enumerate(data)) + len(data)) & _MASK
    for shift, multiplier in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53)):
        h ^= h >> shift
        h = (h * multiplier) & _MASK
    h ^= h >> 33
    return h % partitions


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.text(max_size=40), max_size=30), st.integers(1, 300), st.integers(0, 5))
def test_the_partition_hash_is_the_byte_by_byte_reference(values, partitions, cut):
    array = pa.array(values, pa.string())
    expected = [_reference(v, partitions) for v in values]
    assert partition_of(array, partitions).tolist() == expected
    assert partition_of(array.cast(pa.large_string()), partitions).tolist() == expected
    sliced = array.slice(min(cut, len(values)))  # an array that does not start at its buffers' start
    assert partition_of(sliced, partitions).tolist() == expected[min(cut, len(values)):]


def test_the_partition_hash_is_the_same_in_another_process():
    ids = [f"article-{i}" for i in range(50)] + ["Łódź 😊", ""]
    here = partition_of(pa.array(ids), 7).tolist()
    code = ("import json, sys, pyarrow as pa; from toolkit.store import partition_of; "
            "print(json.dumps(partition_of(pa.array(json.loads(sys.argv[1])), 7).tolist()))")
    there = subprocess.run([sys.executable, "-c", code, json.dumps(ids)], capture_output=True, text=True,
                           check=True, cwd=REPO, env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert json.loads(there.stdout) == here


def test_ids_that_differ_in_one_character_spread_evenly():
    parts = partition_of(pa.array([f"a{i:07d}" for i in range(20_000)]), 8)
    counts = np.bincount(parts, minlength=8)
    assert counts.min() > 0.9 * 2_500 and counts.max() < 1.1 * 2_500, counts


def _staged_rows(store: StagingStore, table: str) -> list[tuple[int, pa.Table]]:
    """(partition, rows) of every row group of the staged files of `table`: one partition each."""
    rows = []
    for path in sorted((store.spool / table).glob("*.parquet")):
        file = pq.ParquetFile(path)
        for group in range(file.num_row_groups):
            table_rows = file.read_row_group(group)
            if not table_rows.num_rows:  # the empty file that gives the columns
                continue
            parts = set(table_rows.column("part").to_pylist())
            assert len(parts) == 1 and file.metadata.row_group(group).column(
                table_rows.schema.get_field_index("part")).statistics.has_min_max  # what lets a reader skip it
            rows.append((parts.pop(), table_rows))
    return rows


def test_every_article_and_its_annotations_are_in_one_partition(tmp_path, monkeypatch):
    root = generate(tmp_path / "corpus", 300, seed=5)
    monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes: 6)
    with StagingStore(tmp_path) as store:
        run_validation(load_manifest(root), store, InProcess())
        where: dict[str, int] = {}
        for part, table in _staged_rows(store, "art"):
            for article_id in table.column("id").to_pylist():
                assert where.setdefault(article_id, part) == part
        assert set(where.values()) == set(range(6))  # every partition holds articles
        annotations = 0
        for part, table in _staged_rows(store, "ann"):
            for article_id in table.column("article_id").drop_null().to_pylist():
                assert where.get(article_id, part) == part
                annotations += 1
        assert annotations == store.scalar("SELECT count(*) FROM ann WHERE article_id IS NOT NULL")
        ids = 0
        for part, table in _staged_rows(store, "aid"):
            assert partition_of(table.column("id"), 6).tolist() == [part] * table.num_rows
            ids += table.num_rows
        assert ids == store.scalar("SELECT count(*) FROM ann WHERE id IS NOT NULL")


class _Spy:
    """An engine that counts the partitions it was given to check, running them as `inner` does."""

    def __init__(self, inner) -> None:
        self.inner, self.partitions = inner, 0
        self.shares_files, self.reads_inputs, self.nodes = inner.shares_files, inner.reads_inputs, inner.nodes

    def map(self, fn, context, batches, in_flight=None):
        if fn is cross.partition_conflicts:
            batches = list(batches)
            self.partitions += len(batches)
        return self.inner.map(fn, context, batches, in_flight)


def _verdicts(root, tmp_path, engine, name: str):
    rejects = tmp_path / name
    with StagingStore(tmp_path) as store:
        report = run_validation(load_manifest(root), store, engine, rejects_dir=rejects)
        accepted = (store.con.sql("SELECT k, id, data FROM accepted_articles ORDER BY k").fetchall(),
                    store.con.sql("SELECT k, sub, data FROM accepted_annotations ORDER BY k, sub").fetchall())
    files = {p.name: p.read_bytes() for p in sorted(rejects.iterdir())} if rejects.exists() else {}
    return report.to_dict(), accepted, files


@pytest.mark.parametrize("workers", [1, 2])
def test_verdicts_do_not_depend_on_partitions_nor_on_where_they_are_checked(tmp_path, monkeypatch, workers):
    root = generate(tmp_path / "corpus", 400, seed=11, broken=0.05)
    one = _verdicts(root, tmp_path, InProcess(), "one")
    monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes: 5)
    if workers == 1:
        spy = _Spy(InProcess())
        many = _verdicts(root, tmp_path, spy, "many")
    else:
        with local.open(workers) as pool:
            spy = _Spy(pool)
            many = _verdicts(root, tmp_path, spy, "many")
    assert spy.partitions == 5
    assert one[0]["counts"] == many[0]["counts"] and one[0]["counts"]["articles"]["invalid"] > 0
    assert one == many


def test_a_partition_whose_duckdb_fails_is_one_error_naming_the_staging_folder(tmp_path):
    root = generate(tmp_path / "corpus", 2000, seed=2)
    with StagingStore(tmp_path) as store:
        run_validation(load_manifest(root), store, InProcess())
        job = cross.PartitionJob(str(store.spool), "2MB", str(store.folder / "spill"), str(tmp_path))
        with pytest.raises(ToolkitError, match="ran out of memory") as failed:
            cross.partition_conflicts(job, 0)
        assert str(tmp_path) in failed.value.message and failed.value.exit_code == 2
        assert not (store.folder / "spill" / "p00000").exists()  # its spill folder is removed


@pytest.mark.parametrize(("limit", "most"), [("2MB", 1), ("128MB", 1), ("256MB", 2), ("1GiB", 10)])
def test_a_task_duckdb_runs_a_thread_per_share_of_its_memory_limit(tmp_path, limit, most):
    # Each thread scans row groups of whole lines, buffers that do not spill: at 50k articles the
    # export's gathering ran out of 128MB with two threads (benchmarks: stop 21's note).
    import duckdb

    cores = duckdb.connect().execute("SELECT current_setting('threads')").fetchall()[0][0]
    with open_duckdb(limit, tmp_path / "spill", str(tmp_path)) as con:
        threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    assert threads == max(1, min(most, cores))


def test_partitions_only_for_several_nodes():
    assert driver.partition_count(50 << 30, 1) == 1  # one machine: DuckDB's threads use its cores
    assert driver.partition_count(1 << 20, 3) == 3  # at least one per node
    assert driver.partition_count(10 * driver.PARTITION_BYTES + 1, 2) == 11
    assert driver.partition_count(1 << 60, 8) == driver.MAX_PARTITIONS


def test_duckdb_sizes_staged_tables_from_their_rows_not_from_the_empty_schema_file(tmp_path):
    """DuckDB estimates a file glob's rows from its first file: the empty file that gives each staged
    table its columns sorts last, else every staged table looked empty to the planner and joins
    hashed the staged side (5 near pairs' signature lookup hashed 200k signatures)."""
    with StagingStore(tmp_path) as store:
        keys = pa.array(np.arange(5000, dtype=np.int64))
        store.add("excl", pa.record_batch([keys], names=["k"]))
        plan = "\n".join(row[1] for row in store.rows("EXPLAIN SELECT k FROM excl"))
    estimates = [int(n.replace(",", "")) for n in re.findall(r"~([\d,]+) rows", plan)]
    assert estimates and min(estimates) >= 1000, plan
