"""The card's polars and DuckDB recipes run in the build and give the label names `datasets` gives (issue 11)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, article, span

from toolkit.export import export
from toolkit.export.card import RECIPES_HEADING

LAYERS_MULTI_FIRST = {
    "topics": {"kind": "document", "labels": ["politics", "economy", "sport"], "multi": True},
    "entities": {"kind": "span", "labels": ["PERSON", "ORG", "LOC"], "overlap": False},
}


def recipe_blocks(card: str) -> list[str]:
    """The Python blocks of the recipes section (fences may be longer than three backticks)."""
    section = card.split(f"\n{RECIPES_HEADING}\n", 1)[1].split("\n## ", 1)[0]
    return [code for _, code in re.findall(r"(?ms)^(`{3,})python\n(.*?)\n\1$", section)]


def run_recipe(code: str, build: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple]:
    """Run one block with the build as working directory; its `named` (polars or DuckDB) as {id: names}."""
    monkeypatch.chdir(build)
    namespace: dict[str, Any] = {}
    exec(compile(code, "<card recipe>", "exec"), namespace)
    named = namespace["named"]
    rows = named.rows() if hasattr(named, "rows") else named.fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def names_from_datasets(build: Path, layers: list[str]) -> dict[str, tuple]:
    """What `datasets` says, through each layer's own ClassLabel `int2str`."""
    import datasets

    loaded = datasets.load_dataset(str(build))
    expected: dict[str, tuple] = {}
    for split in loaded.values():
        features = split.features
        for row in split:
            expected[row["id"]] = tuple(_names(features[layer], row[layer]) for layer in layers)
    return expected


def _names(feature: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(feature, datasets_list_types()):
        inner = feature.feature
        if isinstance(inner, dict):  # a span layer: List({..., label: ClassLabel})
            return [inner["label"].int2str(item["label"]) for item in value]
        return [inner.int2str(item) for item in value]  # a multi-label document layer
    return feature.int2str(value)


def datasets_list_types() -> tuple[type, ...]:
    import datasets

    return tuple(getattr(datasets, name) for name in ("List", "Sequence", "LargeList") if hasattr(datasets, name))


def _multi_first_corpus(make_dataset) -> Path:
    articles = [article(id=f"a{i}") for i in range(12)]
    annotations = [
        *({"id": f"t{i}-{label}", "article_id": f"a{i}", "layer": "topics", "label": label}
          for i in range(0, 12, 2) for label in (["sport", "politics"] if i % 4 else ["economy"])),
        *(span(f"e{i}", "ORG", "ACME", article_id=f"a{i}") for i in range(0, 12, 3)),
        *(span(f"p{i}", "PERSON", "Alice Moreau", article_id=f"a{i}") for i in range(0, 12, 3)),
    ]
    return make_dataset(articles, annotations, layers=LAYERS_MULTI_FIRST)


@pytest.mark.parametrize("corpus", ["sample-news", "multi-label first"])
def test_each_recipe_gives_the_names_datasets_gives(corpus, make_dataset, tmp_path, monkeypatch):
    source = EXAMPLE if corpus == "sample-news" else _multi_first_corpus(make_dataset)
    build = export(source, format="hf", out_dir=tmp_path / "dist").output
    card = (build / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"each snippet gives every article's (.*) labels by name", card).group(1)
    layers = re.findall(r"`(\w+)`", shown)
    assert layers == (["genre", "entities"] if corpus == "sample-news" else ["topics", "entities"])
    expected = names_from_datasets(build, layers)
    assert any(any(value for value in names) for names in expected.values())  # labels were there to name
    blocks = recipe_blocks(card)
    assert [block.splitlines()[0] for block in blocks] == ["import polars as pl", "import duckdb"]
    for code in blocks:
        assert run_recipe(code, build, monkeypatch) == expected


def test_a_build_without_label_layers_has_no_recipe(make_dataset, tmp_path):
    layers = {"attribution": {"kind": "relation", "labels": ["said_by"]}}
    build = export(make_dataset([article()], [], layers=layers), format="hf", out_dir=tmp_path / "dist").output
    assert RECIPES_HEADING not in (build / "README.md").read_text(encoding="utf-8")
