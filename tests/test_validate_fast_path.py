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

validate_module = importlib.import_module("toolkit.validate")


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


def test_workers_that_cannot_read_the_article_database_change_nothing(tmp_path, monkeypatch):
    # A Ray worker on another node cannot open the driver's temporary SQLite file: its span
    # annotations get no key and the driver checks them.
    import toolkit.precheck as precheck

    root = generate(tmp_path / "c", 200, seed=4, broken=0.05)
    expected = validate(root)
    monkeypatch.setattr(precheck, "_texts", lambda path: None)
    from toolkit.manifest import Layer
    from toolkit.readers import Block

    layers = {"entities": Layer("entities", "span", ("ORG",)), "genre": Layer("genre", "document", ("news",))}
    context = precheck.CheckContext("annotation", layers, 1000, "/nonexistent/x.sqlite")
    span = b'{"id": "e1", "article_id": "a1", "layer": "entities", "label": "ORG", "start": 0, "end": 1}'
    doc = b'{"id": "g1", "article_id": "a1", "layer": "genre", "label": "news"}'
    assert precheck.precheck(context, Block(1, [span, doc, b"  "])) == [
        None, ("g1", "a1", "genre", None, None, "text", None, None), precheck.BLANK]
    got = validate(root)
    assert got.problems == expected.problems and got.ok == expected.ok


def test_an_unreadable_article_database_gives_no_keys(tmp_path):
    import toolkit.precheck as precheck

    assert precheck._texts(str(tmp_path / "missing.sqlite")) is None
