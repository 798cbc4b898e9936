"""Write what an importer read as a dataset folder that `validate` and `export` accept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson
import yaml

from toolkit.ingest import Imported
from toolkit.publish import atomic_directory


def write_dataset(imported: Imported, out_dir: Path, name: str, *, language: list[str] | None = None,
                  inputs: Sequence[Path] = ()) -> Path:
    """Write `dataset.yaml`, `articles.jsonl` and `annotations.jsonl` as the folder `out_dir`; return the manifest path.

    The manifest declares every layer seen with every label seen, in first-seen order. Span layers
    are declared `overlap: true` because tools allow overlapping spans unless configured otherwise.
    The folder is staged beside `out_dir`, marked as a news-toolkit output and renamed into place
    (`toolkit.publish.atomic_directory`): an earlier import there is replaced whole, while a folder
    the toolkit did not write (a hand-made dataset), another dataset's output or one holding an
    input is refused with a `ToolkitError` and left as is.
    """
    with atomic_directory(out_dir, kind="dataset", name=name, inputs=inputs) as staging:
        _write_files(imported, staging, name, language)
    return out_dir / "dataset.yaml"


def _write_files(imported: Imported, out_dir: Path, name: str, language: list[str] | None) -> None:
    with open(out_dir / "articles.jsonl", "wb") as f:
        for article in imported.articles:
            f.write(orjson.dumps(article) + b"\n")
    with open(out_dir / "annotations.jsonl", "wb") as f:
        for annotation in imported.annotations:
            f.write(orjson.dumps(annotation) + b"\n")
    languages = language or sorted({a.get("language", "und") for a in imported.articles}) or ["und"]
    layers: dict[str, dict] = {}
    for layer, kind in imported.layers.items():
        spec: dict = {"kind": kind, "labels": list(imported.labels.get(layer, []))}
        if kind == "span":
            spec["overlap"] = True
        if kind == "document":
            spec["multi"] = True
        layers[layer] = spec
    manifest = {
        "name": name,
        "pretty_name": name,
        "language": languages,
        "articles": ["articles.jsonl"],
        "annotations": ["annotations.jsonl"],
        "layers": layers,
        "splits": {"train": 0.8, "validation": 0.1, "test": 0.1, "seed": 0},
    }
    path = out_dir / "dataset.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8")
