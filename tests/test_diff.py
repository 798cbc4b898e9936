"""`diff OLD NEW`: a corpus where 10 articles were added, 3 removed and 2 edited reports exactly that (issue 11)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.diff import diff
from toolkit.export import export

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(folder: Path, manifest: str, articles: list[dict], annotations: list[dict]) -> Path:
    folder.mkdir()
    (folder / "dataset.yaml").write_text(manifest, encoding="utf-8")
    (folder / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    (folder / "annotations.jsonl").write_text("".join(json.dumps(a) + "\n" for a in annotations), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("diff")
    generate(root / "gen", 60, seed=7)
    manifest = (root / "gen" / "dataset.yaml").read_text(encoding="utf-8")
    articles, annotations = _lines(root / "gen" / "articles.jsonl"), _lines(root / "gen" / "annotations.jsonl")
    old_articles, new_articles = articles[:50], [dict(a) for a in articles[3:]]
    for edited in new_articles[:2]:
        edited["title"] += " (updated)"
    keep_old = {a["id"] for a in old_articles}
    keep_new = {a["id"] for a in new_articles}
    old = _write(root / "v1", manifest, old_articles, [a for a in annotations if a["article_id"] in keep_old])
    new = _write(root / "v2", manifest, new_articles, [a for a in annotations if a["article_id"] in keep_new])
    gone = {a["id"] for a in articles[:3]}
    # Annotations of an article: its lines in annotations.jsonl and those embedded in the article.
    every = [*annotations, *({**e, "article_id": a["id"]} for a in articles for e in a.get("annotations", []))]
    removed = Counter((a["layer"], a["label"]) for a in every if a["article_id"] in gone)
    added = Counter((a["layer"], a["label"]) for a in every if a["article_id"] in keep_new - keep_old)
    facts = {"added": [a["id"] for a in articles[50:]], "removed": sorted(gone),
             "edited": sorted(a["id"] for a in new_articles[:2]), "ann_removed": removed, "ann_added": added}
    return old, new, facts


def _check(result, facts) -> None:
    assert result.articles["old"] == 50 and result.articles["new"] == 57
    assert (result.articles["added"], result.articles["removed"], result.articles["edited"]) == (10, 3, 2)
    assert result.articles["moved"] == 0 and result.moved == []
    assert result.added == sorted(facts["added"])
    assert result.removed == facts["removed"]
    assert result.edited == facts["edited"]
    assert {(c.layer, c.label): c.removed for c in result.labels if c.removed} == dict(facts["ann_removed"])
    assert {(c.layer, c.label): c.added for c in result.labels if c.added} == dict(facts["ann_added"])
    assert all(c.edited == 0 and c.new - c.old == c.added - c.removed for c in result.labels)
    assert not result.unchanged


@pytest.mark.parametrize("fmt", ["hf", "parquet", "jsonl"])
def test_diff_of_two_builds_reports_exactly_what_changed(releases, tmp_path, fmt):
    old, new, facts = releases
    a = export(old, format=fmt, out_dir=tmp_path / "a").output
    b = export(new, format=fmt, out_dir=tmp_path / "b").output
    _check(diff(a, b), facts)
    assert diff(a, a).unchanged


def test_diff_of_two_dataset_folders(releases):
    old, new, facts = releases
    _check(diff(old, new), facts)


def test_cli_diff_table_and_json(releases, tmp_path):
    old, new, _ = releases
    runner = CliRunner()
    shown = runner.invoke(app, ["diff", str(old), str(new)])
    assert shown.exit_code == 0, shown.output
    assert "added" in shown.output and "10" in shown.output
    as_json = runner.invoke(app, ["diff", str(old), str(new), "--json"])
    assert as_json.exit_code == 0
    body = json.loads(as_json.stdout)
    assert body["articles"]["removed"] == 3 and len(body["added"]) == 10
    bad = runner.invoke(app, ["diff", str(old), str(tmp_path / "nowhere")])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
