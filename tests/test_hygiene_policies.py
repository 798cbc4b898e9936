"""`duplicates.policy`: group keeps every copy together, drop leaves later copies out, reject makes them invalid."""

from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest
from hygiene_data import body, corpus, edited, news

from toolkit import validate
from toolkit.export import export
from toolkit.validation import driver

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

COPIES = ["copy-1", "copy-2", "near-1"]


def with_copies() -> list[dict]:
    """30 distinct articles; two exact copies and a near copy of n004, spread through the corpus."""
    articles = corpus(30)
    articles.insert(8, news(4, id="copy-1"))
    articles.insert(20, news(4, id="copy-2", text=body(4).replace(". ", ".\n\n")))
    articles.append(news(4, id="near-1", text=edited(body(4), 5)))
    return articles


def exported_ids(result) -> list[str]:
    return pq.read_table(result.output / "data" / "articles", columns=["id"]).column("id").to_pylist()


def test_group_keeps_every_copy_in_one_split(make_dataset, tmp_path):
    result = export(make_dataset(with_copies()), format="parquet", out_dir=tmp_path / "dist")
    splits = {path.name.split("-")[0]: pq.read_table(path).column("id").to_pylist()
              for path in (result.output / "data" / "articles").glob("*.parquet")}
    holding = [name for name, ids in splits.items() if {"n004", *COPIES} & set(ids)]
    assert len(holding) == 1 and {"n004", *COPIES} <= set(splits[holding[0]])
    assert result.stats.split_plan.groups == 1 and result.stats.split_plan.across == 0


def test_drop_keeps_the_first_read_and_lists_the_rest(make_dataset, tmp_path):
    annotations = [{"id": "g1", "article_id": "copy-1", "layer": "genre", "label": "opinion"}]
    root = make_dataset(with_copies(), annotations, duplicates={"policy": "drop"})
    result = export(root, format="parquet", out_dir=tmp_path / "dist")
    assert result.report.ok
    assert [(d["id"], d["kept"]) for d in result.report.dropped] == [(c, "n004") for c in COPIES]
    ids = exported_ids(result)
    assert "n004" in ids and not set(COPIES) & set(ids) and len(ids) == 30
    assert result.report.counts["annotations"].valid == 1
    assert not (result.output / "data" / "annotations").exists()  # the dropped copy's annotation leaves with it


@pytest.mark.parametrize("fast", [True, False])
def test_a_dropped_copys_annotations_are_still_checked_against_its_text(make_dataset, monkeypatch, fast):
    """Left out of the build, a copy is still a valid article: an annotation line on it is judged
    against its text as under `group` (it was counted valid with no span check at all)."""
    monkeypatch.setattr(driver, "FAST_PATH", fast)
    text = body(4)
    annotations = [
        {"id": "far", "article_id": "copy-1", "layer": "entities", "label": "PERSON", "start": 5, "end": 99_999},
        {"id": "misquoted", "article_id": "copy-1", "layer": "entities", "label": "PERSON", "start": 0, "end": 4,
         "text": "nope"},
        {"id": "right", "article_id": "copy-1", "layer": "entities", "label": "PERSON", "start": 0, "end": 4,
         "text": text[0:4]},
    ]
    reports = {policy: validate(make_dataset(with_copies(), annotations, duplicates={"policy": policy}))
               for policy in ("group", "drop")}
    for report in reports.values():
        assert sorted((p.record_id, p.code) for p in report.problems) == [
            ("far", "span-out-of-bounds"), ("misquoted", "span-text-mismatch")]
        assert report.counts["annotations"].valid == 1
    assert [d["id"] for d in reports["drop"].dropped] == COPIES


def test_reject_makes_later_copies_invalid_records(make_dataset, tmp_path):
    root = make_dataset(with_copies(), duplicates={"policy": "reject"})
    report = validate(root, rejects_dir=tmp_path / "rejects")
    assert not report.ok
    assert [(p.record_id, p.code) for p in report.problems] == [(c, "duplicate-text") for c in COPIES]
    assert "n004" in report.problems[0].message
    rejected = (tmp_path / "rejects" / "articles.jsonl.rejects").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in rejected] == COPIES
    result = export(root, format="parquet", out_dir=tmp_path / "dist", skip_invalid=True)
    assert sorted(exported_ids(result)) == sorted(a["id"] for a in corpus(30))


@pytest.mark.parametrize("policy", ["drop", "reject"])
def test_policies_decide_alike_on_both_paths(policy, make_dataset, monkeypatch):
    root = make_dataset(with_copies(), duplicates={"policy": policy})
    fast = validate(root)
    monkeypatch.setattr(driver, "FAST_PATH", False)
    careful = validate(root)
    assert (fast.problems, fast.dropped, fast.counts) == (careful.problems, careful.dropped, careful.counts)


def test_the_first_accepted_copy_is_kept_when_the_first_read_is_invalid(make_dataset):
    articles = with_copies()
    articles[4] = dict(articles[4], published_at="2024-02-30")  # n004 itself is rejected (invalid-date)
    report = validate(make_dataset(articles, duplicates={"policy": "reject"}))
    assert [(p.record_id, p.code) for p in report.problems] == [
        ("n004", "invalid-date"), ("copy-2", "duplicate-text"), ("near-1", "duplicate-text")]
