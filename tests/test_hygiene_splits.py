"""Leakage-free splits: groups never straddle splits, temporal cut-offs hold, small corpora say what is missing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from hygiene_data import body, corpus, news
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.engines import EngineOptions
from toolkit.export import export
from toolkit.hygiene import groups
from toolkit.manifest import Splits
from toolkit.splits import assign_split
from toolkit.validation import driver

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

COPIES = [f"wire-{i}" for i in range(1, 7)]  # by id alone, wire-6 goes to test and the rest to train


def leaky_corpus() -> list[dict]:
    """60 distinct articles and six copies of n000 under new ids, spread through the corpus."""
    articles = corpus(60)
    for i, copy_id in enumerate(COPIES):
        articles.insert(5 + 10 * i, news(0, id=copy_id))
    return articles


def split_of_each_id(build) -> dict[str, str]:
    ds = datasets.load_dataset(str(build))
    return {row["id"]: split for split in ds for row in ds[split]}


def split_files(result) -> dict[str, list[dict]]:
    """split → article rows, read back with pyarrow."""
    return {path.name.split("-")[0]: pq.read_table(path).to_pylist()
            for path in sorted((result.output / "data" / "articles").glob("*.parquet"))}


def test_six_copies_never_straddle_splits(make_dataset, tmp_path):
    # Split by id alone, as before duplicates were grouped, the copies land in several splits.
    assert len({assign_split(i, Splits()) for i in ["n000", *COPIES]}) > 1
    result = export(make_dataset(leaky_corpus()), format="hf", out_dir=tmp_path / "dist")
    splits = split_of_each_id(result.output)
    assert len(splits) == 66
    assert len({splits[i] for i in ["n000", *COPIES]}) == 1
    card = (result.output / "README.md").read_text(encoding="utf-8")
    assert "**1 clusters, 0 across splits**" in card
    assert "| `exact` | the same text (after NFC, whitespace folding, format characters removed) | 1 | 0 |" in card


def test_group_by_url_keeps_rescrapes_together(make_dataset, tmp_path):
    rescrapes = [news(3, id=f"rescrape-{i}", text=body(100 + i)) for i in range(6)]
    articles = corpus(30) + rescrapes
    assert len({assign_split(a["id"], Splits()) for a in [articles[3], *rescrapes]}) > 1
    result = export(make_dataset(articles, splits={"group_by": ["url"]}), format="parquet", out_dir=tmp_path / "d")
    holding = {split for split, rows in split_files(result).items()
               for row in rows if row["id"] in {"n003", *(a["id"] for a in rescrapes)}}
    assert len(holding) == 1
    assert result.stats.split_plan.clusters["url"] == (1, 0)


def test_group_by_field_path_keeps_stories_together(make_dataset, tmp_path):
    articles = [dict(a, meta={"story_id": f"story-{i % 5}"}) for i, a in enumerate(corpus(40))]
    root = make_dataset(articles, splits={"group_by": ["meta.story_id"]})
    result = export(root, format="parquet", out_dir=tmp_path / "d")
    story_splits: dict[str, set[str]] = {}
    for split, rows in split_files(result).items():
        for row in rows:
            story_splits.setdefault(row["meta"], set()).add(split)
    assert len(story_splits) == 5 and all(len(s) == 1 for s in story_splits.values())
    assert (result.stats.split_plan.groups, result.stats.split_plan.across) == (5, 0)


def test_temporal_splits_follow_the_cut_offs(make_dataset, tmp_path):
    articles = corpus(36)  # published on the 10th of each month of 2024, three times over
    # A copy published in March of an article of November: the group's first date puts both in train.
    articles.append(news(10, id="early-copy", published_at="2024-03-10"))
    undated = news(50)
    del undated["published_at"]
    articles.append(undated)
    root = make_dataset(articles, splits={"by": "published_at",
                                          "cutoffs": {"validation": "2024-09-01", "test": "2024-11-01"}})
    result = export(root, format="parquet", out_dir=tmp_path / "d")
    rows = split_files(result)
    when = {split: [r["published_at"] for r in split_rows if r["id"] != "n010"] for split, split_rows in rows.items()}
    september, november = datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 11, 1, tzinfo=UTC)
    assert all(t is None or t < september for t in when["train"])
    assert all(september <= t < november for t in when["validation"])
    assert all(t >= november for t in when["test"])
    assert {"n010", "early-copy", "n050"} <= {r["id"] for r in rows["train"]}
    assert (len(rows["validation"]), len(rows["test"])) == (6, 5)  # n010 went to train with its early copy


def test_small_corpus_gets_every_split(make_dataset, tmp_path):
    result = export(make_dataset(corpus(3)), format="parquet", out_dir=tmp_path / "d")
    assert sorted(split_files(result)) == ["test", "train", "validation"]
    assert result.stats.split_plan.missing == {}


def test_too_small_corpus_says_which_split_is_missing_and_why(make_dataset, tmp_path):
    root = make_dataset(corpus(2))
    out = tmp_path / "dist"
    result = CliRunner().invoke(app, ["export", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    card = (out / "test-ds" / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name.split("-")[0] for p in (out / "test-ds/data/articles").glob("*.parquet")) == [
        "train", "validation"]
    assert "warning: no 'test' split: only 2 group(s) of articles for 3 splits" in result.output
    assert "- `test` has no article: only 2 group(s) of articles for 3 splits" in card


def test_temporal_split_without_articles_says_why(make_dataset, tmp_path):
    root = make_dataset(corpus(5), splits={"by": "published_at", "cutoffs": {"test": "2030-01-01"}})
    result = export(root, format="hf", out_dir=tmp_path / "d")
    assert result.stats.split_plan.missing == {"test": "no article was published on or after 2030-01-01T00:00:00+00:00"}
    assert "`test` has no article: no article was published on or after 2030" in (
        result.output / "README.md").read_text(encoding="utf-8")


def test_grouped_builds_are_byte_identical_across_worker_counts(make_dataset, tmp_path):
    root = make_dataset(leaky_corpus(), splits={"group_by": ["url", "source.name"]}, duplicates={"threshold": 0.7})
    sums = []
    for workers in (1, 2):
        result = export(root, format="hf", out_dir=tmp_path / f"w{workers}", engine=EngineOptions(workers=workers))
        sums.append((result.output / "SHA256SUMS").read_text())
    assert sums[0] == sums[1]


def _three_with_a_copy() -> list[dict]:
    """n000–n002 all hash to train; a copy of n002 read last makes {n002, copy} the last group read."""
    return [*corpus(3), news(2, id="copy-of-n002")]


@pytest.mark.parametrize(("articles", "splits"), [
    (lambda: [dict(a, meta={"story_id": f"story-{i % 20}"}) if a["id"].startswith("n") else a
              for i, a in enumerate(leaky_corpus())],
     {"group_by": ["meta.story_id", "url"]}),
    (leaky_corpus, {"by": "published_at", "cutoffs": {"validation": "2024-09-01", "test": "2024-11-01"},
                    "group_by": ["title"]}),
    (_three_with_a_copy, {}),
], ids=["field-and-url", "by-date", "tiny-with-moves"])
def test_split_plans_do_not_depend_on_the_partitions(make_dataset, tmp_path, monkeypatch, articles, splits):
    """The groups are decided on the driver, every other article's split by a task per partition that
    writes its part of the export plan (and writes it again when a group must move to fill an empty
    split): the plan and the build are the same for one partition in this process as for several
    on a pool of two worker processes."""
    root = make_dataset(articles(), splits=splits)
    found = {}
    for partitions, workers in ((1, 1), (3, 2)):
        monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes, n=partitions: n)
        result = export(root, format="hf", out_dir=tmp_path / f"p{partitions}",
                        engine=EngineOptions(workers=workers))
        files = {p.relative_to(result.output).as_posix(): p.read_bytes()
                 for p in sorted(result.output.rglob("*")) if p.is_file()}
        found[partitions] = (result.stats.split_plan, files, split_of_each_id(result.output))
    assert found[3] == found[1]
    plan, _, where = found[1]
    assert plan.groups >= 1 and plan.across == 0 and not plan.missing
    if splits == {}:
        # Two moves, the first one of a group of two: both of its articles moved.
        assert plan.moved == ["validation", "test"]
        assert where == {"n000": "train", "n001": "test", "n002": "validation", "copy-of-n002": "validation"}


def test_a_partition_plan_run_again_replaces_what_an_earlier_attempt_left(make_dataset, tmp_path, monkeypatch):
    """A task that Ray runs again (its node died after writing, or mid-way) must leave the export
    plan as one run would: every partition's plan here is written twice, the first time with a
    leftover file of a killed attempt beside it (rows of the partition under a later batch number,
    which a reader would take as more articles), and the build equals a clean run's."""
    root = make_dataset(leaky_corpus(), splits={"group_by": ["url"]})
    monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes: 3)
    clean = export(root, format="hf", out_dir=tmp_path / "clean", engine=EngineOptions(workers=1))
    plan_once = groups.partition_plan

    def twice(job, partition):
        plan_once(job, partition)
        folder = Path(job.where.spool) / "plan"
        for path in sorted(folder.glob(f"{partition:010d}-*.parquet")):
            shutil.copy(path, folder / f"{partition:010d}-{9_999_999_999:010d}.parquet")
        return plan_once(job, partition)

    monkeypatch.setattr(groups, "partition_plan", twice)
    again = export(root, format="hf", out_dir=tmp_path / "again", engine=EngineOptions(workers=1))
    assert again.stats.split_plan == clean.stats.split_plan
    assert (again.output / "SHA256SUMS").read_text() == (clean.output / "SHA256SUMS").read_text()
