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


def test_only_columns_that_repeat_values_get_a_dictionary(tmp_path):
    """Labels and source names repeat (a dictionary pays), ids and texts do not, and a list's items
    (NER tokens) never get one: judged on the data, read back from the file's own metadata."""
    schema = pa.schema([("id", pa.string()), ("label", pa.string()),
                        ("source", pa.struct([("name", pa.string()), ("url", pa.string())])),
                        ("tokens", pa.list_(pa.string())), ("empty", pa.string()),
                        ("kind", pa.dictionary(pa.int8(), pa.string()))])
    rows = 3000
    batch = pa.RecordBatch.from_pydict({
        "id": [f"a{i:06d}" for i in range(rows)],
        "label": [("PER", "ORG", "LOC")[i % 3] for i in range(rows)],
        "source": [{"name": f"paper {i % 7}", "url": f"https://example.org/{i}"} for i in range(rows)],
        "tokens": [["the", "cat", "sat"] for _ in range(rows)],
        "empty": [None] * rows,
        "kind": pa.array([("news", "blog")[i % 2] for i in range(rows)]).dictionary_encode().cast(schema.field("kind").type),
    }, schema=schema)
    writer = ParquetSplitWriter(tmp_path, "train", schema)
    writer.add(batch, rows)
    (path,) = writer.close()
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    encoded = {metadata.column(i).path_in_schema: any("DICTIONARY" in e for e in metadata.column(i).encodings)
               for i in range(metadata.num_columns)}
    assert encoded == {"id": False, "label": True, "source.name": True, "source.url": False,
                       "tokens.list.element": False, "empty": False, "kind": True}
    assert pq.read_table(path).to_pylist() == pa.Table.from_batches([batch]).to_pylist()
