"""Property: on corpora full of conflicts, the set-based core judges exactly as the sequential careful path.

The careful path (`FAST_PATH = False`) judges every record in read order against the records
accepted before it; the set-based core must give the same report (problem for problem), the same
rejects byte for byte and the same accepted records. The corpora are built to put conflicts where
the set-based pass is weakest: duplicate ids whose first copy is invalid, overlaps chained through
rejected spans, relations to rejected or later spans, second labels after a rejected first,
annotations inside articles that collide with annotation lines, and several annotators (or none)
labelling and marking the same article, where conflicts are per annotator.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import LAYERS, TEXT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.engines import InProcess
from toolkit.manifest import load_manifest
from toolkit.store import StagingStore
from toolkit.validation import cross, driver, run_validation

ARTICLE_IDS = ["a0", "a1", "a2", "a3", "a4", "a5"]
PHRASES = ["Alice Moreau", "Alice", "Moreau met", "ACME", "Łódź 😊", "Monday", "no"]
# None: the annotation names no annotator (those form one group of their own).
ANNOTATORS = st.sampled_from([None, None, "ann-1", "ann-2", "model:ner"])


def _by(record: dict, annotator: str | None) -> dict:
    return record if annotator is None else {**record, "annotator": annotator}


def _span(ann_id: str, article_id: str | None, phrase: str, layer: str, shift: int, quote: bool,
          annotator: str | None = None) -> dict:
    start = TEXT.index(phrase) + shift
    record = {"id": ann_id, "layer": layer, "label": "ORG" if layer == "entities" else "Doubt",
              "start": start, "end": start + len(phrase)}
    if article_id is not None:
        record["article_id"] = article_id
    if quote:
        record["text"] = phrase
    return _by(record, annotator)


def corpus(pool: int) -> st.SearchStrategy:
    """(article lines, annotation lines) whose annotation ids come from `pool` names: few names, many collisions."""
    annotation_ids = st.sampled_from([f"n{i}" for i in range(pool)])
    article_refs = st.sampled_from([*ARTICLE_IDS] * 3 + ["zz"])  # zz: no such article
    spans = st.builds(
        _span, annotation_ids, article_refs, st.sampled_from(PHRASES), st.sampled_from(["entities", "persuasion"]),
        st.sampled_from([0] * 8 + [1, -1]), st.booleans(), ANNOTATORS,
    )
    labels = st.builds(
        lambda i, a, layer, label, who: _by({"id": i, "article_id": a, "layer": layer, "label": label}, who),
        annotation_ids, article_refs, st.sampled_from(["genre", "topics"]),
        st.sampled_from(["reporting", "opinion", "politics", "economy"] * 3 + ["nope"]), ANNOTATORS,
    )
    relations = st.builds(
        lambda i, a, h, t: {"id": i, "article_id": a, "layer": "attribution", "label": "said_by",
                            "head": h, "tail": t},
        annotation_ids, article_refs, annotation_ids, annotation_ids,
    )
    broken = st.sampled_from([b"{broken", b"[1]", b'{"id": "n1", "article_id": "a0"}',
                              b'{"id": "n2", "article_id": "a1", "layer": "nolayer", "label": "X"}'])
    annotation_lines = st.one_of(spans, spans, spans, spans, labels, labels, relations, relations, broken)
    articles = st.builds(
        lambda i, bad, inner: {"id": i, "title": "Alice meets ACME", "text": TEXT, "language": "en",
                               **({"published_at": "2021-02-31"} if bad else {}),
                               **({"annotations": [_embedded(x) for x in inner]} if inner else {})},
        st.sampled_from(ARTICLE_IDS), st.sampled_from([False] * 5 + [True]),
        st.lists(st.one_of(spans, labels, relations), max_size=3) | st.just([]),
    )
    article_lines = st.one_of(*[articles] * 6, st.just(b"not json"))
    return st.tuples(st.lists(article_lines, min_size=1, max_size=8), st.lists(annotation_lines, max_size=24))


def _embedded(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "article_id"}


def _encode(row: dict | bytes) -> bytes:
    return row if isinstance(row, bytes) else json.dumps(row, ensure_ascii=False).encode()


def _judge(root, tmp_path, fast: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(driver, "FAST_PATH", fast)
    rejects = tmp_path / ("fast" if fast else "careful")
    shutil.rmtree(rejects, ignore_errors=True)
    manifest = load_manifest(root)
    with StagingStore() as store:
        report = run_validation(manifest, store, InProcess(), rejects_dir=rejects)
        # Records are compared as JSON: the careful path keeps an article re-serialised, the clean
        # path the line as read (the export parses both the same way).
        accepted = (
            [(*row[:-1], json.loads(row[-1]))
             for row in store.con.sql("SELECT k, id, data FROM accepted_articles ORDER BY k").fetchall()],
            [(*row[:-1], json.loads(row[-1])) for row in
             store.con.sql("SELECT k, sub, article_id, data FROM accepted_annotations ORDER BY k, sub").fetchall()],
        )
    files = {p.name: p.read_bytes() for p in sorted(rejects.iterdir())} if rejects.exists() else {}
    return report, accepted, files


def _same_verdicts(make_dataset, tmp_path, monkeypatch, arts: list, anns: list) -> None:
    root = make_dataset([_encode(a) for a in arts], [_encode(a) for a in anns], layers=LAYERS)
    fast, fast_accepted, fast_rejects = _judge(root, tmp_path, True, monkeypatch)
    careful, careful_accepted, careful_rejects = _judge(root, tmp_path, False, monkeypatch)
    assert fast.problems == careful.problems
    assert {k: vars(v) for k, v in fast.counts.items()} == {k: vars(v) for k, v in careful.counts.items()}
    assert fast_accepted == careful_accepted
    assert fast_rejects == careful_rejects


# Many id collisions put every article in conflict; few leave most articles clean, where a rule the
# set-based pass missed would show. Both are needed to catch every rule missing.
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus(pool=8))
def test_set_based_core_equals_the_careful_path_many_collisions(make_dataset, tmp_path, monkeypatch, lines):
    _same_verdicts(make_dataset, tmp_path, monkeypatch, *lines)


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus(pool=40))
def test_set_based_core_equals_the_careful_path_few_collisions(make_dataset, tmp_path, monkeypatch, lines):
    _same_verdicts(make_dataset, tmp_path, monkeypatch, *lines)


# Big corpora take the other spelling of the rules: each its own statement over the staged files, the
# annotations copied into DuckDB only afterwards (tiny ones are copied first). Forced here.
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus(pool=40))
def test_rules_over_the_staged_files_equal_the_careful_path(make_dataset, tmp_path, monkeypatch, lines):
    monkeypatch.setattr(cross, "_COPY_BYTES_PER_ROW", 2**40)
    _same_verdicts(make_dataset, tmp_path, monkeypatch, *lines)


# The rules run partition by partition (the staged lines cut by article, annotation ids by id): an
# annotation id used in two articles of different partitions, a relation or an overlap across them,
# must come out as with one partition. Many collisions put such pairs in nearly every example.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpus(pool=8), st.integers(2, 5), st.booleans())
def test_rules_checked_in_partitions_equal_the_careful_path(make_dataset, tmp_path, monkeypatch, lines, partitions,
                                                            big):
    monkeypatch.setattr(driver, "partition_count", lambda input_bytes, nodes: partitions)
    if big:
        monkeypatch.setattr(cross, "_COPY_BYTES_PER_ROW", 2**40)
    _same_verdicts(make_dataset, tmp_path, monkeypatch, *lines)


def _ent(ann_id: str, article_id: str, start: int, end: int, label: str = "ORG", by: str | None = None) -> dict:
    return _by({"id": ann_id, "article_id": article_id, "layer": "entities", "label": label, "start": start,
                "end": end}, by)


def _rel(ann_id: str, article_id: str, head: str, tail: str) -> dict:
    return {"id": ann_id, "article_id": article_id, "layer": "attribution", "label": "said_by", "head": head,
            "tail": tail}


def _doc(ann_id: str, article_id: str, label: str, by: str | None = None) -> dict:
    return _by({"id": ann_id, "article_id": article_id, "layer": "genre", "label": label}, by)


def _art(article_id: str, **extra: object) -> dict:
    return {"id": article_id, "title": "T", "text": TEXT, "language": "en", **extra}


# One case per cross-record rule, each where that rule alone puts an article in conflict.
KNOWN_CONFLICTS = {
    "overlap only": ([_art("a0")], [_ent("n1", "a0", 0, 5), _ent("n2", "a0", 3, 9), _ent("n3", "a0", 10, 12)]),
    "second label only": ([_art("a0")], [_doc("g1", "a0", "opinion"), _doc("g2", "a0", "reporting")]),
    "span outside its text only": ([_art("a0")], [_ent("n1", "a0", 0, 500)]),
    "span quoting other text only": ([_art("a0")], [{**_ent("n1", "a0", 0, 5), "text": "Alicf"}]),
    "a bad label only": ([_art("a0")], [_ent("n1", "a0", 0, 5), _ent("n2", "a0", 6, 9, label="XX")]),
    "overlap chained through a rejected span": (
        [_art("a0"), _art("a1")],
        [_ent("n1", "a0", 0, 5), _ent("n2", "a0", 3, 9, label="XX"), _ent("n3", "a0", 6, 9),
         _ent("n4", "a0", 8, 12)]),
    "relation to a later span and to another article's span": (
        [_art("a0"), _art("a1")],
        [_rel("r1", "a0", "s1", "s2"), _ent("s1", "a0", 0, 5), _ent("s2", "a1", 0, 5), _rel("r2", "a0", "s1", "s2")]),
    "relation to a document label": (
        [_art("a0")], [_doc("g1", "a0", "opinion"), _ent("s1", "a0", 0, 5), _rel("r1", "a0", "s1", "g1")]),
    "second label after a rejected first": (
        [_art("a0")], [_doc("g1", "a0", "nope"), _doc("g2", "a0", "opinion"), _doc("g3", "a0", "reporting")]),
    "annotation id used in two articles": (
        [_art("a0"), _art("a1")], [_ent("n1", "a0", 0, 5), _ent("n1", "a1", 0, 5), _ent("n2", "a1", 6, 9)]),
    "id inside an article collides with a line": (
        [_art("a0", annotations=[{"id": "n1", "layer": "genre", "label": "opinion"}]), _art("a1")],
        [_ent("n1", "a1", 0, 5), _ent("n2", "a1", 6, 9)]),
    "duplicate article whose first copy is invalid": (
        [_art("a0", published_at="2021-02-31"), _art("a0"), _art("a0")], [_ent("n1", "a0", 0, 5)]),
    "span outside its text, and an unknown article": (
        [_art("a0")], [_ent("n1", "a0", 0, 500), _ent("n2", "zz", 0, 5), _ent("n3", "a0", 0, 5)]),
    # Per annotator: g2 and g3 are other annotators' labels (data), g4 is ann-1's second label.
    "second label by the same annotator": (
        [_art("a0")], [_doc("g1", "a0", "opinion", by="ann-1"), _doc("g2", "a0", "reporting", by="ann-2"),
                       _doc("g3", "a0", "reporting"), _doc("g4", "a0", "reporting", by="ann-1")]),
    # n2 overlaps n1 but is another annotator's; n3 overlaps ann-2's n2; n4 overlaps the unnamed n5 read before it.
    "overlap within one annotator's spans": (
        [_art("a0")], [_ent("n1", "a0", 0, 5, by="ann-1"), _ent("n2", "a0", 3, 9, by="ann-2"),
                       _ent("n5", "a0", 4, 9), _ent("n3", "a0", 6, 12, by="ann-2"), _ent("n4", "a0", 8, 12)]),
    "relation inside an article to a span of an earlier article": (
        [_art("a0", annotations=[{"id": "s1", "layer": "entities", "label": "ORG", "start": 0, "end": 5}]),
         _art("a1", annotations=[{"id": "s2", "layer": "entities", "label": "ORG", "start": 0, "end": 5},
                                 {"id": "r1", "layer": "attribution", "label": "said_by", "head": "s1",
                                  "tail": "s2"}])],
        []),
}


@pytest.mark.parametrize("name", sorted(KNOWN_CONFLICTS))
def test_known_conflicts(make_dataset, tmp_path, monkeypatch, name):
    arts, annotations = KNOWN_CONFLICTS[name]
    root = make_dataset(arts, annotations)
    fast, fast_accepted, fast_rejects = _judge(root, tmp_path, True, monkeypatch)
    careful, careful_accepted, careful_rejects = _judge(root, tmp_path, False, monkeypatch)
    assert fast.problems == careful.problems
    assert fast_accepted == careful_accepted and fast_rejects == careful_rejects
    assert fast.problems  # each case has at least one rejected record
