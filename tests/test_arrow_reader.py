"""Arrow's JSON reader (export/arrow_json.py) gives exactly the batches and statistics of the dict path
(the row builder + `RecordBatch.from_pylist`), and batches Arrow will not read fall back to that path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from conftest import EXAMPLE, LAYERS, REPO, TEXT

from toolkit.arrow_types import annotation_features, article_features, row_plan
from toolkit.export import arrow_json
from toolkit.export import rows as rows_module
from toolkit.export.rows import BuildStats, RowContext
from toolkit.manifest import parse_manifest
from toolkit.splits import SPLIT_ORDER

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402


def _records(root: Path) -> tuple[list[dict], list[list[dict]]]:
    articles = [json.loads(line) for line in (root / "articles.jsonl").read_text(encoding="utf-8").splitlines()]
    annotations: dict[str, list[dict]] = {a["id"]: [] for a in articles}
    for line in (root / "annotations.jsonl").read_text(encoding="utf-8").splitlines():
        ann = json.loads(line)
        annotations[ann["article_id"]].append(ann)
    return articles, [annotations[a["id"]] for a in articles]


FULL = {
    "id": "a1", "title": "Alice meets ACME", "text": TEXT, "language": "en",
    "published_at": "2024-02-29", "updated_at": "2024-03-01t10:00:00.5z", "url": "https://example.org/x",
    "source": {"name": "Example", "domain": "example.org", "tagline": "All the news"},
    "authors": ["A. Writer"], "tags": [], "section": "World", "subtitle": "Sub",
    "media": [{"kind": "image", "caption": "A caption", "credit": "PHOTO DESK"}],
    "related": [{"title": "Earlier story"}], "license": "CC-BY-4.0", "meta": {"desk": "metro", "rank": "2"},
}
BARE = {"id": "a2", "title": "Bare", "text": "Nothing else.", "language": "fr"}
EDGE_ANNOTATIONS = [
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
EDGE_ARTICLES = [FULL, BARE]




def _context(manifest_raw: dict) -> RowContext:
    manifest = parse_manifest(manifest_raw, REPO / "dataset.yaml")
    plan = row_plan(manifest)
    schemas = {"articles": article_features(plan).arrow_schema, "annotations": annotation_features(plan).arrow_schema}
    return RowContext(plan, manifest.splits, "arrow", schemas)


def _stored(articles: list[dict], annotations: list[list[dict]]) -> list[tuple[str, bytes, list[bytes], str]]:
    """Stored articles as export hands them to the builders, each with its split (every split in turn)."""
    return [(a["id"], orjson.dumps(a), [orjson.dumps(x) for x in anns], SPLIT_ORDER[i % 3])
            for i, (a, anns) in enumerate(zip(articles, annotations, strict=True))]


def _stats_view(stats: BuildStats) -> dict:
    """Everything the card reads, Counter order included (ties in most_common follow it)."""
    view = {k: list(v.items()) for k, v in vars(stats).items() if isinstance(v, dict) and k != "labels" and k != "example"}
    view["labels"] = {layer: list(c.items()) for layer, c in stats.labels.items()}
    view["dates"] = (stats.first_published, stats.last_published)
    view["example"] = stats.example
    return view


def assert_reader_equals_dicts(manifest_raw: dict, batch: list) -> None:
    context = _context(manifest_raw)
    stats = BuildStats()
    fast = arrow_json.build(context.plan, context.schemas, context.splits, batch, stats)  # must not fall back
    slow = rows_module._build_from_dicts(context, batch)
    assert list(fast) == list(slow.parts)
    for key, (part, count) in fast.items():
        assert count == slow.parts[key][1]
        assert part.equals(slow.parts[key][0]), (key, part.to_pylist()[:1], slow.parts[key][0].to_pylist()[:1])
    assert _stats_view(stats) == _stats_view(slow.stats)


@pytest.mark.parametrize("source", ["example", "generated"])
def test_arrow_reader_equals_dicts_on_corpora(source, tmp_path):
    import yaml

    root = EXAMPLE if source == "example" else generate(tmp_path / "g", 150, seed=3).parent
    manifest = yaml.safe_load((root / "dataset.yaml").read_text(encoding="utf-8"))
    manifest["articles"], manifest["annotations"] = ["examples/sample-news/articles.jsonl"], []
    assert_reader_equals_dicts(manifest, _stored(*_records(root)))


def test_arrow_reader_equals_dicts_on_every_optional_shape():
    manifest = {"name": "edge", "articles": ["examples/sample-news/articles.jsonl"], "layers": LAYERS,
                "splits": {"train": 0.5, "validation": 0.25, "test": 0.25}}
    # The upper-case form of FULL's date-time: Arrow reads it (the lower-case one falls back, below).
    articles = [dict(a, id=f"a{i}") for i, a in enumerate([dict(FULL, updated_at="2024-03-01T10:00:00.5Z"), BARE] * 6)]
    annotations = [[dict(x, article_id=a["id"], id=f"{x['id']}-{a['id']}") for x in anns]
                   for a, anns in zip(articles, [*EDGE_ANNOTATIONS] * 6, strict=True)]
    for anns in annotations:
        for x in anns:
            if "head" in x:
                x["head"], x["tail"] = f"{x['head']}-{x['article_id']}", f"{x['tail']}-{x['article_id']}"
    assert_reader_equals_dicts(manifest, _stored(articles, annotations))
    assert_reader_equals_dicts(manifest, _stored(articles[1:2], annotations[1:2]))  # no annotations at all


def test_records_arrow_does_not_read_fall_back_to_dicts(monkeypatch):
    manifest = {"name": "edge", "articles": ["examples/sample-news/articles.jsonl"], "layers": LAYERS}
    context = _context(manifest)
    odd = dict(EDGE_ARTICLES[0], updated_at="2024-03-01t10:00:00.1234567z")  # valid RFC 3339, not for Arrow
    batch = _stored([odd], [EDGE_ANNOTATIONS[0]])
    with pytest.raises(pa.ArrowException):
        arrow_json.build(context.plan, context.schemas, context.splits, batch, BuildStats())
    built = rows_module.build_batch(context, batch)
    expected = rows_module._build_from_dicts(context, batch)
    assert all(built.parts[k][0].equals(v[0]) for k, v in expected.parts.items())
