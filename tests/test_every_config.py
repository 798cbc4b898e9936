"""Every config of a Hub build loads with every consumer a downstream user reaches for (issue 11).

datasets, pyarrow, polars and DuckDB read each config's files as the card's YAML lists them, offline,
and agree on the rows per split; mlcroissant lists a record set for each config.
"""

from __future__ import annotations

import datasets
import duckdb
import polars as pl
import pyarrow.parquet as pq
import yaml
from conftest import EXAMPLE

from toolkit.export import export


def _configs(build) -> list[dict]:
    text = (build / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---\n")[1])["configs"]


def test_every_config_loads_in_every_reader_with_the_same_rows(tmp_path):
    build = export(EXAMPLE, format="hf", out_dir=tmp_path / "dist").output
    configs = _configs(build)
    names = {c["config_name"] for c in configs}
    assert {"articles", "annotations"} <= names and any(n.startswith("ner-") for n in names)
    for config in configs:
        loaded = datasets.load_dataset(str(build), config["config_name"], cache_dir=str(tmp_path / "cache"))
        for entry in config["data_files"]:
            pattern = (build / entry["path"]).as_posix()
            files = sorted(build.glob(entry["path"]))
            assert files, entry
            rows = loaded[entry["split"]].num_rows
            assert sum(pq.ParquetFile(f).metadata.num_rows for f in files) == rows, (config["config_name"], entry)
            assert pl.read_parquet(pattern).height == rows, (config["config_name"], entry)
            assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()[0][0] == rows


def test_croissant_has_a_record_set_for_every_config(tmp_path):
    import mlcroissant

    build = export(EXAMPLE, format="hf", out_dir=tmp_path / "dist").output
    dataset = mlcroissant.Dataset(jsonld=str(build / "croissant.json"))
    record_sets = {rs.name for rs in dataset.metadata.record_sets}
    for config in _configs(build):
        assert config["config_name"] in record_sets, (config["config_name"], sorted(record_sets))
