"""Task views (issue 11, item 1 in part): `classify-<layer>` configs load with `datasets` and mlcroissant."""

from __future__ import annotations

import datasets
from conftest import article

from toolkit.export import export

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
    assert sorted(p.name for p in (out / "data").iterdir()) == ["annotations", "articles", "classify-genre"]
    assert datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c")).num_rows == 1
