"""The fast acceptance paths never change a verdict: reports are identical with them switched off."""

from __future__ import annotations

import importlib
import sys

import pytest
from conftest import REPO
from test_problem_codes import CASES, _strip_none

from toolkit import validate

sys.path.insert(0, str(REPO / "benchmarks"))
from generate import generate  # noqa: E402

validate_module = importlib.import_module("toolkit.validation.driver")


def both_ways(root, monkeypatch):
    fast = validate(root)
    monkeypatch.setattr(validate_module, "FAST_PATH", False)
    careful = validate(root)
    monkeypatch.setattr(validate_module, "FAST_PATH", True)
    return fast, careful


def test_same_report_on_generated_faults(tmp_path, monkeypatch):
    root = generate(tmp_path / "c", 400, seed=11, broken=0.08)
    fast, careful = both_ways(root, monkeypatch)
    assert fast.problems == careful.problems
    assert {k: vars(v) for k, v in fast.counts.items()} == {k: vars(v) for k, v in careful.counts.items()}


@pytest.mark.parametrize("code", sorted(CASES))
def test_same_report_on_each_problem_code(code, make_dataset, monkeypatch):
    bad_articles, bad_annotations, good_articles, good_annotations = CASES[code]
    for articles, anns in ((bad_articles, bad_annotations), (good_articles, good_annotations)):
        fast, careful = both_ways(make_dataset(_strip_none(articles), _strip_none(anns)), monkeypatch)
        assert fast.problems == careful.problems and fast.ok == careful.ok


def test_stage_needs_only_its_batch():
    # The per-record checks read no database and no other record: any engine on any node can run
    # them. Span offsets and quoted text are checked later, against the staged articles.
    from toolkit.manifest import Layer
    from toolkit.readers import Block
    from toolkit.store import read_key
    from toolkit.validation.records import StageContext, stage

    layers = {"entities": Layer("entities", "span", ("ORG",)), "genre": Layer("genre", "document", ("news",))}
    context = StageContext("annotation", layers, 1000, file_index=3)
    span = b'{"id": "e1", "article_id": "a1", "layer": "entities", "label": "ORG", "start": 0, "end": 1}'
    doc = b'{"id": "g1", "article_id": "a1", "layer": "genre", "label": "news"}'
    bad = b'{"id": "g2", "article_id": "a1", "layer": "genre", "label": "nope"}'
    rows = stage(context, Block(7, [span, doc, b"  ", bad])).tables["ann"].to_pylist()
    assert [r["k"] for r in rows] == [read_key(3, 7), read_key(3, 8), read_key(3, 10)]
    assert [r["ok"] for r in rows] == [True, True, False]
    assert [r["id"] for r in rows] == ["e1", "g1", "g2"] and {r["article_id"] for r in rows} == {"a1"}
    assert (rows[0]["kind"], rows[0]["start"], rows[0]["end"], rows[0]["field"]) == (1, 0, 1, "text")
    assert rows[1]["kind"] == 2 and rows[1]["single"] is True and rows[1]["start"] is None
    assert [r["data"] for r in rows] == [span, doc, bad]


def test_same_build_with_the_resolver_judging_everything(tmp_path, monkeypatch):
    # With the fast path off, every accepted article comes from the resolver: the export's merge of
    # clean and resolved articles must give the same files either way.
    from toolkit.export import export

    root = generate(tmp_path / "c", 300, seed=5, broken=0.08)
    builds = {}
    for fast in (True, False):
        monkeypatch.setattr(validate_module, "FAST_PATH", fast)
        result = export(root, out_dir=tmp_path / f"out-{fast}", skip_invalid=True)
        builds[fast] = {p.relative_to(result.output): p.read_bytes() for p in result.files if p.suffix == ".parquet"}
    assert builds[True] and builds[True] == builds[False]
