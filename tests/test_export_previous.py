"""`export --previous OLD_BUILD`: the card says what changed since the build it replaces (issue 11)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO

from toolkit.errors import ToolkitError
from toolkit.export import export

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

TABLE_HEADER = "| layer | label | before | now | change | added | removed | changed |"


def run(*args: str) -> subprocess.CompletedProcess:
    """The real `news-toolkit`, in its own process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", COLUMNS="120")
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, env=env, timeout=300)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(folder: Path, articles: list[dict], annotations: list[dict]) -> None:
    """Rewrite the corpus files in place (the manifest stays), with the annotations of these articles."""
    ids = {a["id"] for a in articles}
    kept = [a for a in annotations if a["article_id"] in ids]
    for name, records in (("articles.jsonl", articles), ("annotations.jsonl", kept)):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _label_counts(articles: list[dict], annotations: list[dict]) -> Counter:
    """(layer, label) -> annotations, counting those in annotations.jsonl and those embedded in articles."""
    ids = {a["id"] for a in articles}
    every = [*annotations, *({**e, "article_id": a["id"]} for a in articles for e in a.get("annotations", []))]
    return Counter((a["layer"], a["label"]) for a in every if a["article_id"] in ids)


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict:
    """v1: the first 50 generated articles; v2: 10 added, the first 3 removed, 2 texts edited."""
    root = tmp_path_factory.mktemp("previous")
    corpus = root / "corpus"
    generate(corpus, 60, seed=11)
    articles, annotations = _lines(corpus / "articles.jsonl"), _lines(corpus / "annotations.jsonl")
    v1 = articles[:50]
    v2 = [dict(a) for a in articles[3:]]
    for edited in v2[:2]:
        edited["text"] += "\n\nThis article was updated."  # after every span: offsets stay valid
    old, new = _label_counts(v1, annotations), _label_counts(v2, annotations)
    gone, fresh = {a["id"] for a in articles[:3]}, {a["id"] for a in articles[50:]}
    removed = _label_counts([a for a in articles if a["id"] in gone], annotations)
    added = _label_counts([a for a in articles if a["id"] in fresh], annotations)
    return {"corpus": corpus, "annotations": annotations, "v1": v1, "v2": v2,
            "old": old, "new": new, "added": added, "removed": removed}


def changes_section(card: str) -> tuple[str, str]:
    """(heading, body) of the card's "Changes since" section."""
    match = re.search(r"(?ms)^(## Changes since [^\n]*)\n\n(.*?)(?=^## )", card)
    assert match, "no Changes since section"
    return match.group(1), match.group(2)


def table_rows(section: str) -> dict[tuple[str, str], list[int]]:
    lines = section.split(TABLE_HEADER + "\n", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return {(layer, label): [int(n.replace(",", "")) for n in numbers] for layer, label, *numbers in cells}


def test_export_over_the_same_folder_states_what_changed(releases, tmp_path):
    corpus, dist = releases["corpus"], tmp_path / "dist"
    _write(corpus, releases["v1"], releases["annotations"])
    first = run("export", str(corpus), "--out", str(dist))
    assert first.returncode == 0, first.stdout + first.stderr
    build = dist / "synthetic-news"
    _write(corpus, releases["v2"], releases["annotations"])
    second = run("export", str(corpus), "--out", str(dist), "--previous", str(build))
    assert second.returncode == 0, second.stdout + second.stderr

    heading, section = changes_section((build / "README.md").read_text(encoding="utf-8"))
    assert heading == "## Changes since version 1.0.0"
    assert "Articles: 50 before, 57 now: **10 added, 3 removed, 2 changed** (text or metadata), 0 moved split." in section
    added, removed = sum(releases["added"].values()), sum(releases["removed"].values())
    assert f"Annotations: {added:,} added, {removed:,} removed, 0 changed." in section
    rows = table_rows(section)
    changed = releases["added"] + releases["removed"]
    assert len(rows) == min(10, len(changed))
    for key, (before, now, delta, plus, minus, edited) in rows.items():
        assert (before, now, plus, minus, edited) == (
            releases["old"][key], releases["new"][key], releases["added"][key], releases["removed"][key], 0)
        assert delta == now - before
    # The top rows are the most churned labels.
    churn = sorted(changed.values(), reverse=True)[:len(rows)]
    assert sorted((plus + minus for _, _, _, plus, minus, _ in rows.values()), reverse=True) == churn
    if len(changed) > 10:
        assert f"…and {len(changed) - 10:,} more labels changed." in section

    import datasets  # the card's YAML is intact: the build loads, with the new articles

    loaded = datasets.load_dataset(str(build))
    assert sum(split.num_rows for split in loaded.values()) == 57
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=build).returncode == 0


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_previous_that_is_not_a_build_exits_2_and_changes_nothing(releases, tmp_path):
    corpus, dist = releases["corpus"], tmp_path / "dist"
    _write(corpus, releases["v1"], releases["annotations"])
    build = export(corpus, out_dir=dist).output
    before = _snapshot(dist)
    not_a_build = tmp_path / "notes"
    (not_a_build / "data" / "articles").mkdir(parents=True)
    (not_a_build / "README.md").write_text("# my notes\n", encoding="utf-8")
    for bad in (not_a_build, tmp_path / "missing", releases["corpus"]):
        result = run("export", str(corpus), "--out", str(dist), "--previous", str(bad))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert [line for line in result.stderr.splitlines() if line.strip()] == [
            line for line in result.stderr.splitlines() if str(bad) in line], result.stderr
        assert str(bad) in result.stderr
    assert _snapshot(dist) == before and build is not None


def test_library_checks_previous_before_any_work(tmp_path):
    with pytest.raises(ToolkitError, match="--previous must be a build") as raised:
        export(tmp_path / "no-such-dataset", out_dir=tmp_path / "dist", previous=tmp_path)
    assert raised.value.exit_code == 2  # the previous is refused before the (missing) dataset is read


def test_a_build_without_a_version_is_named_the_previous_build(releases, tmp_path):
    corpus = releases["corpus"]
    _write(corpus, releases["v1"], releases["annotations"])
    old = export(corpus, format="parquet", out_dir=tmp_path / "old").output  # no Croissant, no version
    _write(corpus, releases["v2"], releases["annotations"])
    new = export(corpus, out_dir=tmp_path / "new", previous=old).output
    heading, section = changes_section((new / "README.md").read_text(encoding="utf-8"))
    assert heading == "## Changes since the previous build"
    assert "**10 added, 3 removed, 2 changed**" in section
