"""`export --annotators human|model|all`: gold or silver builds, relations never left dangling (issue 10 item 5)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from conftest import article, span
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.export import export

RELATION = {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e2", "tail": "e1",
            "annotator": "ann-1"}


def _annotations(build) -> list[tuple[str, str | None]]:
    table = pq.read_table(build / "data" / "annotations")
    return sorted(zip(table.column("id").to_pylist(), table.column("annotator").to_pylist(), strict=True))


@pytest.fixture
def mixed(make_dataset):
    return make_dataset([article()], [
        span("e1", "PERSON", "Alice", annotator="model:ner", confidence=0.8),
        span("e2", "ORG", "ACME", annotator="ann-1"),
        span("e3", "LOC", "Łódź"),
        RELATION,
    ])


@pytest.mark.parametrize(("kept", "expected"), [
    ("all", [("e1", "model:ner"), ("e2", "ann-1"), ("e3", None), ("r1", "ann-1")]),
    ("human", [("e2", "ann-1")]),  # r1 is human but its tail e1 is a model's: it goes too
    ("model", [("e1", "model:ner")]),
])
def test_a_build_keeps_the_annotations_asked_for(mixed, tmp_path, kept, expected):
    result = export(mixed, format="parquet", out_dir=tmp_path, annotators=kept)
    assert _annotations(result.output) == expected
    articles = pq.read_table(result.output / "data" / "articles").to_pylist()
    assert sorted(s["id"] for s in articles[0]["entities"]) == sorted(i for i, _ in expected if i.startswith("e"))


def test_the_card_says_what_the_build_holds(mixed, tmp_path):
    card = (export(mixed, format="hf", out_dir=tmp_path, annotators="human").output / "README.md").read_text()
    assert "keeps only the annotations that are a named person's (gold)" in card
    assert "| entities | 1 | 0 | – | 0 |" in card


def test_cli_lists_and_checks_the_choice(mixed, tmp_path):
    runner = CliRunner()
    assert "human" in runner.invoke(app, ["export", "--help"]).output
    bad = runner.invoke(app, ["export", str(mixed), "--annotators", "robots", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    ok = runner.invoke(app, ["export", str(mixed), "--annotators", "model", "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
