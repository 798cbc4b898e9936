"""The CLI contract: exit codes 0/1/2, a JSON report, rejects, and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLE, article, span

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=cwd, env=env)


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout


def test_valid_dataset_exits_0(make_dataset):
    result = run("validate", str(make_dataset([article()], [span("e1", "PERSON", "Alice")])))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_invalid_records_exit_1_with_report_and_rejects(make_dataset, tmp_path):
    root = make_dataset([article(), "{oops"], [span("e1", "PERSN", "Alice")])
    report_path = tmp_path / "out" / "report.json"
    result = run("validate", str(root), "--report", str(report_path), "--rejects", str(tmp_path / "rej"))
    assert result.returncode == 1
    assert_no_traceback(result)
    assert "articles.jsonl:2" in result.stdout and "annotations.jsonl:1" in result.stdout
    report = json.loads(report_path.read_text())
    assert report["ok"] is False
    assert report["counts"] == {"articles": {"read": 2, "valid": 1, "invalid": 1},
                                "annotations": {"read": 1, "valid": 0, "invalid": 1}}
    assert {p["code"] for p in report["problems"]} == {"invalid-json", "unknown-label"}
    first = report["problems"][0]
    assert set(first) == {"file", "line", "record_id", "kind", "code", "path", "message"}
    assert (tmp_path / "rej" / "articles.jsonl.rejects").read_text() == "{oops\n"


@pytest.mark.parametrize("fmt", ["hf", "parquet", "jsonl"])
def test_export_with_no_article_to_build_from_writes_nothing_and_says_why(make_dataset, tmp_path, fmt):
    """An empty dataset (exit 2), or --skip-invalid with every article rejected (exit 1, rejects
    written): no build, since no reader could load one without rows (hf crashed here, exit 3)."""
    empty = run("export", str(make_dataset([])), "--format", fmt, "--out", str(tmp_path / "empty"))
    assert empty.returncode == 2, empty.stdout + empty.stderr
    assert_no_traceback(empty)
    assert "no article was accepted" in empty.stdout
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())
    blank = article(text=" \u200b ")
    rejected = run("export", str(make_dataset([blank], [span("e1", "PERSON", "Alice")])), "--format", fmt,
                   "--out", str(tmp_path / "bad"), "--skip-invalid")
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert_no_traceback(rejected)
    assert "no article was accepted" in rejected.stdout and "test-ds.rejects" in rejected.stdout
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == ["test-ds.rejects"]
    assert (tmp_path / "bad" / "test-ds.rejects" / "articles.jsonl.rejects").exists()


@pytest.mark.parametrize(
    "manifest, needle",
    [
        ("name: Bad Name\narticles: [articles.jsonl]\nlayers: {}\n", "name"),
        ("name: ok\narticles: [missing-*.jsonl]\nlayers: {}\n", "articles[0]"),
        ("name: ok\narticles: [articles.jsonl]\nlayers: {x: {kind: spam, labels: [A]}}\n", "layers.x.kind"),
        ("name: ok\narticles: [articles.jsonl]\nlayers: {}\nsplits: {train: 0.5, validation: 0.1, test: 0.1}\n", "splits"),
        ("name: [unclosed\n", "YAML"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_bad_manifest_exits_2_naming_the_key(make_dataset, manifest, needle):
    root = make_dataset([article()])
    (root / "dataset.yaml").write_text(manifest)
    result = run("validate", str(root))
    assert result.returncode == 2, result.stdout + result.stderr
    assert_no_traceback(result)
    assert needle in result.stderr


def test_bad_paths_and_options_exit_2(tmp_path, make_dataset):
    assert run("validate", str(tmp_path / "nowhere")).returncode == 2
    assert run("validate", str(tmp_path)).returncode == 2  # folder without dataset.yaml
    root = make_dataset([article()])
    result = run("validate", str(root / "articles.jsonl"))
    assert result.returncode == 2 and "dataset.yaml" in result.stderr
    assert run("validate", str(root), "--max-line-bytes", "0").returncode == 2
    assert run("frobnicate").returncode == 2
    for r in (run("validate", str(tmp_path / "nowhere")), run("validate", str(root / "articles.jsonl"))):
        assert_no_traceback(r)


def test_unreadable_compressed_file_exits_2(make_dataset):
    root = make_dataset([article()])
    (root / "articles.jsonl").rename(root / "articles.jsonl.gz")
    (root / "dataset.yaml").write_text("name: x\narticles: [articles.jsonl.gz]\nlayers: {}\n")
    result = run("validate", str(root))
    assert result.returncode == 2
    assert "articles.jsonl.gz" in result.stderr
    assert_no_traceback(result)


def test_version_and_help():
    assert run("--version").stdout.startswith("news-toolkit ")
    assert "validate" in run("--help").stdout


@pytest.mark.skipif(not EXAMPLE.exists(), reason="example corpus not present")
def test_example_corpus_validates_clean():
    result = run("validate", str(EXAMPLE))
    assert result.returncode == 0, result.stdout
