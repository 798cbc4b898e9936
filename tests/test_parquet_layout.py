"""Parquet layout for streaming: bounded row groups, several shards once a split is big, named as the Hub does."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.export.parquet import ParquetSplitWriter

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string())])


def _write(folder, batches: list[int], **limits) -> list:
    writer = ParquetSplitWriter(folder, "train", SCHEMA, **limits)
    start = 0
    for size in batches:
        ids = [f"a{i:06d}" for i in range(start, start + size)]
        texts = [hashlib.sha256(i.encode()).hexdigest() * 3 for i in ids]  # incompressible, reproducible
        writer.add(pa.RecordBatch.from_pydict({"id": ids, "text": texts}, schema=SCHEMA), size)
        start += size
    return writer.close()


def test_row_groups_hold_at_most_the_row_cap_whatever_the_batches(tmp_path):
    files = _write(tmp_path, [3000, 4500, 7000, 123], row_group_rows=2500)
    groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows
              for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
    assert groups == [2500] * 5 + [2123]
    rows = pq.read_table(files[0]).column("id").to_pylist()
    assert rows == [f"a{i:06d}" for i in range(14623)]  # read order kept across group boundaries


def test_a_big_split_is_cut_into_shards_named_n_of_total(tmp_path):
    files = _write(tmp_path, [2000] * 10, row_group_rows=1000, shard_bytes=150_000)
    assert len(files) > 1
    assert [f.name for f in files] == [f"train-{i:05d}-of-{len(files):05d}.parquet" for i in range(len(files))]
    ids = [i for f in files for i in pq.read_table(f).column("id").to_pylist()]
    assert ids == [f"a{i:06d}" for i in range(20000)]


def test_the_layout_depends_on_the_rows_not_on_how_they_were_batched(tmp_path):
    one = _write(tmp_path / "one", [5000, 5000], row_group_rows=3000)
    other = _write(tmp_path / "other", [1000] * 10, row_group_rows=3000)
    assert [f.read_bytes() for f in one] == [f.read_bytes() for f in other]
