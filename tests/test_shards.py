"""Data-defined shards gathered and written by the workers (issue 9): every split cut by a hash of the
article id, rows in read order inside a shard, views sharded with their articles, and the same bytes
whatever the partitions and when workers cannot see the staging folder."""

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
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO

import toolkit.export as export_module
import toolkit.export.shards as shards_module
from toolkit.engines import EngineOptions
from toolkit.errors import ToolkitError
from toolkit.export import export
from toolkit.manifest import load_manifest
from toolkit.store import id_hash
from toolkit.validation import driver

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


def _shard_of(ids: list[str], shards: int) -> list[int]:
    return (id_hash(pa.array(ids, pa.string())) % np.uint64(shards)).astype(int).tolist()


def test_each_split_is_cut_by_article_id_into_numbered_shards_holding_their_rows_in_read_order(
        corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    build = export(corpus, format="hf", out_dir=tmp_path / "dist", engine=EngineOptions(workers=2)).output
    read_order = {json.loads(line)["id"]: i for i, line in enumerate((corpus / "articles.jsonl").open())}
    in_split = {split: pq.read_table(_shards(build, "articles", split), columns=["id"]).num_rows
                for split in ("train", "validation", "test")}
    input_bytes = load_manifest(corpus).input_bytes()
    for split in ("train", "validation", "test"):
        # The split's shard count, from its share of the input (shards.shard_counts).
        count = -(-input_bytes * in_split[split] // (sum(in_split.values()) * SMALL_SHARDS))
        files = _shards(build, "articles", split)
        assert [f.name for f in files] == [f"{split}-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
        shard_numbers = []
        for articles, notes in zip(files, _shards(build, "annotations", split), strict=True):
            ids = pq.read_table(articles, columns=["id"]).column("id").to_pylist()
            assert [read_order[i] for i in ids] == sorted(read_order[i] for i in ids)  # read order inside a shard
            (number,) = set(_shard_of(ids, count))  # one shard: hash(article id) mod the count
            shard_numbers.append(number)
            owners = pq.read_table(notes, columns=["article_id"]).column("article_id").to_pylist()
            assert set(owners) <= set(ids)  # each article's annotations in its article's shard
            positions = [read_order[i] for i in owners]
            assert positions == sorted(positions)  # each article's annotations after the previous article's
        assert shard_numbers == sorted(set(shard_numbers))  # the files are the shards in order
    assert len(_shards(build, "articles", "train")) >= 3
    # The card says so, for this build: which splits are cut, and that order holds inside a file.
    card = (build / "README.md").read_text(encoding="utf-8")
    assert f"train ({len(_shards(build, 'articles', 'train'))} files)" in card
    assert "Rows are in input order within each file" in card
    # Each view's shards follow the articles': no more of them, and each from the articles of one shard.
    ner_files = _shards(build, "ner-entities", "train")
    assert 1 < len(ner_files) <= len(_shards(build, "articles", "train"))


def _rows(dataset: datasets.Dataset) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in dataset.to_list())


def test_shard_size_changes_the_files_not_the_rows(corpus, tmp_path, monkeypatch):
    big = export(corpus, format="hf", out_dir=tmp_path / "big").output
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    small = export(corpus, format="hf", out_dir=tmp_path / "small").output
    assert len(_shards(small, "articles", "train")) > len(_shards(big, "articles", "train")) == 1
    assert "Rows are in input order (the order the articles were read), one file per split." in (
        big / "README.md").read_text(encoding="utf-8")
    configs = [p.name for p in sorted((big / "data").iterdir())]
    assert {"articles", "annotations", "ner-entities", "classify-genre", "relations-attribution"} <= set(configs)
    for config in configs:
        one, many = (datasets.load_dataset(str(build), config) for build in (big, small))
        for split in one:
            # One shard per split keeps the whole split in read order; several hold the same rows.
            assert _rows(one[split]) == _rows(many[split]), (config, split)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_build_does_not_depend_on_how_many_partitions_gather_it(tmp_path, monkeypatch, workers):
    # Broken lines, copies and conflicts: the resolver's accepted records are gathered with the clean ones.
    source = generate(tmp_path / "c", 400, seed=5, broken=0.08).parent
    monkeypatch.setattr(shards_module, "SHARD_SOURCE_BYTES", SMALL_SHARDS)
    builds = {}
    for partitions in (1, 4):
        monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes, n=partitions: n)
        result = export(source, format="hf", out_dir=tmp_path / f"p{partitions}", skip_invalid=True,
                        engine=EngineOptions(workers=workers))
        assert not result.report.ok  # the broken lines were rejected, the rest exported
        builds[partitions] = _files(result.output)
    assert builds[1] == builds[4]
    assert sum(name.startswith("data/articles/") for name in builds[1]) > 3


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
