"""Annotator agreement (issue 10 item 7): figures checked against arithmetic done by hand, and on real exports."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pytest
from conftest import SHARED, TEXT, article, span
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit import validate
from toolkit.cli import app
from toolkit.engines import InProcess
from toolkit.hygiene.agreement import (
    cohen_kappa,
    f1_from_counts,
    krippendorff_alpha,
    measure_agreement,
    overlap_matches_by_label,
)
from toolkit.ingest import import_dataset
from toolkit.manifest import load_manifest
from toolkit.store import StagingStore, partition_of
from toolkit.validation import driver, run_validation

REALDATA = SHARED / "realdata"


def _figures(report) -> dict[tuple[str, str, str | None], float | None]:
    return {(r.layer, r.measure, r.label): r.value for r in report.agreement}


def _genre(ann_id: str, article_id: str, label: str, annotator: str, layer: str = "genre") -> dict:
    return {"id": ann_id, "article_id": article_id, "layer": layer, "label": label, "annotator": annotator}


def _articles(n: int) -> list[dict]:
    # Different texts: copies would only be grouped, but the figures should not depend on that.
    return [article(id=f"a{i}", text=f"{article()['text']} ({i})") for i in range(1, n + 1)]


SPANS = [
    # a1, ann-1: PERSON "Alice Moreau", ORG "ACME", LOC "Łódź".
    span("e1", "PERSON", "Alice Moreau", annotator="ann-1"), span("e2", "ORG", "ACME", annotator="ann-1"),
    span("e3", "LOC", "Łódź", annotator="ann-1"),
    # a1, ann-2: PERSON "Alice" (inside e1), ORG "ACME" (= e2), PERSON "Monday" (nobody else's).
    span("f1", "PERSON", "Alice", annotator="ann-2"), span("f2", "ORG", "ACME", annotator="ann-2"),
    span("f3", "PERSON", "Monday", annotator="ann-2"),
    # Not people: a model's and an unnamed span are left out of agreement.
    span("m1", "LOC", "Monday", annotator="model:ner"), span("u1", "ORG", "Alice"),
    # a2: ann-1 and ann-3 both mark ORG "ACME".
    span("g1", "ORG", "ACME", annotator="ann-1", article_id="a2"),
    span("g2", "ORG", "ACME", annotator="ann-3", article_id="a2"),
    # a3: one annotator only: not shared, not measured.
    span("h1", "ORG", "ACME", annotator="ann-1", article_id="a3"),
]


def test_span_f1_by_hand(make_dataset):
    report = validate(make_dataset(_articles(3), SPANS))
    assert report.ok, report.problems
    got = _figures(report)
    # Exact, pooled over the pairs (ann-1, ann-2) on a1 and (ann-1, ann-3) on a2:
    #   a1: 1 shared span (ACME) of 3 and 3; a2: 1 of 1 and 1 → recall 2/4, precision 2/4 → F1 0.5.
    assert got[("entities", "f1-exact", None)] == pytest.approx(0.5)
    # Overlap: a1 ann-1 matched Alice Moreau (by Alice) and ACME, not Łódź (no LOC of ann-2): 2 of 3;
    #   ann-2 matched Alice and ACME, not Monday: 2 of 3; a2: 1 of 1 each. R = 3/4, P = 3/4 → F1 0.75.
    assert got[("entities", "f1-overlap", None)] == pytest.approx(0.75)
    # PERSON, only on a1: exact 0 shared of 1 and 2 → 0; overlap R = 1/1, P = 1/2 → 2·1·½ / 1½ = 2/3.
    assert got[("entities", "f1-exact", "PERSON")] == 0.0
    assert got[("entities", "f1-overlap", "PERSON")] == pytest.approx(2 / 3)
    # ORG: ACME by both on a1 and on a2 → 1.0; LOC: ann-1's Łódź against nothing → 0.0.
    assert got[("entities", "f1-exact", "ORG")] == 1.0 and got[("entities", "f1-exact", "LOC")] == 0.0
    rows = [r for r in report.agreement if r.layer == "entities"]
    assert {(r.annotators, r.articles) for r in rows} == {(3, 2)}  # ann-1..3 on a1 and a2; a3 not shared


def test_cohen_kappa_by_hand(make_dataset):
    labels = [("a1", "reporting", "reporting"), ("a2", "reporting", "opinion"), ("a3", "opinion", "opinion"),
              ("a4", "reporting", "reporting")]
    anns = [_genre(f"{a}-{who}", a, label, who) for a, *pair in labels
            for who, label in zip(("ann-1", "ann-2"), pair, strict=True)]
    report = validate(make_dataset(_articles(4), anns))
    # p_o = 3/4 alike. ann-1: reporting 3, opinion 1; ann-2: reporting 2, opinion 2.
    # p_e = (3·2 + 1·2) / 4² = 1/2 → kappa = (3/4 - 1/2) / (1 - 1/2) = 0.5.
    assert _figures(report) == {("genre", "cohen-kappa", None): pytest.approx(0.5)}


def test_krippendorff_alpha_by_hand(make_dataset):
    anns = [_genre("x1", "a1", "reporting", "A"), _genre("x2", "a1", "reporting", "B"),
            _genre("x3", "a1", "reporting", "C"),
            _genre("y1", "a2", "reporting", "A"), _genre("y2", "a2", "opinion", "B"), _genre("y3", "a2", "opinion", "C"),
            _genre("z1", "a3", "opinion", "A"), _genre("z2", "a3", "opinion", "B")]
    report = validate(make_dataset(_articles(3), anns))
    # Coincidences o_ck = Σ_u (ordered c–k pairs of different annotators in u) / (m_u - 1):
    #   a1 (R,R,R): 6 R–R pairs / 2 → o_RR 3;  a2 (R,O,O): R–O 2, O–R 2, O–O 2, / 2 → 1, 1, 1;
    #   a3 (O,O): 2 O–O / 1 → 2.  o_RR 3, o_RO 1, o_OR 1, o_OO 3; n_R 4, n_O 4, n 8.
    # alpha = 1 - (n - 1) Σ_{c≠k} o_ck / Σ_{c≠k} n_c n_k = 1 - 7·2 / (4·4·2) = 18/32 = 0.5625.
    assert _figures(report) == {("genre", "krippendorff-alpha", None): pytest.approx(0.5625)}
    assert report.agreement[0].annotators == 3 and report.agreement[0].articles == 3


def test_multi_label_layer_per_label_by_hand(make_dataset):
    anns = [_genre("p1", "a1", "politics", "ann-1", "topics"), _genre("p2", "a1", "politics", "ann-2", "topics"),
            _genre("p3", "a1", "economy", "ann-2", "topics"),
            _genre("q1", "a2", "economy", "ann-1", "topics"), _genre("q2", "a2", "economy", "ann-2", "topics")]
    got = _figures(validate(make_dataset(_articles(2), anns)))
    # politics: (yes, yes) on a1, (no, no) on a2 → p_o 1, p_e (1·1 + 1·1)/4 = 1/2 → kappa 1.
    # economy: (no, yes) on a1, (yes, yes) on a2 → p_o 1/2; ann-1 yes 1 no 1, ann-2 yes 2 → p_e 2/4 → kappa 0.
    assert got == {("topics", "cohen-kappa", "politics"): pytest.approx(1.0),
                   ("topics", "cohen-kappa", "economy"): pytest.approx(0.0)}


def test_relation_f1_by_hand(make_dataset):
    def rel(ann_id: str, head: str, tail: str, who: str) -> dict:
        return {"id": ann_id, "article_id": "a1", "layer": "attribution", "label": "said_by", "head": head,
                "tail": tail, "annotator": who}

    anns = [span("e1", "PERSON", "Alice Moreau", annotator="ann-1"), span("e2", "ORG", "ACME", annotator="ann-1"),
            rel("r1", "e1", "e2", "ann-1"),
            span("f1", "PERSON", "Alice Moreau", annotator="ann-2"), span("f2", "ORG", "ACME", annotator="ann-2"),
            rel("r2", "f1", "f2", "ann-2"), rel("r3", "f2", "f1", "ann-2")]
    got = _figures(validate(make_dataset(_articles(1), anns)))
    # r1 and r2 join the same spans the same way; r3 is reversed. 1 shared of 1 and 2 → 2·1/(1+2) = 2/3.
    assert got[("attribution", "f1-relation", None)] == pytest.approx(2 / 3)
    assert got[("attribution", "f1-relation", "said_by")] == pytest.approx(2 / 3)


def test_pure_functions_at_their_edges():
    assert f1_from_counts(0, 0, 0, 0) is None and f1_from_counts(0, 2, 0, 0) == 0.0
    assert cohen_kappa([]) is None and cohen_kappa([("x", "x"), ("x", "x")]) is None  # p_e = 1
    assert krippendorff_alpha([Counter(x=2), Counter(x=3)]) is None  # one label in all the data
    # Spans touching end to start do not overlap; a wider span of another label does not count.
    assert overlap_matches_by_label([(("text", 0, 5), "A")], [(("text", 5, 9), "A"), (("text", 0, 9), "B")]) == {}
    # [4, 6) is inside [0, 9), found though the span starting just before it, [1, 2), ends earlier;
    # the same offsets in the title are another field.
    assert overlap_matches_by_label([(("text", 4, 6), "A"), (("title", 4, 6), "A")],
                                    [(("text", 0, 9), "A"), (("text", 1, 2), "A")]) == {"A": 1}


def test_report_json_and_validate_prints_a_table(make_dataset, tmp_path):
    root = make_dataset(_articles(3), SPANS)
    result = CliRunner().invoke(app, ["validate", str(root), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert "Annotator agreement" in result.output and "f1-overlap" in result.output
    rows = json.loads((tmp_path / "r.json").read_text())["agreement"]
    assert {"layer": "entities", "measure": "f1-exact", "label": None, "value": 0.5, "annotators": 3,
            "articles": 2} in rows


def test_no_agreement_without_two_people(make_dataset):
    one_person = [span("e1", "ORG", "ACME", annotator="ann-1"), span("e2", "ORG", "ACME", annotator="model:x"),
                  span("e3", "ORG", "ACME")]
    assert validate(make_dataset(_articles(1), one_person)).agreement == []


# -- the set-based counts equal the careful ones, one article at a time ---------------------------------

PHRASES = ["Alice Moreau", "Alice", "Moreau met", "ACME", "Łódź 😊", "Monday", "no"]
PEOPLE = st.sampled_from(["ann-1", "ann-2", "ann-3", "model:ner", None])


def _item(i: int, article_id: str, layer: str, label: str, who: str | None, phrase: str, shift: int) -> dict:
    start = TEXT.index(phrase) + shift
    record = {"id": f"n{i}", "article_id": article_id, "layer": layer, "label": label, "start": start,
              "end": start + len(phrase)}
    return record if who is None else {**record, "annotator": who}


@st.composite
def shared_annotations(draw: st.DrawFn) -> list[dict]:
    """Spans (many stacked and overlapping), labels and relations by a few people on three articles."""
    records: list[dict] = []
    for i in range(draw(st.integers(0, 40))):
        article_id = draw(st.sampled_from(["a1", "a1", "a2", "a3"]))
        who = draw(PEOPLE)
        kind = draw(st.sampled_from(["span"] * 4 + ["copy"] * 2 + ["genre", "topics", "relation"]))
        if kind == "copy":  # the same item again, by someone (maybe the same person: a multiset)
            if records:
                record = {k: v for k, v in draw(st.sampled_from(records)).items() if k != "annotator"}
                records.append({**record, "id": f"n{i}", **({} if who is None else {"annotator": who})})
        elif kind == "span":
            layer = draw(st.sampled_from(["entities", "persuasion"]))
            label = draw(st.sampled_from(["PERSON", "ORG"] if layer == "entities" else ["Doubt", "Loaded_Language"]))
            records.append(_item(i, article_id, layer, label, who, draw(st.sampled_from(PHRASES)),
                                 draw(st.sampled_from([0, 0, 1]))))  # "Alice" + 1 = [1, 6) touches [6, 16)
        elif kind == "relation":
            spans = [r["id"] for r in records if r["article_id"] == article_id and "start" in r]
            if spans:
                record = {"id": f"n{i}", "article_id": article_id, "layer": "attribution", "label": "said_by",
                          "head": draw(st.sampled_from(spans)), "tail": draw(st.sampled_from(spans))}
                records.append(record if who is None else {**record, "annotator": who})
        else:
            labels = ["reporting", "opinion"] if kind == "genre" else ["politics", "economy"]
            record = {"id": f"n{i}", "article_id": article_id, "layer": kind, "label": draw(st.sampled_from(labels))}
            records.append(record if who is None else {**record, "annotator": who})
    return records


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shared_annotations())
def test_set_based_counts_equal_the_careful_ones(make_dataset, annotations):
    manifest = load_manifest(make_dataset(_articles(3), annotations))
    with StagingStore() as store:
        run_validation(manifest, store, InProcess())  # records in conflict are rejected: agreement reads the rest
        fast = measure_agreement(store, manifest.layers)
        careful = measure_agreement(store, manifest.layers, careful=True)
    assert fast == careful


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shared_annotations(), st.integers(2, 4))
def test_agreement_added_up_over_partitions_equals_the_careful_one(make_dataset, annotations, partitions):
    # The articles fall in different partitions: a layer's annotators are only known in all after
    # the partitions are added up (kappa or alpha), and alpha's units come from several of them.
    manifest = load_manifest(make_dataset(_articles(3), annotations))
    with pytest.MonkeyPatch.context() as patch, StagingStore() as store:
        patch.setattr(driver, "partition_count", lambda input_bytes, nodes: partitions)
        report = run_validation(manifest, store, InProcess())
        assert store.partitions == partitions
        careful = measure_agreement(store, manifest.layers, careful=True)
    assert report.agreement == careful


@pytest.mark.parametrize("partitions", [2, 3])
def test_kappa_and_alpha_over_partitions_as_in_one_store(make_dataset, partitions):
    # Three people on the genre and topics layers, two per article: alpha, with units from every
    # partition; "entities" by two people in all: kappa-free F1 added up.
    pairs = {"a1": ("ann-1", "ann-2"), "a2": ("ann-2", "ann-3"), "a3": ("ann-1", "ann-3"), "a4": ("ann-3", "ann-1")}
    genres = ["reporting", "opinion", "opinion", "opinion", "reporting", "reporting", "reporting", "opinion"]
    topics = ["politics", "politics", "economy", "politics", "economy", "economy", "politics", "economy"]
    annotations, n = [], 0
    for article_id, people in pairs.items():
        for who in people:
            annotations.append(_genre(f"g{n}", article_id, genres[n], who))
            annotations.append(_genre(f"t{n}", article_id, topics[n], who, "topics"))
            n += 1
    manifest = load_manifest(make_dataset(_articles(4), annotations))
    with StagingStore() as store:
        run_validation(manifest, store, InProcess())
        whole = measure_agreement(store, manifest.layers)
    with pytest.MonkeyPatch.context() as patch, StagingStore() as store:
        patch.setattr(driver, "partition_count", lambda input_bytes, nodes: partitions)
        report = run_validation(manifest, store, InProcess())
        spread = {p for p in partition_of(pa.array(list(pairs)), partitions).tolist()}
    assert len(spread) > 1  # the articles are in different partitions
    assert report.agreement == whole
    assert {r.measure for r in whole} == {"krippendorff-alpha"} and all(r.value is not None for r in whole)


# -- real exports -------------------------------------------------------------------------------------


def test_label_studio_two_annotator_export(tmp_path):
    source = REALDATA / "label_studio_json" / "labic_ner_saude_two_annotators_tasks.json"
    if not source.exists():
        pytest.skip(f"{source} is not on this machine")
    import_dataset("labelstudio", [source], tmp_path / "ls")
    report = validate(tmp_path / "ls")
    assert report.ok
    got = {(r.measure, r.label): r for r in report.agreement}
    overall = got[("f1-exact", None)]
    assert (overall.annotators, overall.articles) == (2, 3)  # users 6 and 3 on the three clinical texts
    # Recount the exact matches from the imported lines, independently of the module: spans per
    # (article, annotator) as (start, end, label), intersected between the two annotators.
    lines = [json.loads(line) for line in (tmp_path / "ls" / "annotations.jsonl").read_text().splitlines()]
    spans: dict[tuple[str, str], Counter] = {}
    for ann in lines:
        spans.setdefault((ann["article_id"], ann["annotator"]), Counter())[(ann["start"], ann["end"], ann["label"])] += 1
    articles = {a for a, _ in spans}
    shared = sum(sum((spans[(a, "user-6")] & spans[(a, "user-3")]).values()) for a in articles)
    assert overall.value == pytest.approx(2 * shared / len(lines))  # every span is one of the two people's
    # The annotators' spans are sloppy ("eveu amoxicilina p", a leading space): they overlap far
    # more often than they match exactly.
    assert 0 <= overall.value < got[("f1-overlap", None)].value <= 1


def test_webanno_curation_files_of_two_users(tmp_path):
    folder = REALDATA / "webanno_tsv3" / "inception_curation_two_annotators"
    if not folder.exists():
        pytest.skip(f"{folder} is not on this machine")
    import_dataset("webanno", [folder / "user1.tsv", folder / "user2.tsv"], tmp_path / "wa")
    # The importer makes one article per file; both users annotated the same sentence, so their
    # annotations are put on one article, each under the user's name (the file's).
    root = tmp_path / "wa"
    articles = {a["id"]: a for a in map(json.loads, (root / "articles.jsonl").read_text().splitlines())}
    assert articles["user1"]["text"] == articles["user2"]["text"]
    (root / "articles.jsonl").write_text(json.dumps(articles["user1"]) + "\n")
    anns = [{**a, "annotator": a["article_id"], "article_id": "user1"}
            for a in map(json.loads, (root / "annotations.jsonl").read_text().splitlines())]
    (root / "annotations.jsonl").write_text("".join(json.dumps(a) + "\n" for a in anns))
    report = validate(root)
    assert report.ok, report.problems
    got = _figures(report)
    # user1 stacked ORG and ORGpart on "Champions League" [40, 56); user2 stacked ORG, ORG, ORGpart there.
    # Exact: 2 shared (ORG, ORGpart) of 2 and 3 → 2·2/5 = 0.8. Overlap: every span of either side
    # has a same-label span of the other → R = P = 1 → 1.0.
    assert got[("namedentity", "f1-exact", None)] == pytest.approx(0.8)
    assert got[("namedentity", "f1-overlap", None)] == pytest.approx(1.0)
    assert got[("namedentity", "f1-exact", "ORG")] == pytest.approx(2 / 3)  # 1 shared of 1 and 2


def test_the_card_states_the_builds_own_agreement(make_dataset, tmp_path):
    """The card's rows are the report's when the build holds every accepted record (measured once);
    under `duplicates: drop` the dropped copy is not accepted, so neither counts its annotations."""
    from toolkit.export import export

    texts = _articles(3)
    texts[2] = {**texts[2], "text": texts[0]["text"]}  # a3 copies a1's text
    labels = [("a1", "reporting", "reporting"), ("a2", "reporting", "opinion"), ("a3", "opinion", "reporting")]
    anns = [_genre(f"{a}-{who}", a, label, who) for a, *pair in labels
            for who, label in zip(("ann-1", "ann-2"), pair, strict=True)]
    kept = export(make_dataset(texts, anns), out_dir=tmp_path / "group")
    assert kept.stats.agreement == kept.report.agreement
    # a1 agree, a2 and a3 disagree: p_o = 1/3; ann-1 R 2, O 1; ann-2 R 2, O 1: p_e = (2·2 + 1·1)/9 = 5/9
    # → kappa = (1/3 - 5/9) / (1 - 5/9) = -0.5.
    assert _figures(kept.report) == {("genre", "cohen-kappa", None): pytest.approx(-0.5)}
    dropped = export(make_dataset(texts, anns, duplicates={"policy": "drop"}), out_dir=tmp_path / "drop")
    # The build keeps a1 and a2: p_o = 1/2; ann-1 R 2; ann-2 R 1, O 1: p_e = (2·1 + 0·1)/4 = 1/2 → kappa 0.
    assert [(r.measure, r.value, r.articles) for r in dropped.report.agreement] == [("cohen-kappa", 0.0, 2)]
    assert dropped.stats.agreement == dropped.report.agreement
    silver_free = export(make_dataset(texts, anns), out_dir=tmp_path / "human", annotators="human")
    assert silver_free.stats.agreement == kept.report.agreement  # measured again over the build: the same
