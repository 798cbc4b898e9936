"""Property: for any mix of good and broken lines, read == valid + invalid and every invalid line is in the rejects."""

from __future__ import annotations

import json
import shutil

from conftest import TEXT, article, span
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit import validate

GOOD_ARTICLE = lambda i: json.dumps(article(id=f"a{i}"), ensure_ascii=False).encode()  # noqa: E731
BROKEN_ARTICLES = [
    b"not json at all",
    b"\xff\xfe garbage bytes",
    b'{"id": "x", "title": "T", "text": "\\udc00", "language": "en"}',
    b"[1, 2, 3]",
    b'{"id": "bad id!", "title": "T", "text": "x", "language": "en"}',
    b'{"title": "no id", "text": "x", "language": "en"}',
    b'{"id": "q", "title": "T", "text": "x", "language": "en", "published_at": "2021-02-31"}',
]


def good_annotation(i: int, article_index: int) -> bytes:
    phrase = ["Alice", "ACME", "Łódź"][i % 3]
    label = ["PERSON", "ORG", "LOC"][i % 3]
    return json.dumps(span(f"n{i}", label, phrase, layer="entities",
                           article_id=f"a{article_index}"), ensure_ascii=False).encode()


BROKEN_ANNOTATIONS = [
    b"{broken",
    b'{"id": "z", "article_id": "nope", "layer": "entities", "label": "ORG", "start": 0, "end": 1}',
    b'{"id": "z2", "article_id": "a0", "layer": "entities", "label": "ORG", "start": 0, "end": 99999}',
    b'{"id": "z3", "article_id": "a0", "layer": "entities", "label": "XX", "start": 0, "end": 1}',
    b'{"id": "z4", "article_id": "a0", "layer": "nolayer", "label": "ORG"}',
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    article_plan=st.lists(st.one_of(st.just(None), st.sampled_from(BROKEN_ARTICLES)), min_size=1, max_size=12),
    annotation_plan=st.lists(st.one_of(st.integers(0, 30), st.sampled_from(BROKEN_ANNOTATIONS)), max_size=15),
)
def test_counts_add_up_and_rejects_hold_every_invalid_line(make_dataset, tmp_path, article_plan, annotation_plan):
    articles = [GOOD_ARTICLE(i) if entry is None else entry for i, entry in enumerate(article_plan)]
    annotations = []
    for j, entry in enumerate(annotation_plan):
        annotations.append(good_annotation(j, entry % len(articles)) if isinstance(entry, int) else entry)
    root = make_dataset(articles, annotations)
    rejects = tmp_path / "rejects"
    shutil.rmtree(rejects, ignore_errors=True)
    report = validate(root, rejects_dir=rejects)

    arts, anns = report.counts["articles"], report.counts["annotations"]
    assert arts.read == len(articles) and anns.read == len(annotations)
    assert arts.read == arts.valid + arts.invalid and anns.read == anns.valid + anns.invalid
    assert report.ok == (arts.invalid == 0 and anns.invalid == 0)

    bad_lines = {(p.file, p.line) for p in report.problems}
    assert len([1 for f, _ in bad_lines if f == "articles.jsonl"]) == arts.invalid
    assert len([1 for f, _ in bad_lines if f == "annotations.jsonl"]) == anns.invalid
    for name, source in (("articles.jsonl", articles), ("annotations.jsonl", annotations)):
        numbers = sorted(line for f, line in bad_lines if f == name)
        rejected_file = rejects / f"{name}.rejects"
        if not numbers:
            assert not rejected_file.exists()
            continue
        rejected = rejected_file.read_bytes().split(b"\n")[:-1]
        # Byte for byte, in input order.
        assert rejected == [source[n - 1] for n in numbers]
        entries = [json.loads(x) for x in (rejects / f"{name}.problems.jsonl").read_text().splitlines()]
        assert [e["line"] for e in entries] == numbers
        assert all(e["problems"] for e in entries)


def test_good_only_corpus_is_clean(make_dataset):
    articles = [GOOD_ARTICLE(i) for i in range(3)]
    annotations = [good_annotation(j, j) for j in range(3)]
    assert validate(make_dataset(articles, annotations)).ok
    assert TEXT  # the phrases the generator uses are in the shared text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(1, 12)), max_size=40))
def test_interval_set_accepts_exactly_the_spans_that_overlap_no_earlier_one(spans):
    from toolkit.validation.cross import Intervals as _Intervals

    fast, kept = _Intervals(), []
    for start, length in spans:
        end = start + length
        expected = all(end <= s or e <= start for s, e in kept)
        assert (fast.overlapping(start, end) is None) == expected
        if expected:
            fast.add(start, end)
            kept.append((start, end))
    assert list(zip(fast.starts, fast.ends, strict=True)) == sorted(kept)
