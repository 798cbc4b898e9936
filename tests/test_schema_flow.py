"""A field added to the schema reaches validation, Arrow, Features, the card and every exporter with no other edit."""

from __future__ import annotations

import copy
import json
import os

import pyarrow.parquet as pq
import pytest
from conftest import article, span

import toolkit.schemas as schemas
from toolkit.export import export

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def schema_with_new_fields(monkeypatch):
    original = schemas.load_schema

    def patched(name):
        schema = copy.deepcopy(original(name))
        if name == "article":
            schema["properties"]["word_count"] = {"description": "Words in the body.", "type": "integer", "minimum": 0}
            schema["properties"]["fetched_on"] = {"description": "When it was fetched.", "type": "string",
                                                  "x-arrow-type": "timestamp"}
        if name == "annotation":
            schema["$defs"]["embedded"]["properties"]["reviewed"] = {"description": "Checked by a second person.",
                                                                     "type": "boolean"}
        return schema

    caches = (schemas.reference_validator, schemas.fast_validator, schemas.date_fields)
    for cached in caches:
        cached.cache_clear()
    monkeypatch.setattr(schemas, "load_schema", patched)
    yield
    for cached in caches:
        cached.cache_clear()


def test_new_fields_flow_everywhere(schema_with_new_fields, make_dataset, tmp_path):
    import datasets

    bad = make_dataset([article(word_count=-1)])
    from toolkit import validate

    assert [p.path for p in validate(bad).problems] == ["/word_count"]
    root = make_dataset([article(word_count=12, fetched_on="2024-01-01T00:00:00Z")],
                        [span("e1", "PERSON", "Alice", reviewed=True)])
    out = export(root, format="hf", out_dir=tmp_path / "dist").output
    ds = datasets.load_dataset(str(out), split="train")
    assert ds.features["word_count"] == datasets.Value("int64")
    assert str(ds.features["fetched_on"].dtype) == "timestamp[us, tz=UTC]"
    assert ds[0]["word_count"] == 12 and ds[0]["entities"][0]["reviewed"] is True
    annotations = datasets.load_dataset(str(out), "annotations", split="train")
    assert annotations[0]["reviewed"] is True
    card = (out / "README.md").read_text()
    assert "| `word_count` | int64 | Words in the body. |" in card
    assert "Checked by a second person." in card
    croissant = json.loads((out / "croissant.json").read_text())
    assert "word_count" in json.dumps(croissant)
    jsonl = export(root, format="jsonl", out_dir=tmp_path / "j").output
    row = json.loads(next((jsonl / "data" / "articles").iterdir()).read_text())
    assert row["word_count"] == 12 and row["fetched_on"] == "2024-01-01T00:00:00Z"
    pq_out = export(root, format="parquet", out_dir=tmp_path / "p").output
    assert "word_count" in pq.read_schema(next((pq_out / "data" / "articles").iterdir())).names
