"""`diff OLD NEW`: a corpus where 10 articles were added, 3 removed and 2 edited reports exactly that (issue 11)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.diff import diff
from toolkit.errors import ToolkitError
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


# --- scratch folders and paths (K1-K4) ----------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real `news-toolkit` in its own process, so TMPDIR is read as a user's shell would set it."""
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)


@pytest.fixture(scope="module")
def builds(releases, tmp_path_factory) -> tuple[Path, Path]:
    old, new, _ = releases
    root = tmp_path_factory.mktemp("builds")
    return export(old, format="parquet", out_dir=root / "a").output, export(new, format="parquet", out_dir=root / "b").output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("news-toolkit-diff-"))


def test_a_missing_tmpdir_is_an_error_naming_it_not_a_silent_fallback(builds, tmp_path):
    a, b = builds
    missing = tmp_path / "nonexistent"
    result = _cli("diff", str(a), str(b), env={"TMPDIR": str(missing)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(missing) in result.stderr and "TMPDIR" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("", encoding="utf-8")
    with pytest.raises(ToolkitError, match=re.escape(str(not_a_folder))):
        diff(a, b, temp_dir=not_a_folder)


def test_scratch_is_an_owned_folder_removed_after_the_run(builds, releases, tmp_path, monkeypatch):
    old, new, facts = releases
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    _check(diff(old, new), facts)  # dataset folders: exported into the scratch folder first
    assert diff(*builds).articles["added"] == 10
    assert _leftovers(tmp_path) == []


# Stands in for a diff killed mid-run: the export of the first side stops as soon as the scratch
# folder exists, prints where it writes and waits to be killed.
KILLED_MID_DIFF = """
import sys, time
import toolkit.export
from toolkit.diff import diff

def stalled(path, *, out_dir, **options):
    print(out_dir, flush=True)
    time.sleep(120)

toolkit.export.export = stalled
diff(sys.argv[1], sys.argv[2])
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL on this OS")
def test_the_scratch_of_a_killed_diff_is_swept_by_the_next_run(builds, releases, tmp_path):
    old, new, _ = releases
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_parent)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_MID_DIFF, str(old), str(new)],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        side = Path(child.stdout.readline().strip())
        assert side.parent.parent == scratch_parent and side.parent.name.startswith("news-toolkit-diff-")
        assert side.parent.is_dir()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert _leftovers(scratch_parent) == [side.parent.name]  # what the kill left
    result = _cli("diff", str(builds[0]), str(builds[1]), env={"TMPDIR": str(scratch_parent)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert _leftovers(scratch_parent) == []


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_build_paths_are_read_as_paths_not_glob_patterns(releases, tmp_path, fmt):
    old, new, facts = releases
    a = export(old, format=fmt, out_dir=tmp_path / "rel*").output
    b = export(new, format=fmt, out_dir=tmp_path / "rel [x]").output
    # What `rel*` and `rel [x]` match as patterns: read too (or instead), the counts would be off.
    export(new, format=fmt, out_dir=tmp_path / "relx")
    export(new, format=fmt, out_dir=tmp_path / "rel x")
    _check(diff(a, b), facts)
    c = export(new, format=fmt, out_dir=tmp_path / "it's ?{a,b}").output
    _check(diff(a, c), facts)


def test_a_folder_named_like_a_shard_is_not_taken_for_the_split(releases, tmp_path):
    old, new, facts = releases
    a = export(old, format="parquet", out_dir=tmp_path / "v1-00001-of-00002").output
    b = export(new, format="parquet", out_dir=tmp_path / "v2-00002-of-00002").output
    _check(diff(a, b), facts)  # no article "moved" from split v1 to v2


def test_a_quote_in_tmpdir_is_quoted_in_sql(builds, releases, tmp_path):
    old, new, _ = releases
    scratch_parent = tmp_path / "it's tmp"
    scratch_parent.mkdir()
    # In a fresh process: tempfile caches TMPDIR on first use, so setting it here would not be seen.
    for pair in (builds, (old, new)):
        result = _cli("diff", str(pair[0]), str(pair[1]), "--json", env={"TMPDIR": str(scratch_parent)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["articles"]["added"] == 10
    assert _leftovers(scratch_parent) == []
