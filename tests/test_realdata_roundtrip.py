"""Every real tool export in ../shared/realdata goes all the way: import → validate clean → HF build → load_dataset.

Broken files in those folders are reported by the importer (file and line) and left out; what was
imported must validate clean, export, and load offline with the row counts it was exported with.
The scraped news texts go the same way through `ingest text`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SHARED

from toolkit import validate
from toolkit.export import export
from toolkit.ingest import import_dataset
from toolkit.ingest.text import ingest_text, write_articles

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REALDATA = SHARED / "realdata"
CASES = {
    "labelstudio": ["label_studio_json"],
    "doccano": ["doccano_jsonl"],
    "brat": ["brat_standoff/brat_tutorial_news", "brat_standoff/conll2002_esp"],
    "webanno": ["webanno_tsv3"],
    "semeval": ["semeval2020_task11_ptc"],
}


def _load_and_count(build: Path, config: str) -> int:
    import datasets

    loaded = datasets.load_dataset(str(build), config)
    return sum(split.num_rows for split in loaded.values())


@pytest.mark.parametrize("tool", sorted(CASES))
def test_real_exports_import_validate_export_and_load(tool, tmp_path):
    folders = [REALDATA / f for f in CASES[tool]]
    if not all(f.exists() for f in folders):
        pytest.skip("../shared/realdata is not available")
    summary = import_dataset(tool, folders, tmp_path / "ds", name=f"real-{tool}")
    assert summary.articles > 0 and summary.annotations > 0
    for problem in summary.problems:  # a broken file is named, with a line where there is one
        assert problem.file and problem.message
    report = validate(tmp_path / "ds")
    assert report.ok, [f"{p.file}:{p.line} {p.code} {p.message}" for p in report.problems[:5]]
    result = export(tmp_path / "ds", format="hf", out_dir=tmp_path / "dist")
    assert result.output is not None
    assert _load_and_count(result.output, "articles") == summary.articles
    if summary.annotations:
        assert _load_and_count(result.output, "annotations") == summary.annotations


def test_real_news_texts_ingest_validate_and_export(tmp_path):
    import yaml

    folder = REALDATA / "news_text"
    if not folder.exists():
        pytest.skip("../shared/realdata is not available")
    texts = sorted(folder.rglob("*.txt"))
    result = ingest_text(texts, language="en")
    assert result.problems and all("LATIN1" in str(p.path) for p in result.problems)  # the one non-UTF-8 file
    root = tmp_path / "news"
    root.mkdir()
    written = write_articles(result, root / "articles.jsonl")
    assert written == len(texts) - 1
    manifest = {"name": "real-news", "articles": ["articles.jsonl"],
                "layers": {"genre": {"kind": "document", "labels": ["news"]}}}
    (root / "dataset.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    assert validate(root).ok
    build = export(root, format="hf", out_dir=tmp_path / "dist").output
    assert _load_and_count(build, "articles") == written
