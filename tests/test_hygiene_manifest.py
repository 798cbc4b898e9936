"""`duplicates:` and `splits:` values that make no sense: exit 2, one line naming the key, no traceback."""

from __future__ import annotations

import pytest
from conftest import article
from typer.testing import CliRunner

from toolkit import load_manifest
from toolkit.cli import app

BAD = {
    "threshold zero": ({"duplicates": {"threshold": 0}}, "duplicates.threshold"),
    "threshold above one": ({"duplicates": {"threshold": 1.5}}, "duplicates.threshold"),
    "threshold not a number": ({"duplicates": {"threshold": "high"}}, "duplicates.threshold"),
    "unknown policy": ({"duplicates": {"policy": "keep"}}, "duplicates.policy"),
    "unknown field path": ({"splits": {"group_by": ["sorce.name"]}}, "splits.group_by[0]"),
    "path into a value": ({"splits": {"group_by": ["url", "title.words"]}}, "splits.group_by[1]"),
    "path to objects": ({"splits": {"group_by": ["media"]}}, "splits.group_by[0]"),
    "cut-offs out of order": (
        {"splits": {"by": "published_at", "cutoffs": {"validation": "2024-06-01", "test": "2024-01-01"}}},
        "splits.cutoffs.test"),
    "equal cut-offs": (
        {"splits": {"by": "published_at", "cutoffs": {"validation": "2024-06-01", "test": "2024-06-01T00:00:00Z"}}},
        "splits.cutoffs.test"),
    "cut-off not a date": ({"splits": {"by": "published_at", "cutoffs": {"test": "June"}}}, "splits.cutoffs.test"),
    "cut-offs without by": ({"splits": {"cutoffs": {"test": "2024-01-01"}}}, "splits.cutoffs"),
    "by date without cut-offs": ({"splits": {"by": "published_at"}}, "splits.cutoffs"),
    "ratios with by date": ({"splits": {"by": "published_at", "train": 1, "cutoffs": {"test": "2024-01-01"}}},
                            "splits.train"),
    "unknown split mode": ({"splits": {"by": "source"}}, "splits.by"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_value_exits_2_naming_the_key(case, make_dataset):
    manifest, key = BAD[case]
    root = make_dataset([article()], **manifest)
    for command in (["validate", str(root)], ["export", str(root), "--out", str(root.parent / "out")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert key in result.output and "dataset.yaml" in result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_good_values_load(make_dataset):
    root = make_dataset([article()], duplicates={"policy": "reject", "threshold": 1},
                        splits={"by": "published_at", "cutoffs": {"validation": "2024-01-01", "test": "2024-06-01"},
                                "group_by": ["duplicates", "url", "title", "source.name", "meta.story_id", "tags"]})
    manifest = load_manifest(root)
    assert (manifest.duplicates.policy, manifest.duplicates.threshold) == ("reject", 1)
    assert manifest.splits.declared() == ("train", "validation", "test")
    assert manifest.splits.field_paths() == (("source", "name"), ("meta", "story_id"), ("tags",))


def test_unquoted_yaml_dates_are_cut_offs(make_dataset):
    root = make_dataset([article()])
    text = (root / "dataset.yaml").read_text(encoding="utf-8")
    (root / "dataset.yaml").write_text(text + "splits:\n  by: published_at\n  cutoffs: {test: 2024-06-01}\n",
                                       encoding="utf-8")
    assert [(name, moment.isoformat()) for name, moment in load_manifest(root).splits.cutoffs] == [
        ("test", "2024-06-01T00:00:00+00:00")]
