"""Annotation batches checked as Arrow columns agree with the per-line checks, line for line.

The columnar spelling may leave a line undecided (not `ok`) that the per-line spelling passes —
the resolver then judges it — but it may never pass a line the per-line spelling does not, and
for the lines it passes every staged value must be the same.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from conftest import LAYERS, REPO, TEXT, span

from toolkit.manifest import _layer
from toolkit.validation.columnar import annotation_batch, line_schema
from toolkit.validation.records import stage_annotation_lines

LAYER_OBJECTS = {name: _layer(name, spec) for name, spec in LAYERS.items()}
GOOD = span("e1", "PERSON", "Alice")


def _line(**changes: object) -> bytes:
    record = dict(GOOD)
    for key, value in changes.items():
        if value is _DROP:
            record.pop(key, None)
        else:
            record[key] = value
    return json.dumps(record, ensure_ascii=False).encode()


_DROP = object()

# Lines that must each be judged the same way (or left undecided) by both spellings.
VARIANTS: dict[str, bytes] = {
    "valid span": _line(),
    "valid title span": _line(field="title", start=0, end=5, text="Alice"),
    "valid document label": json.dumps({"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion"}).encode(),
    "valid relation": json.dumps({"id": "r1", "article_id": "a1", "layer": "attribution", "label": "said_by",
                                  "head": "e1", "tail": "e2"}).encode(),
    "valid with dates and confidence": _line(created_at="2019-04-12T00:14:02.5+02:00", confidence=0.5,
                                             annotator="model:x"),
    "escaped text": _line(text="Alice", id="e\u00e9".encode("ascii", "ignore").decode() + "9"),
    "null value": _line(annotator=None),
    "null required": _line(label=None),
    "undeclared key": _line(colour="red"),
    "attributes object": _line(attributes={"source": "x"}),
    "missing id": _line(id=_DROP),
    "missing article_id": _line(article_id=_DROP),
    "bad id pattern": _line(id="-e1"),
    "id with a newline": _line(id="e1\n"),
    "unknown label": _line(label="PERSN"),
    "unknown layer": _line(layer="entity"),
    "empty label": _line(label=""),
    "offsets on a document layer": json.dumps({"id": "g1", "article_id": "a1", "layer": "genre", "label": "opinion",
                                                "start": 0, "end": 3}).encode(),
    "span without end": _line(end=_DROP),
    "span without offsets": _line(start=_DROP, end=_DROP),
    "relation without tail": json.dumps({"id": "r1", "article_id": "a1", "layer": "attribution",
                                         "label": "said_by", "head": "e1"}).encode(),
    "negative start": _line(start=-1),
    "confidence above 1": _line(confidence=1.5),
    "confidence as integer": _line(confidence=1),
    "field not in enum": _line(field="body"),
    "impossible date": _line(created_at="2019-02-30T00:00:00Z"),
    "leap second": _line(created_at="2016-12-31T23:59:60Z"),
    "lower-case t": _line(created_at="2019-04-12t00:14:02z"),
    "before year 1 in UTC": _line(created_at="0001-01-01T00:00:00+01:00"),
    "date without zone": _line(created_at="2019-04-12T00:14:02"),
    "nine fraction digits": _line(created_at="2019-04-12T00:14:02.123456789Z"),
    "float offset": _line().replace(b'"start": 0', b'"start": 0.0'),
    "huge offset": _line().replace(b'"start": 0', b'"start": 100000000000000000000000'),
    "duplicate key": _line()[:-1] + b', "label": "ORG"}',
    "NaN": _line()[:-1] + b', "confidence": NaN}',
    "not an object": b"[1, 2]",
    "two objects": _line() + _line(),
    "lone surrogate": _line().replace(b'"Alice"', b'"\\ud800"', 1),
    "surrogate pair": json.dumps(dict(GOOD, annotator="\U0001f600")).encode(),
    "not UTF-8": _line().replace(b"Alice", b"Al\xffce"),
    "string offset": _line().replace(b'"start": 0', b'"start": "0"'),
}


def _both(lines: list[bytes]) -> tuple[pa.RecordBatch | None, pa.RecordBatch]:
    keyed = [(i + 1, data, False) for i, data in enumerate(lines)]
    return annotation_batch(keyed, LAYER_OBJECTS), stage_annotation_lines(keyed, LAYER_OBJECTS)


def _agree(columnar: pa.RecordBatch, per_line: pa.RecordBatch) -> None:
    for i in range(per_line.num_rows):
        c = {name: columnar.column(name)[i].as_py() for name in columnar.schema.names}
        p = {name: per_line.column(name)[i].as_py() for name in per_line.schema.names}
        if c["ok"]:
            assert p["ok"], f"columnar passes what the per-line check does not: {p['data']!r}"
            assert c == p
        else:
            assert {k: c[k] for k in ("k", "id", "article_id", "head", "tail", "data", "too_long")} == {
                k: p[k] for k in ("k", "id", "article_id", "head", "tail", "data", "too_long")}
            assert all(c[k] is None for k in ("layer", "kind", "start", "end", "field", "quoted"))


def test_the_schema_is_in_the_shape_the_columnar_path_reads():
    assert line_schema() is not None  # else every batch silently takes the slow path


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_is_judged_as_the_per_line_checks_do(name):
    lines = [_line(id=f"v{i}") for i in range(3)] + [VARIANTS[name]] + [_line(id="v9")]
    columnar, per_line = _both(lines)
    if columnar is None:  # Arrow refused the batch: the per-line spelling runs, nothing to compare
        return
    _agree(columnar, per_line)


def test_clean_batches_are_decided_here_not_left_to_the_resolver():
    valid = [name for name in VARIANTS if name.startswith("valid")]
    columnar, per_line = _both([VARIANTS[name] for name in valid])
    assert columnar is not None
    assert columnar.column("ok").to_pylist() == [True] * len(valid)
    assert columnar.equals(per_line)


def test_a_generated_corpus_is_staged_identically(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from generate import generate

    from toolkit.manifest import load_manifest

    generate(tmp_path, 300, seed=3)
    manifest = load_manifest(tmp_path)
    lines = [line for line in (tmp_path / "annotations.jsonl").read_bytes().split(b"\n") if line]
    keyed = [(i + 1, data, False) for i, data in enumerate(lines)]
    columnar = annotation_batch(keyed, manifest.layers)
    assert columnar is not None
    assert columnar.equals(stage_annotation_lines(keyed, manifest.layers))
    assert columnar.column("ok").true_count == len(lines)


def test_title_spans_and_quoted_text_are_staged(tmp_path):
    line = _line(field="title", start=0, end=5, text="Alice")
    columnar, _ = _both([line])
    assert columnar is not None
    row = columnar.to_pylist()[0]
    assert (row["field"], row["start"], row["end"], row["quoted"], row["kind"]) == ("title", 0, 5, "Alice", 1)
    assert TEXT.startswith("Alice")


@pytest.mark.parametrize("line", [
    _line()[:-1] + b', "confidence": Infinity}',
    _line()[:-1] + b', "confidence": -Inf}',
    _line()[:-1] + b', "extra": NaN}',
    b"\xef\xbb\xbf" + _line(),
    _line().replace(b"Alice", b"Al\xffce"),
])
def test_what_arrow_reads_but_json_does_not_takes_the_per_line_path(line):
    columnar, _ = _both([_line(id="v1"), line])
    assert columnar is None


def test_a_range_arrow_refuses_is_checked_in_pieces_then_line_by_line(tmp_path, monkeypatch):
    """`records.stage_range` reads an annotation range as columns; one line Arrow refuses sends its
    piece (here of 3 lines) to the per-line spelling, and the other pieces stay columnar. Blank lines,
    CRLF endings and a BOM on line 1 are cleaned as the streaming reader cleans them."""
    import toolkit.validation.records as records
    from toolkit.readers import plan_ranges
    from toolkit.validation.records import StageContext, stage_range

    good = [_line(id=f"v{i}") for i in range(10)]
    broken = good[:4] + [b'{"id": "v4", "id": "twice"}'] + good[5:]
    body = b"\xef\xbb\xbf" + b"\n".join(broken[:3]) + b"\r\n\n  \n" + b"\n".join(broken[3:])
    path = tmp_path / "annotations.jsonl"
    path.write_bytes(body)
    context = StageContext("annotation", LAYER_OBJECTS, 1 << 20, 1)
    monkeypatch.setattr(records, "BATCH_LINES", 3)
    staged = [stage_range(context, r).tables["ann"] for r in plan_ranges(path)]
    got = pa.Table.from_batches(staged)
    numbers = [1, 2, 3, 6, 7, 8, 9, 10, 11, 12]
    keyed = [((1 << records.LINE_BITS) | n, line, False) for n, line in zip(numbers, broken, strict=True)]
    assert got.column("k").to_pylist() == [k for k, _, _ in keyed]
    assert got.column("data").to_pylist() == broken  # BOM, CR, blank lines gone; the bytes as checked
    reference = pa.Table.from_batches([stage_annotation_lines(keyed, LAYER_OBJECTS)])
    assert got.column("ok").to_pylist() == reference.column("ok").to_pylist()
    assert got.column("ok").to_pylist().count(False) == 1
    monkeypatch.setattr(records, "COLUMNAR", False)  # the streaming path stages the same verdicts
    streamed = pa.Table.from_batches([stage_range(context, r).tables["ann"] for r in plan_ranges(path)])
    assert streamed.column("ok").to_pylist() == got.column("ok").to_pylist()
