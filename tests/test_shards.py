"""Data-defined shards written by the workers (issue 9): every split cut by bytes, rows in read order,
views sharded with their articles, and the same bytes when workers cannot see the staging folder."""

from __future__ import annotations

import errno
import json
import pickle
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
from conftest import REPO

import toolkit.export as export_module
import toolkit.export.shards as shards_module
from toolkit.engines import EngineOptions
from toolkit.errors import ToolkitError
from toolkit.export import export

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

SMALL_SHARDS = 40_000  # bytes of records per shard: the 300-article corpus makes several per split


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("shards") / "c", 300, seed=11).parent


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _shards(build: Path, config: str, split: str) -> list[Path]:
    return sorted((build / "data" / config).glob(f"{split}-*.parquet"))


def test_each_split_is_cut_into_numbered_shards_holding_its_rows_in_read_order(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    build = export(corpus, format="hf", out_dir=tmp_path / "dist", engine=EngineOptions(workers=2)).output
    read_order = {json.loads(line)["id"]: i for i, line in enumerate((corpus / "articles.jsonl").open())}
    for split in ("train", "validation", "test"):
        files = _shards(build, "articles", split)
        assert [f.name for f in files] == [f"{split}-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
        ids = [i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()]
        assert [read_order[i] for i in ids] == sorted(read_order[i] for i in ids)
        positions = [read_order[i] for f in _shards(build, "annotations", split)
                     for i in pq.read_table(f, columns=["article_id"]).column("article_id").to_pylist()]
        assert positions == sorted(positions)  # each article's annotations after the previous article's
    assert len(_shards(build, "articles", "train")) >= 3
    # Each view's shards follow the articles': no more of them, and each from the articles of one shard.
    ner_files = _shards(build, "ner-entities", "train")
    assert 1 < len(ner_files) <= len(_shards(build, "articles", "train"))


def test_shard_size_changes_the_files_not_the_rows(corpus, tmp_path, monkeypatch):
    big = export(corpus, format="hf", out_dir=tmp_path / "big").output
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    small = export(corpus, format="hf", out_dir=tmp_path / "small").output
    assert len(_shards(small, "articles", "train")) > len(_shards(big, "articles", "train")) == 1
    configs = [p.name for p in sorted((big / "data").iterdir())]
    assert {"articles", "annotations", "ner-entities", "classify-genre", "relations-attribution"} <= set(configs)
    for config in configs:
        one, many = (datasets.load_dataset(str(build), config) for build in (big, small))
        for split in one:
            assert one[split].to_list() == many[split].to_list(), (config, split)


class _Elsewhere:
    """An engine whose workers cannot see this machine's files: every task and result crosses a pickle,
    as it would to a Ray node on another machine without --shared-storage."""

    shares_files = False
    reads_inputs = False
    nodes = 1

    in_flight: list[int | None] = []

    def map(self, fn: Any, context: Any, batches: Any, in_flight: int | None = None) -> Iterator[Any]:
        self.in_flight.append(in_flight)
        for batch in batches:
            work, item = pickle.loads(pickle.dumps((context, batch)))
            yield pickle.loads(pickle.dumps(fn(work, item)))


@pytest.mark.parametrize("fmt", ["hf", "jsonl"])
def test_workers_that_cannot_see_the_staging_folder_give_the_same_bytes(corpus, tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    here = _files(export(corpus, format=fmt, out_dir=tmp_path / "dist").output)

    @contextmanager
    def elsewhere(options: Any = None, input_bytes: Any = None) -> Iterator[_Elsewhere]:
        yield _Elsewhere()

    monkeypatch.setattr(export_module, "open_engine", elsewhere)
    _Elsewhere.in_flight.clear()
    assert _files(export(corpus, format=fmt, out_dir=tmp_path / "dist").output) == here
    # The shards' records travel with their tasks: the driver holds only a few shards at a time.
    assert shards_module.RECORDS_IN_FLIGHT in _Elsewhere.in_flight


def test_a_full_staging_folder_while_shards_are_written_is_one_error_naming_it(corpus, tmp_path, monkeypatch):
    def full(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # as pyarrow raises it: no file name

    monkeypatch.setattr(shards_module, "_write_rows", full)
    temp = tmp_path / "tmp"
    temp.mkdir()
    with pytest.raises(ToolkitError, match="No space left on device") as raised:
        export(corpus, format="hf", out_dir=tmp_path / "dist", temp_dir=temp, engine=EngineOptions(workers=1))
    assert str(temp) in raised.value.message and raised.value.exit_code == 2
    assert list(temp.iterdir()) == []  # the staging folder is gone
    assert not (tmp_path / "dist" / "synthetic-news").exists()  # no partial build


def test_records_are_streamed_into_one_file_per_shard(tmp_path):
    from toolkit.store import StagingStore

    with StagingStore(tmp_path) as store:
        store.execute("CREATE TABLE t AS SELECT (i * 7919) % 5 AS s, i AS rn, repeat('x', i % 97) AS data "
                      "FROM range(20000) r(i)")
        written = shards_module._copy_by_shard(store, "SELECT s, rn, data FROM t", tmp_path / "out")
        assert sorted(written) == [0, 1, 2, 3, 4]
        for shard, path in written.items():
            rows = shards_module._read((path,), "articles").to_pydict()
            assert set(rows) == {"rn", "data"}
            assert sorted(rows["rn"]) == [i for i in range(20000) if (i * 7919) % 5 == shard]
            assert all(len(d) == rn % 97 for rn, d in zip(rows["rn"], rows["data"], strict=True))
