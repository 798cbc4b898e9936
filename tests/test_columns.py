"""The column-wise Arrow builder gives exactly the batches the row builder + `from_pylist` give."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import EXAMPLE, LAYERS, REPO, TEXT

from toolkit.arrow_types import RowBuilder, annotation_features, article_features, row_plan
from toolkit.export.columns import annotation_batch, article_batch
from toolkit.manifest import parse_manifest

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402


def _records(root: Path) -> tuple[list[dict], list[list[dict]]]:
    articles = [json.loads(line) for line in (root / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    annotations: dict[str, list[dict]] = {a["id"]: [] for a in articles}
    for line in (root / "annotations.jsonl").read_text(encoding="utf-8").splitlines():
        ann = json.loads(line)
        annotations[ann["article_id"]].append(ann)
    return articles, [annotations[a["id"]] for a in articles]


def assert_same(manifest_raw: dict, articles: list[dict], annotations: list[list[dict]]) -> None:
    plan = row_plan(parse_manifest(manifest_raw, REPO / "dataset.yaml"))
    article_schema = article_features(plan).arrow_schema
    annotation_schema = annotation_features(plan).arrow_schema
    builder = RowBuilder(plan)
    by_rows = pa.RecordBatch.from_pylist(
        [builder.article_row(a, anns) for a, anns in zip(articles, annotations, strict=True)], schema=article_schema)
    by_columns = article_batch(plan, article_schema, articles, annotations)
    assert by_columns.equals(by_rows), (by_columns.to_pylist()[:1], by_rows.to_pylist()[:1])
    flat = [a for anns in annotations for a in anns]
    by_rows = pa.RecordBatch.from_pylist([builder.annotation_row(a) for a in flat], schema=annotation_schema)
    assert annotation_batch(plan, annotation_schema, flat).equals(by_rows)


@pytest.mark.parametrize("source", ["example", "generated"])
def test_same_batches_on_corpora(source, tmp_path):
    import yaml

    root = EXAMPLE if source == "example" else generate(tmp_path / "g", 150, seed=3).parent
    manifest = yaml.safe_load((root / "dataset.yaml").read_text(encoding="utf-8"))
    manifest["articles"], manifest["annotations"] = ["examples/sample-news/articles.jsonl"], []
    assert_same(manifest, *_records(root))


def test_same_batches_on_every_optional_shape():
    manifest = {"name": "edge", "articles": ["examples/sample-news/articles.jsonl"], "layers": LAYERS}
    full = {
        "id": "a1", "title": "Alice meets ACME", "text": TEXT, "language": "en",
        "published_at": "2024-02-29", "updated_at": "2024-03-01t10:00:00.5z", "url": "https://example.org/x",
        "source": {"name": "Example", "domain": "example.org", "tagline": "All the news"},
        "authors": ["A. Writer"], "tags": [], "section": "World", "subtitle": "Sub",
        "media": [{"kind": "image", "caption": "A caption", "credit": "PHOTO DESK"}],
        "related": [{"title": "Earlier story"}], "license": "CC-BY-4.0", "meta": {"desk": "metro", "rank": "2"},
    }
    bare = {"id": "a2", "title": "Bare", "text": "Nothing else.", "language": "fr"}
    annotations = [
        [
            {"id": "e1", "article_id": "a1", "layer": "entities", "label": "PERSON", "start": 0, "end": 5,
             "text": "Alice", "annotator": "model:x", "confidence": 0.5, "created_at": "2024-01-01T00:00:00+02:00",
             "attributes": {"negated": False, "score": 3, "note": "ok"}},
            {"id": "e2", "article_id": "a1", "layer": "entities", "label": "ORG", "start": 12, "end": 16,
             "field": "title", "text": "ACME"},
            {"id": "p1", "article_id": "a1", "layer": "persuasion", "label": "Doubt", "start": 0, "end": 9},
            {"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion"},
            {"id": "t1", "article_id": "a1", "layer": "topics", "label": "economy"},
            {"id": "t2", "article_id": "a1", "layer": "topics", "label": "politics"},
            {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e1", "tail": "e2"},
        ],
        [],
    ]
    assert_same(manifest, [full, bare], annotations)
    assert_same(manifest, [], [])
