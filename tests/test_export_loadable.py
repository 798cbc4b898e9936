"""`--format parquet` and `--format jsonl` builds load as they are with `datasets.load_dataset(folder)`.

Both configs, every split, label names where the format keeps them and dates typed as UTC
timestamps (issue 11, item 4). Loading is offline (HF_HUB_OFFLINE=1 in the Makefile and conftest).
"""

from __future__ import annotations

import datasets
import pytest
from conftest import EXAMPLE

from toolkit.export import export


@pytest.mark.parametrize(("fmt", "compression"), [("parquet", "none"), ("jsonl", "none"), ("jsonl", "gz"),
                                                  ("jsonl", "zst")])
def test_a_build_loads_both_configs_with_typed_dates(tmp_path, fmt, compression):
    result = export(EXAMPLE, format=fmt, out_dir=tmp_path, jsonl_compression=compression)
    cache = str(tmp_path / "cache")
    articles = datasets.load_dataset(str(result.output), cache_dir=cache)
    annotations = datasets.load_dataset(str(result.output), "annotations", cache_dir=cache)
    assert dict(articles.num_rows) == dict(result.stats.articles)
    assert dict(annotations.num_rows) == dict(result.stats.annotations)
    train = articles["train"]
    assert train.features["published_at"] == datasets.Value("timestamp[us, tz=UTC]")
    assert annotations["train"].features["created_at"] == datasets.Value("timestamp[us, tz=UTC]")
    assert any(row["published_at"] is not None and row["published_at"].utcoffset().total_seconds() == 0
               for row in train)
    genre = train.features["genre"]
    if fmt == "parquet":  # class ids with their names, from the shards' own metadata
        assert isinstance(genre, datasets.ClassLabel) and "opinion" in genre.names
    else:  # JSONL keeps label names as text
        assert genre == datasets.Value("string")
        assert {row["genre"] for row in train} <= {"reporting", "opinion", "analysis", "satire", None}
    assert (result.output / "README.md").read_text().startswith("---\npretty_name:")
    assert "README.md" in (result.output / "SHA256SUMS").read_text()


@pytest.mark.parametrize("fmt", ["hf", "parquet", "jsonl"])
def test_labels_parquet_names_every_class_id(tmp_path, fmt):
    import duckdb
    import pyarrow.parquet as pq

    from toolkit.manifest import load_manifest

    result = export(EXAMPLE, format=fmt, out_dir=tmp_path)
    labels = pq.read_table(result.output / "labels.parquet").to_pylist()
    manifest = load_manifest(EXAMPLE)
    assert [(r["layer"], r["id"], r["name"]) for r in labels] == [
        (name, i, label) for name, layer in manifest.layers.items() for i, label in enumerate(layer.labels)]
    if fmt != "jsonl":  # the recipe the README gives: class ids back to names with one join
        shards = (result.output / "data" / "articles").as_posix() + "/train-*.parquet"
        named = duckdb.sql(f"""
            SELECT a.id, l.name FROM read_parquet('{shards}') a
            JOIN read_parquet('{(result.output / "labels.parquet").as_posix()}') l
              ON l.layer = 'genre' AND l.id = a.genre ORDER BY a.id""").fetchall()
        genres = datasets.load_dataset(str(result.output), split="train", cache_dir=str(tmp_path / "c"))
        expected = sorted((row["id"], genres.features["genre"].int2str(row["genre"]))
                          for row in genres if row["genre"] is not None)
        assert named == expected
