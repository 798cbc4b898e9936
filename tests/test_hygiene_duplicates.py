"""Blank texts and duplicate clusters, found on corpora built to hold each case."""

from __future__ import annotations

import json

import pytest
from conftest import article
from hygiene_data import body, corpus, edited, news
from typer.testing import CliRunner

from toolkit import validate
from toolkit.cli import app
from toolkit.engines import EngineOptions
from toolkit.export import export
from toolkit.validation import driver


def duplicate_corpus() -> list[dict]:
    articles = corpus(30)
    articles.insert(10, news(0, id="copy-a"))  # an exact copy under a new id
    articles.append(news(1, id="copy-b", text=body(1).replace(" ", " \u200b ")))  # the same once normalised
    articles.append(news(2, id="near-a", text=edited(body(2))))  # one sentence edited
    articles.append(news(3, id="rescrape", text=body(77)))  # n003's URL and title, re-scraped with new text
    articles.append(news(5, id="retitled", text=body(78), url="https://other.example.org/x"))  # n005's title only
    return articles


def test_each_kind_of_duplicate_is_a_cluster_in_read_order(make_dataset, tmp_path):
    report = validate(make_dataset(duplicate_corpus()), report_path=tmp_path / "report.json")
    assert report.ok
    clusters = json.loads((tmp_path / "report.json").read_text())["duplicates"]
    assert [(c["kind"], c["articles"], c["similarity"]) for c in clusters if c["kind"] != "title"] == [
        ("exact", ["n000", "copy-a"], 1.0), ("url", ["n000", "copy-a"], None),
        ("exact", ["n001", "copy-b"], 1.0), ("url", ["n001", "copy-b"], None),
        ("near", ["n002", "near-a"], pytest.approx(0.89, abs=0.08)), ("url", ["n002", "near-a"], None),
        ("url", ["n003", "rescrape"], None),
    ]
    assert ["n005", "retitled"] in [c["articles"] for c in clusters if c["kind"] == "title"]
    assert report.duplicate_counts == {"exact": (2, 4), "near": (1, 2), "url": (4, 8), "title": (5, 10)}


def test_distinct_articles_are_not_duplicates(make_dataset):
    report = validate(make_dataset(corpus(40)))
    assert report.duplicates == []
    assert set(report.duplicate_counts.values()) == {(0, 0)}


def test_near_threshold_comes_from_the_manifest(make_dataset):
    near = news(2, id="near-a", text=edited(body(2)))
    del near["url"]
    articles = [*corpus(5), near]
    assert [c.kind for c in validate(make_dataset(articles)).duplicates] == ["near", "title"]
    strict = validate(make_dataset(articles, duplicates={"threshold": 0.95}))
    assert [c.kind for c in strict.duplicates] == ["title"]


@pytest.mark.parametrize("fields", [{"text": " \u200b\u2060 \n"}, {"text": "\ufeff"}, {"title": "\u200b \u200c"},
                                    {"text": "   "}])
def test_blank_text_or_title_is_rejected(fields, make_dataset, tmp_path):
    root = make_dataset([article(), article(id="a2", **fields)])
    report = validate(root, rejects_dir=tmp_path / "rejects")
    assert [(p.line, p.code, p.path) for p in report.problems] == [(2, "blank-text", "/" + next(iter(fields)))]
    rejected = (tmp_path / "rejects" / "articles.jsonl.rejects").read_text(encoding="utf-8")
    assert json.loads(rejected)["id"] == "a2"


def test_blank_text_is_decided_alike_on_both_paths(make_dataset, monkeypatch):
    root = make_dataset([article(), article(id="a2", text="\u200b"), article(id="a3", text="\u200bok")])
    fast = validate(root)
    monkeypatch.setattr(driver, "FAST_PATH", False)
    careful = validate(root)
    assert fast.problems == careful.problems and [p.record_id for p in fast.problems] == ["a2"]
    assert fast.counts == careful.counts


def test_validate_prints_a_duplicates_section(make_dataset):
    result = CliRunner().invoke(app, ["validate", str(make_dataset(duplicate_corpus()))])
    assert result.exit_code == 0, result.output
    assert "Duplicates" in result.output
    assert "exact (similarity 1): n000, copy-a" in result.output


@pytest.mark.parametrize("policy", ["group", "drop"])
def test_clusters_and_builds_do_not_depend_on_the_partitions(make_dataset, tmp_path, monkeypatch, policy):
    """Duplicates are found partition by partition (candidates by article, clusters by key, LSH pairs by
    bucket): the clusters, the verdicts, the split plan and the build are the same for one partition
    as for several, with an id read twice, exact, near, URL and title copies, and grouping by URL and title."""
    articles = duplicate_corpus()
    articles += [news(40 + i, id=f"near-{i}", text=edited(body(2), sentence=i % 5 + 2, seed=i)) for i in range(4)]
    articles.insert(5, news(7, id="n007", text=body(99)))  # n007 read twice: only its first read is a candidate
    folder = make_dataset(articles, duplicates={"policy": policy},
                          splits={"group_by": ["duplicates", "url", "title"]})
    found = {}
    for partitions in (1, 3):
        monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes, n=partitions: n)
        result = export(folder, format="hf", out_dir=tmp_path / f"p{partitions}", skip_invalid=True,
                        engine=EngineOptions(workers=1))
        files = {p.relative_to(result.output).as_posix(): p.read_bytes()
                 for p in sorted(result.output.rglob("*")) if p.is_file()}
        found[partitions] = (result.report.duplicates, result.report.duplicate_counts,
                             result.report.problem_counts, result.stats.split_plan, files)
    assert found[1][0] and found[1][1]["near"][0] >= 1
    assert found[3] == found[1]
