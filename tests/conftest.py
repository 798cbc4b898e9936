"""Shared fixtures: small datasets written to a temporary folder, line by line as the test says."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
EXAMPLE = REPO / "examples" / "sample-news"

LAYERS = {
    "entities": {"kind": "span", "labels": ["PERSON", "ORG", "LOC"], "overlap": False},
    "persuasion": {"kind": "span", "labels": {"Loaded_Language": "strong words", "Doubt": "questioning"}},
    "genre": {"kind": "document", "labels": ["reporting", "opinion"]},
    "topics": {"kind": "document", "labels": ["politics", "economy"], "multi": True},
    "attribution": {"kind": "relation", "labels": ["said_by"]},
}

TEXT = "Alice Moreau met ACME in Łódź 😊 on Monday.\n\nShe said “no”."


def article(**overrides: object) -> dict:
    record = {"id": "a1", "title": "Alice meets ACME", "text": TEXT, "language": "en"}
    record.update(overrides)
    return record


def span(ann_id: str, label: str, phrase: str, layer: str = "entities", article_id: str = "a1", **extra: object) -> dict:
    start = TEXT.index(phrase)
    record = {"id": ann_id, "article_id": article_id, "layer": layer, "label": label,
              "start": start, "end": start + len(phrase), "text": phrase}
    record.update(extra)
    return record


def assert_toolkit_validates(folder: Path) -> None:
    """The toolkit's own validator accepts the dataset at `folder` (an importer's output, say)."""
    from toolkit import validate

    report = validate(folder)
    assert report.ok, [str(problem) for problem in report.problems]


def line(record: object) -> str:
    return json.dumps(record, ensure_ascii=False)


DatasetMaker = Callable[..., Path]


@pytest.fixture
def make_dataset(tmp_path: Path) -> DatasetMaker:
    """Write a dataset: `articles`/`annotations` are lists of records (dicts) or raw lines (str/bytes)."""

    def make(articles: list, annotations: list | None = None, layers: dict | None = None, **manifest: object) -> Path:
        root = tmp_path / "ds"
        root.mkdir(exist_ok=True)

        def write(name: str, rows: list) -> None:
            with open(root / name, "wb") as f:
                for row in rows:
                    data = row if isinstance(row, bytes) else (row if isinstance(row, str) else line(row)).encode()
                    f.write(data + b"\n")

        write("articles.jsonl", articles)
        spec = {"name": "test-ds", "articles": ["articles.jsonl"], "layers": layers or LAYERS, **manifest}
        if annotations is not None:
            write("annotations.jsonl", annotations)
            spec["annotations"] = ["annotations.jsonl"]
        (root / "dataset.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return root

    return make
