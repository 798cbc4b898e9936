"""Exports checked with their real consumers: datasets.load_dataset, pyarrow.parquet, DatasetCard, mlcroissant."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import LAYERS, TEXT, article, span
from hygiene_data import body

from toolkit.export import export
from toolkit.splits import assign_split

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

N = 60


def corpus() -> tuple[list[dict], list[dict]]:
    """N articles (some with embedded annotations) and separate annotations covering every layer kind.

    Each text gets a paragraph of its own after the shared one: N copies of one text would be one
    duplicate cluster, which a build keeps in a single split.
    """
    articles, annotations = [], []
    for i in range(N):
        a = article(id=f"art-{i:03d}", title=f"Story {i} — Zoë 𝕏 Müller", text=f"{TEXT}\n\n{body(i, 4)}", published_at=f"2024-01-{1 + i % 28:02d}T10:00:00+02:00",
                    source={"name": ["Wire", "Gazette"][i % 2], "domain": "example.org"}, authors=["A. Writer"],
                    meta={"k": str(i)})
        if i % 5 == 0:
            a["annotations"] = [{"id": f"g-{i}", "layer": "genre", "label": "opinion", "annotator": "ann-1"}]
        articles.append(a)
        aid = a["id"]
        annotations.append(span(f"p-{i}", "PERSON", "Alice Moreau", article_id=aid, annotator="model:ner", confidence=0.9))
        annotations.append(span(f"o-{i}", "ORG", "ACME", article_id=aid, created_at="2024-02-01T00:00:00Z",
                                attributes={"checked": True}))
        annotations.append(span(f"l-{i}", "Loaded_Language", "“no”", layer="persuasion", article_id=aid))
        if i % 5:
            annotations.append({"id": f"g-{i}", "article_id": aid, "layer": "genre", "label": "reporting"})
        annotations.append({"id": f"t-{i}", "article_id": aid, "layer": "topics", "label": "politics"})
        annotations.append({"id": f"r-{i}", "article_id": aid, "layer": "attribution", "label": "said_by",
                            "head": f"o-{i}", "tail": f"p-{i}"})
    return articles, annotations


@pytest.fixture
def dataset(make_dataset) -> Path:
    articles, annotations = corpus()
    return make_dataset(articles, annotations, license="cc-by-4.0", pretty_name="Test News", version="1.0.0",
                        description="A test corpus.", citation="@misc{t, title={T}}", language=["en"])


@pytest.fixture
def hf_build(dataset, tmp_path) -> Path:
    result = export(dataset, format="hf", out_dir=tmp_path / "dist")
    assert result.report.ok and result.output is not None
    return result.output


def test_hf_build_layout(hf_build):
    names = sorted(p.relative_to(hf_build).as_posix() for p in hf_build.rglob("*") if p.is_file())
    assert "README.md" in names and "croissant.json" in names and "SHA256SUMS" in names
    for config in ("articles", "annotations"):
        for split in ("train", "validation", "test"):
            assert f"data/{config}/{split}-00000-of-00001.parquet" in names
    sums = dict(reversed(line.split("  ")) for line in (hf_build / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == set(names) - {"SHA256SUMS"}
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=hf_build, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_load_dataset_articles_round_trip(hf_build):
    import datasets

    ds = datasets.load_dataset(str(hf_build))
    assert set(ds) == {"train", "validation", "test"}
    articles, annotations = corpus()
    by_id = {a["id"]: a for a in articles}
    features = ds["train"].features
    assert isinstance(features["genre"], datasets.ClassLabel) and features["genre"].names == ["reporting", "opinion"]
    assert features["entities"].feature["label"].names == ["PERSON", "ORG", "LOC"]
    assert features["topics"].feature.names == ["politics", "economy"]
    assert str(features["published_at"].dtype) == "timestamp[us, tz=UTC]"
    seen = 0
    for split in ds:
        for row in ds[split]:
            source = by_id[row["id"]]
            assert assign_split(row["id"], __import__("toolkit").load_manifest(hf_build.parent.parent / "ds").splits) == split
            assert row["text"] == source["text"] and row["title"] == source["title"]
            assert row["published_at"].isoformat().startswith(f"2024-01-{int(source['published_at'][8:10]):02d}T08:00")
            assert json.loads(row["meta"]) == source["meta"]
            assert features["genre"].int2str(row["genre"]) == ("opinion" if "annotations" in source else "reporting")
            ents = [(e["text"], features["entities"].feature["label"].int2str(e["label"])) for e in row["entities"]]
            assert ents == [("Alice Moreau", "PERSON"), ("ACME", "ORG")]
            assert [source["text"][e["start"]:e["end"]] for e in row["entities"]] == ["Alice Moreau", "ACME"]
            assert row["attribution"][0]["head"] == row["entities"][1]["id"]
            seen += 1
    assert seen == N
    assert "__index_level_0__" not in features


def test_load_dataset_annotations_config(hf_build):
    import datasets

    ds = datasets.load_dataset(str(hf_build), "annotations")
    rows = [r for split in ds for r in ds[split]]
    _, annotations = corpus()
    assert len(rows) == len(annotations) + N // 5
    assert ds["train"].features["label"] == datasets.Value("string")
    by_id = {r["id"]: r for r in rows}
    assert by_id["l-3"]["text"] == "“no”" and by_id["l-3"]["start"] == TEXT.index("“no”")
    assert by_id["p-3"]["confidence"] == 0.9 and by_id["r-3"]["head"] == "o-3"
    assert json.loads(by_id["o-3"]["attributes"]) == {"checked": True}


def test_parquet_has_hf_metadata_row_groups_and_zstd(hf_build):
    path = hf_build / "data" / "articles" / "train-00000-of-00001.parquet"
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    hf = json.loads(pq.read_schema(path).metadata[b"huggingface"])
    assert hf["info"]["features"]["genre"]["names"] == ["reporting", "opinion"]


def test_rebuild_is_byte_identical(dataset, tmp_path):
    first = export(dataset, format="hf", out_dir=tmp_path / "one").output
    second = export(dataset, format="hf", out_dir=tmp_path / "two").output
    for path in first.rglob("*"):
        # The card names its own folder in the load snippet, and SHA256SUMS covers the card.
        if path.is_file() and path.name not in ("README.md", "SHA256SUMS"):
            assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path
    before = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    third = export(dataset, format="hf", out_dir=tmp_path / "one").output
    assert {p.relative_to(third): p.read_bytes() for p in third.rglob("*") if p.is_file()} == before


def test_splits_are_stable_when_articles_are_added(make_dataset, tmp_path):
    articles, annotations = corpus()
    small = export(make_dataset(articles[:30], [a for a in annotations if int(a["article_id"][4:]) < 30]),
                   format="jsonl", out_dir=tmp_path / "a").output
    before = {}
    for path in (small / "data" / "articles").iterdir():
        for line in path.read_text().splitlines():
            before[json.loads(line)["id"]] = path.name.split("-")[0]
    big = export(make_dataset(articles, annotations), format="jsonl", out_dir=tmp_path / "b").output
    after = {}
    for path in (big / "data" / "articles").iterdir():
        for line in path.read_text().splitlines():
            after[json.loads(line)["id"]] = path.name.split("-")[0]
    assert all(after[k] == v for k, v in before.items())


@pytest.mark.parametrize("compression", ["none", "gz", "zst"])
def test_jsonl_export_round_trip(dataset, tmp_path, compression):
    result = export(dataset, format="jsonl", out_dir=tmp_path, jsonl_compression=compression)
    rows = []
    for path in sorted((result.output / "data" / "articles").iterdir()):
        data = path.read_bytes()
        data = gzip.decompress(data) if compression == "gz" else (
            zstandard.ZstdDecompressor().decompressobj().decompress(data) if compression == "zst" else data)
        rows += [orjson.loads(line) for line in data.splitlines()]
    assert len(rows) == N
    row = next(r for r in rows if r["id"] == "art-005")
    assert row["genre"] == "opinion" and row["entities"][0]["label"] == "PERSON"
    assert row["published_at"] == "2024-01-06T08:00:00Z"  # UTC with Z: readers type it with its zone


def test_parquet_format_reads_back(dataset, tmp_path):
    result = export(dataset, format="parquet", out_dir=tmp_path)
    table = pq.read_table(result.output / "data" / "articles")
    assert table.num_rows == N
    assert sorted(table.column("id").to_pylist()) == [f"art-{i:03d}" for i in range(N)]


def test_invalid_input_exits_1_and_writes_nothing(make_dataset, tmp_path):
    root = make_dataset([article(), "{bad"], [span("e1", "PERSON", "Alice")])
    out = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "toolkit", "export", str(root), "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert not (out / "test-ds").exists()
    assert not any(p.name.startswith(".") for p in out.iterdir()) if out.exists() else True


def test_skip_invalid_exports_valid_and_keeps_rejects(make_dataset, tmp_path):
    root = make_dataset([article(), "{bad"], [span("e1", "PERSON", "Alice"), span("e2", "PERSN", "ACME")])
    result = export(root, format="parquet", out_dir=tmp_path / "dist", skip_invalid=True)
    assert result.output.exists() and result.rejects.exists()
    assert (result.rejects / "articles.jsonl.rejects").read_text() == "{bad\n"
    assert "e2" in (result.rejects / "annotations.jsonl.rejects").read_text()
    assert pq.read_table(result.output / "data" / "annotations").column("id").to_pylist() == ["e1"]


def test_interrupted_export_leaves_previous_build(dataset, tmp_path, monkeypatch):
    out = tmp_path / "dist"
    first = export(dataset, format="hf", out_dir=out).output
    snapshot = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}

    import toolkit.export.hf as hf

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C while the card was being written

    monkeypatch.setattr(hf, "render_card", boom)
    with pytest.raises(KeyboardInterrupt):
        export(dataset, format="hf", out_dir=out)
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == snapshot
    assert sorted(p.name for p in out.iterdir()) == ["test-ds"]  # no staging folder left behind


def test_cli_export_prints_a_load_snippet_that_works(dataset, tmp_path):
    result = subprocess.run([sys.executable, "-m", "toolkit", "export", str(dataset), "--out", "dist"],
                            capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, COLUMNS="200"))
    assert result.returncode == 0, result.stdout + result.stderr
    snippet = textwrap.dedent(result.stdout.split("Load it with:\n", 1)[1])
    run = subprocess.run([sys.executable, "-c", snippet + "\nprint(ds['train'].features['genre'].names)"],
                         capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert run.returncode == 0, run.stderr
    assert "reporting" in run.stdout


def test_layers_derive_from_manifest_order(make_dataset, tmp_path):
    layers = dict(LAYERS)
    layers["entities"] = {"kind": "span", "labels": ["ORG", "LOC", "PERSON"], "overlap": False}
    root = make_dataset([article()], [span("e1", "PERSON", "Alice")], layers=layers)
    import datasets

    out = export(root, format="hf", out_dir=tmp_path / "d").output
    ds = datasets.load_dataset(str(out), split="train")
    assert ds.features["entities"].feature["label"].names == ["ORG", "LOC", "PERSON"]
    assert ds[0]["entities"][0]["label"] == 2
