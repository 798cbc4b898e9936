"""Task views (issue 11, item 1 in part): `classify-<layer>` configs load with `datasets` and mlcroissant."""

from __future__ import annotations

import datasets
import pytest
import yaml
from conftest import article

from toolkit.errors import ToolkitError
from toolkit.export import export
from toolkit.manifest import load_manifest

GENRE = {"id": "g", "layer": "genre", "label": "opinion"}
TOPICS = [{"id": "t1", "layer": "topics", "label": "politics"}, {"id": "t2", "layer": "topics", "label": "economy"}]


def test_classify_views_hold_labelled_articles_with_class_labels(make_dataset, tmp_path):
    articles = [article(id=f"a{i}", title=f"T{i}") for i in range(12)]
    annotations = [dict(GENRE, id=f"g{i}", article_id=f"a{i}", label=["opinion", "reporting"][i % 2]) for i in range(8)]
    annotations += [dict(t, id=f"{t['id']}-{i}", article_id=f"a{i}") for i in range(5) for t in TOPICS]
    out = export(make_dataset(articles, annotations), format="hf", out_dir=tmp_path).output
    cache = str(tmp_path / "cache")
    genre = datasets.load_dataset(str(out), "classify-genre", cache_dir=cache)
    rows = [row for split in genre.values() for row in split]
    assert sorted(r["id"] for r in rows) == sorted(f"a{i}" for i in range(8))  # unlabelled articles left out
    names = genre[next(iter(genre))].features["label"].names
    assert {r["id"]: names[r["label"]] for r in rows} == {f"a{i}": ["opinion", "reporting"][i % 2] for i in range(8)}
    topics = datasets.load_dataset(str(out), "classify-topics", cache_dir=cache)
    split = next(iter(topics))
    assert isinstance(topics[split].features["label"], datasets.List)
    assert all(sorted(topics[split].features["label"].feature.int2str(r["label"])) == ["economy", "politics"]
               for r in topics[split])
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "### Config `classify-genre` (ready to train)" in card


def test_views_do_not_change_the_other_configs(make_dataset, tmp_path):
    root = make_dataset([article()], [dict(GENRE, article_id="a1")])
    out = export(root, format="hf", out_dir=tmp_path).output
    # A view without rows (no relation, no labelled `topics` article) is no config.
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "annotations", "articles", "classify-genre", "ner-entities", "ner-persuasion"]
    assert datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c")).num_rows == 1


@pytest.mark.parametrize(("views", "configs"), [
    (False, []),
    ({"ner": False}, ["classify-genre"]),
    ({"classify": False, "relations": False}, ["ner-entities", "ner-persuasion"]),
])
def test_manifest_views_turn_kinds_off(make_dataset, tmp_path, views, configs):
    root = make_dataset([article()], [dict(GENRE, article_id="a1")], views=views)
    out = export(root, format="hf", out_dir=tmp_path).output
    assert sorted(p.name for p in (out / "data").iterdir()) == ["annotations", "articles", *configs]
    card = yaml.safe_load((out / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[0][4:])
    assert [c["config_name"] for c in card["configs"]] == ["articles", "annotations", *configs]


@pytest.mark.parametrize(("views", "key"), [
    ({"tagging": "IOB"}, "views"), ({"ner": "yes"}, "views"), ({"sentences": True}, "views"), ("all", "views")])
def test_bad_views_values_are_refused_naming_the_key(make_dataset, views, key):
    root = make_dataset([article()], views=views)
    with pytest.raises(ToolkitError) as caught:
        load_manifest(root)
    assert caught.value.exit_code == 2 and f": {key}" in str(caught.value)
