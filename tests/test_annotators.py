"""`export --annotators human|model|all`: gold or silver builds, relations never left dangling (issue 10 item 5)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import article, span
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit import validate
from toolkit.cli import app
from toolkit.export import export
from toolkit.export.arrow_json import aggregated_label_ids, pick_label

RELATION = {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e2", "tail": "e1",
            "annotator": "ann-1"}


def _annotations(build) -> list[tuple[str, str | None]]:
    table = pq.read_table(build / "data" / "annotations")
    return sorted(zip(table.column("id").to_pylist(), table.column("annotator").to_pylist(), strict=True))


@pytest.fixture
def mixed(make_dataset):
    return make_dataset([article()], [
        span("e1", "PERSON", "Alice", annotator="model:ner", confidence=0.8),
        span("e2", "ORG", "ACME", annotator="ann-1"),
        span("e3", "LOC", "Łódź"),
        RELATION,
    ])


@pytest.mark.parametrize(("kept", "expected"), [
    ("all", [("e1", "model:ner"), ("e2", "ann-1"), ("e3", None), ("r1", "ann-1")]),
    ("human", [("e2", "ann-1")]),  # r1 is human but its tail e1 is a model's: it goes too
    ("model", [("e1", "model:ner")]),
])
def test_a_build_keeps_the_annotations_asked_for(mixed, tmp_path, kept, expected):
    result = export(mixed, format="parquet", out_dir=tmp_path, annotators=kept)
    assert _annotations(result.output) == expected
    articles = pq.read_table(result.output / "data" / "articles").to_pylist()
    assert sorted(s["id"] for s in articles[0]["entities"]) == sorted(i for i, _ in expected if i.startswith("e"))


def test_the_card_says_what_the_build_holds(mixed, tmp_path):
    card = (export(mixed, format="hf", out_dir=tmp_path, annotators="human").output / "README.md").read_text()
    assert "keeps only the annotations that are a named person's (gold)" in card
    assert "| entities | 1 | 0 | – | 0 |" in card


def test_cli_lists_and_checks_the_choice(mixed, tmp_path):
    runner = CliRunner()
    assert "human" in runner.invoke(app, ["export", "--help"]).output
    bad = runner.invoke(app, ["export", str(mixed), "--annotators", "robots", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    ok = runner.invoke(app, ["export", str(mixed), "--annotators", "model", "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output


# -- several annotators on one article are data (issue 10 item 6) ---------------------------------

def _genre(ann_id: str, label: str, annotator: str | None, article_id: str = "a1") -> dict:
    record = {"id": ann_id, "article_id": article_id, "layer": "genre", "label": label}
    return record if annotator is None else {**record, "annotator": annotator}


def _problems(report) -> list[tuple[str, str]]:
    return [(p.record_id, p.code) for p in report.problems]


def test_one_label_per_annotator_in_a_single_label_layer(make_dataset):
    root = make_dataset([article()], [
        _genre("g1", "opinion", "ann-1"), _genre("g2", "reporting", "ann-2"),  # two annotators: data
        _genre("g3", "reporting", None), _genre("g4", "opinion", "model:clf"),
        _genre("g5", "reporting", "ann-1"),  # ann-1's second label: the conflict
        _genre("g6", "opinion", None),  # the unnamed group's second label
    ])
    assert _problems(validate(root)) == [("g5", "conflicting-label"), ("g6", "conflicting-label")]
    message = validate(root).problems[0].message
    assert "by the same annotator 'ann-1'" in message


def test_overlap_false_is_checked_per_annotator(make_dataset):
    root = make_dataset([article()], [
        span("e1", "PERSON", "Alice Moreau", annotator="ann-1"),
        span("e2", "PERSON", "Alice Moreau", annotator="ann-2"),  # the same name again: agreement
        span("e3", "PERSON", "Moreau met", annotator="ann-2"),  # overlaps ann-2's own e2
        span("e4", "PERSON", "Alice"),
        span("e5", "PERSON", "Moreau met"),  # beside e4, not over it
        span("e6", "ORG", "Alice Moreau"),  # overlaps the unnamed e4 and e5
    ])
    assert _problems(validate(root)) == [("e3", "span-overlap"), ("e6", "span-overlap")]


MAJORITY_CORPUS = [
    # a1: opinion once, reporting twice → majority reporting, first opinion.
    [_genre("g1", "opinion", "ann-1"), _genre("g2", "reporting", "ann-2"), _genre("g3", "reporting", "ann-3")],
    # a2: a tie, one each → the tied label read first (opinion) under both policies.
    [_genre("g4", "opinion", "ann-2", "a2"), _genre("g5", "reporting", "ann-1", "a2")],
    # a3: one label, a3 never disagrees.
    [_genre("g6", "reporting", "ann-1", "a3")],
]


def _build_labels(make_dataset, tmp_path, monkeypatch, dict_path: bool, **manifest) -> tuple[dict, list]:
    from datasets import load_dataset

    from toolkit.export import arrow_json

    if dict_path:  # the dict spelling (rows.py), used for batches Arrow's reader refuses
        def refuse(*_args, **_kwargs):
            raise pa.ArrowInvalid("refused to test the dict path")

        monkeypatch.setattr(arrow_json, "build", refuse)
    root = make_dataset([article(), article(id="a2"), article(id="a3")],
                        [ann for anns in MAJORITY_CORPUS for ann in anns], splits={"train": 1.0, "validation": 0.0,
                                                                                   "test": 0.0}, **manifest)
    out = export(root, format="hf", out_dir=tmp_path / ("dicts" if dict_path else "arrow")).output
    # A cache of its own: builds in folders of the same name were served from one another's cache.
    rows = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    names = rows.features["genre"].names
    labels = {row["id"]: names[row["genre"]] for row in rows}
    annotations = load_dataset(str(out), "annotations", split="train", cache_dir=str(tmp_path / "cache"))
    return labels, sorted(zip(annotations["id"], annotations["label"], strict=True))


@pytest.mark.parametrize("dict_path", [False, True], ids=["arrow", "dicts"])
@pytest.mark.parametrize(("manifest", "expected"), [
    ({}, {"a1": "reporting", "a2": "opinion", "a3": "reporting"}),  # majority by default
    ({"aggregate": "majority"}, {"a1": "reporting", "a2": "opinion", "a3": "reporting"}),
    ({"aggregate": "first"}, {"a1": "opinion", "a2": "opinion", "a3": "reporting"}),
])
def test_articles_config_carries_the_aggregated_label(make_dataset, tmp_path, monkeypatch, dict_path, manifest,
                                                       expected):
    labels, annotations = _build_labels(make_dataset, tmp_path, monkeypatch, dict_path, **manifest)
    assert labels == expected
    # The annotations config keeps every annotator's label.
    assert annotations == sorted((a["id"], a["label"]) for anns in MAJORITY_CORPUS for a in anns)


def test_the_card_states_the_aggregation(make_dataset, tmp_path):
    root = make_dataset([article()], MAJORITY_CORPUS[0], aggregate="first")
    card = (export(root, format="hf", out_dir=tmp_path).output / "README.md").read_text()
    assert "`aggregate: first`" in card


def test_a_bad_aggregate_names_the_key(make_dataset, tmp_path):
    root = make_dataset([article()], [], aggregate="mode")
    result = CliRunner().invoke(app, ["validate", str(root)])
    assert result.exit_code == 2
    assert "aggregate" in result.output and "'mode' is not one of ['majority', 'first']" in result.output


@given(st.lists(st.lists(st.sampled_from("abcd"), max_size=6), max_size=8), st.sampled_from(["majority", "first"]))
def test_vectorised_aggregation_equals_the_per_article_one(per_article, policy):
    owner = np.repeat(np.arange(len(per_article)), [len(labels) for labels in per_article])
    ids = np.array([ord(label) - ord("a") for labels in per_article for label in labels], np.int64)
    chosen = aggregated_label_ids(owner, ids, len(per_article), policy).to_pylist()
    assert chosen == [ord(pick_label(labels, policy)) - ord("a") if labels else None for labels in per_article]


def test_majority_by_hand():
    # counts: b 2, a 2, c 1 → a tie between a and b; a is read first (position 0, b at 1).
    assert pick_label(["a", "b", "c", "b", "a"], "majority") == "a"
    # c 3, a 1 → c, though a is read first.
    assert pick_label(["a", "c", "c", "c"], "majority") == "c" and pick_label(["a", "c", "c"], "first") == "a"
