"""One test per problem code: a record that triggers it, and a near-identical one that does not."""

from __future__ import annotations

import pytest
from conftest import TEXT, article, span

from toolkit import CODES, validate


def codes_by_line(report) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = {}
    for p in report.problems:
        found.setdefault((p.file, p.line), set()).add(p.code)
    return found


# Each case: code, (articles, annotations) that trigger it on the LAST line of the named file,
# and a near-identical pair that is entirely valid.
A1 = article()
CASES = {
    "invalid-encoding": (
        [b'{"id": "a1", "title": "T", "text": "caf\xe9", "language": "en"}'], None,
        [b'{"id": "a1", "title": "T", "text": "caf\xc3\xa9", "language": "en"}'], None,
    ),
    "invalid-json": ([b'{"id": "a1", "title": "T", "text": "x", "language": "en",}'], None,
                     [b'{"id": "a1", "title": "T", "text": "x", "language": "en"}'], None),
    "duplicate-key": ([b'{"id": "a1", "title": "T", "text": "x", "language": "en", "title": "U"}'], None,
                      [b'{"id": "a1", "title": "T", "text": "x:", "language": "en", "meta": {"title": "U"}}'], None),
    "schema": ([article(title="")], None, [article(title="T")], None),
    "invalid-date": ([article(published_at="2023-02-30T10:00:00Z")], None,
                     [article(published_at="2023-02-28T10:00:00Z")], None),
    "duplicate-id": ([A1, article(title="Again")], None, [A1, article(id="a2", title="Again")], None),
    "unknown-article": ([A1], [span("e1", "PERSON", "Alice", article_id="a9")],
                        [A1], [span("e1", "PERSON", "Alice")]),
    "invalid-article": ([article(title="")], [span("e1", "PERSON", "Alice")],
                        [A1], [span("e1", "PERSON", "Alice")]),
    "unknown-layer": ([A1], [span("e1", "PERSON", "Alice", layer="entity")], [A1], [span("e1", "PERSON", "Alice")]),
    "unknown-label": ([A1], [span("e1", "PERSN", "Alice")], [A1], [span("e1", "PERSON", "Alice")]),
    "missing-span": ([A1], [{"id": "e1", "article_id": "a1", "layer": "entities", "label": "ORG"}],
                     [A1], [span("e1", "ORG", "ACME")]),
    "unexpected-span": ([A1], [{"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion", "start": 0, "end": 3}],
                        [A1], [{"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion"}]),
    "span-out-of-bounds": ([A1], [dict(span("e1", "ORG", "ACME"), start=len(TEXT) - 1, end=len(TEXT) + 1, text=None)],
                           [A1], [dict(span("e1", "ORG", "ACME"))]),
    "span-text-mismatch": ([A1], [dict(span("e1", "LOC", "Łódź"), text="Lodz")], [A1], [span("e1", "LOC", "Łódź")]),
    "span-overlap": ([A1], [span("e1", "PERSON", "Alice Moreau"), span("e2", "PERSON", "Moreau met")],
                     [A1], [span("e1", "PERSON", "Alice Moreau"), span("e2", "ORG", "ACME")]),
    "conflicting-label": (
        [A1], [{"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion"},
               {"id": "g2", "article_id": "a1", "layer": "genre", "label": "reporting"}],
        [A1], [{"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion"},
               {"id": "t1", "article_id": "a1", "layer": "topics", "label": "politics"},
               {"id": "t2", "article_id": "a1", "layer": "topics", "label": "economy"}],
    ),
    "missing-reference": (
        [A1], [span("e1", "PERSON", "Alice"), {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e1"}],
        [A1], [span("e1", "PERSON", "Alice"), span("e2", "ORG", "ACME"),
               {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e1", "tail": "e2"}],
    ),
    "unknown-reference": (
        [A1], [span("e1", "PERSON", "Alice"),
               {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e1", "tail": "e2"},
               span("e2", "ORG", "ACME")],
        [A1], [span("e1", "PERSON", "Alice"), span("e2", "ORG", "ACME"),
               {"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by", "head": "e1", "tail": "e2"}],
    ),
    "blank-text": ([article(text=" \u200b\n\u2060\ufeff ")], None, [article(text=" \u200bx ")], None),
    "duplicate-text": ([A1, article(id="a2", text=" " + TEXT.replace(" ", " \u200b"))], None,
                       [A1, article(id="a2", text="A different story altogether, told in other words.")], None),
}
# Manifest keys a case needs (duplicate-text is only a problem when the curator asks for it).
MANIFESTS = {"duplicate-text": {"duplicates": {"policy": "reject"}}}


def _strip_none(rows):
    if rows is None:
        return None
    return [{k: v for k, v in r.items() if v is not None} if isinstance(r, dict) else r for r in rows]


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_triggers_and_near_miss_does_not(code, make_dataset, tmp_path):
    bad_articles, bad_annotations, good_articles, good_annotations = CASES[code]
    extra = MANIFESTS.get(code, {})
    report = validate(make_dataset(_strip_none(bad_articles), _strip_none(bad_annotations), **extra))
    assert code in report.problem_counts, report.problems
    assert not report.ok
    problem = next(p for p in report.problems if p.code == code)
    assert problem.message and problem.file.endswith(".jsonl") and problem.line >= 1

    ok = validate(make_dataset(_strip_none(good_articles), _strip_none(good_annotations), **extra))
    assert ok.ok, ok.problems
    assert ok.problem_counts == {}


def test_line_too_long_is_a_problem_and_kept(make_dataset, tmp_path):
    long_text = "x" * 5000
    root = make_dataset([article(), article(id="a2", text=long_text)])
    report = validate(root, max_line_bytes=1000, rejects_dir=tmp_path / "rej")
    assert [(p.line, p.code) for p in report.problems] == [(2, "line-too-long")]
    assert validate(root, max_line_bytes=10_000).ok
    rejected = (tmp_path / "rej" / "articles.jsonl.rejects").read_bytes()
    assert rejected.startswith(b'{"id": "a2"')


def test_lone_surrogate_is_invalid_encoding(make_dataset):
    report = validate(make_dataset([b'{"id": "a1", "title": "T", "text": "bad \\ud800 here", "language": "en"}']))
    assert [p.code for p in report.problems] == ["invalid-encoding"]
    assert "surrogate" in report.problems[0].message


def test_absurd_nesting_is_a_problem_not_a_crash(make_dataset):
    deep = b'{"id": "a1", "title": "T", "text": "x", "language": "en", "meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    report = validate(make_dataset([deep, article(id="a2")]))
    assert [p.code for p in report.problems] == ["invalid-json"]
    assert report.counts["articles"].valid == 1


def test_not_an_object_is_invalid_json(make_dataset):
    report = validate(make_dataset(["[1, 2]", '"text"', article()]))
    assert [(p.line, p.code) for p in report.problems] == [(1, "invalid-json"), (2, "invalid-json")]


def test_every_declared_code_has_a_test():
    tested = set(CASES) | {"line-too-long"}
    assert tested == set(CODES)


def test_span_in_title_and_astral_offsets(make_dataset):
    title = "Zoë 𝕏 Müller speaks"
    a = article(title=title)
    phrase = "Müller"
    start = title.index(phrase)
    ann = {"id": "e1", "article_id": "a1", "layer": "entities", "label": "PERSON", "field": "title",
           "start": start, "end": start + len(phrase), "text": phrase}
    assert validate(make_dataset([a], [ann])).ok
    # The same span counted in UTF-16 units (the astral 𝕏 counts 2) is caught, with a hint.
    shifted = dict(ann, start=start + 1, end=start + 1 + len(phrase))
    report = validate(make_dataset([a], [shifted]))
    assert report.problems[0].code == "span-text-mismatch"
    assert "another unit" in report.problems[0].message


def test_schema_message_names_keyword_and_field(make_dataset):
    report = validate(make_dataset([article(colour="red")]))
    p = report.problems[0]
    assert p.code == "schema" and "additionalProperties" in p.message and "colour" in p.message
    report = validate(make_dataset([article(url="ftp://x")]))
    assert report.problems[0].path == "/url" and "pattern" in report.problems[0].message


def test_embedded_and_separate_annotations_together(make_dataset):
    embedded = {"id": "g1", "layer": "genre", "label": "opinion"}
    root = make_dataset([article(annotations=[embedded, dict(span("e1", "PERSON", "Alice"), article_id=None)])],
                        [span("e2", "ORG", "ACME")])
    # article_id None is not allowed by the schema; drop it to make the embedded span legal.
    report = validate(root)
    assert not report.ok and report.problems[0].code == "schema"
    inner = span("e1", "PERSON", "Alice")
    del inner["article_id"]
    report = validate(make_dataset([article(annotations=[embedded, inner])],
                                   [span("e2", "ORG", "ACME"), span("e3", "PERSON", "Alice Moreau")]))
    # e3 overlaps the embedded e1 (entities forbid overlap): embedded annotations count as read first.
    assert [(p.record_id, p.code) for p in report.problems] == [("e3", "span-overlap")]
    assert report.counts["annotations"].read == 4 and report.counts["annotations"].valid == 3


def test_invalid_embedded_annotation_rejects_its_article_and_releases_its_ids(make_dataset):
    inner = span("e1", "PERSON", "Alice")
    del inner["article_id"]
    bad = span("e2", "NOPE", "ACME")
    del bad["article_id"]
    report = validate(make_dataset([article(annotations=[inner, bad])], [span("e1", "PERSON", "Alice")]))
    codes = [(p.record_id, p.code) for p in report.problems]
    # The article is rejected; its valid e1 does not claim the id, so the separate e1 is
    # reported only as pointing at a rejected article.
    assert codes == [("e2", "unknown-label"), ("e1", "invalid-article")]
    assert report.counts["articles"].invalid == 1
    assert report.counts["annotations"].read == 3 and report.counts["annotations"].invalid == 3


def test_a_moment_no_utc_timestamp_can_hold_is_an_invalid_date_not_an_export_crash(make_dataset, tmp_path):
    from toolkit.export import export

    root = make_dataset([article(published_at="0001-01-01T00:00:00+01:00"),
                         article(id="a2", updated_at="0001-01-01T01:00:00+01:00")])
    report = validate(root)
    assert [(p.line, p.code, p.path) for p in report.problems] == [(1, "invalid-date", "/published_at")]
    result = export(root, out_dir=tmp_path / "dist", skip_invalid=True)
    assert result.output is not None and result.report.counts["articles"].valid == 1
