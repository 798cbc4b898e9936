"""`ner-<layer>` views (issue 11 item 1): tokens + tags + offsets give the source spans back, real imports included."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import datasets
import pyarrow as pa
import pytest
from conftest import SHARED, TEXT, article, span
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.export import export
from toolkit.export.ner import article_rows, batch_rows, is_good_example, tag_names
from toolkit.export.tokenize import BREAK, SPACE, WORD, _token_pattern, char_class, tokens_between
from toolkit.ingest import import_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REALDATA = SHARED / "realdata"


def decode(tags: list[int], offsets: list[list[int]], names: list[str]) -> list[tuple[int, int, str]]:
    """Spans from BIO or BIOES tags, written apart from the encoder so the test checks it."""
    spans: list[tuple[int, int, str]] = []
    current: list | None = None
    for (start, end), tag in zip(offsets, tags, strict=True):
        name = names[tag]
        if name == "O":
            current = None
            continue
        position, label = name.split("-", 1)
        if position in ("B", "S") or current is None or current[2] != label:
            current = [start, end, label]
            spans.append(current)
        else:
            current[1] = end
        if position in ("E", "S"):
            current = None
    return [tuple(s) for s in spans]


def trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    return start + lead, start + lead + len(piece.strip())


def load_rows(build: Path, config: str, cache: Path) -> list[dict]:
    loaded = datasets.load_dataset(str(build), config, cache_dir=str(cache))
    return [row for split in loaded.values() for row in split]


# --- the tokenizer ------------------------------------------------------------------------------

def test_tokens_are_words_or_single_symbols_and_never_cross_a_cut():
    text = "Dr. Łódź-based café, 😊 e\u0301t\u00e9 مرحبا\u200cبك"
    tokens = [text[s:e] for s, e in tokens_between(text, 0, len(text), [])]
    assert tokens == ["Dr", ".", "Łódź", "-", "based", "café", ",", "😊", "e\u0301t\u00e9", "مرحبا\u200cبك"]
    cut = text.index("based") + 2
    assert [text[s:e] for s, e in tokens_between(text, 0, len(text), [cut])][4:6] == ["ba", "sed"]


# --- the round trip, on random data -------------------------------------------------------------

ALPHABET = st.sampled_from(list("ab Zé\u0301 \n\n.,-’😊日本 \t") + ["\r\n", "  "])


@st.composite
def texts_with_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int, int]]]:
    text = "".join(draw(st.lists(ALPHABET, min_size=1, max_size=60)))
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=12)))
    spans = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if text[start:end].strip():
            spans.append((start, end, draw(st.integers(0, 2))))
    return text, spans


@pytest.mark.parametrize("tagging", ["BIO", "BIOES"])
@settings(max_examples=300, deadline=None)
@given(case=texts_with_spans())
def test_random_non_overlapping_spans_round_trip(tagging, case):
    text, spans = case
    labels = ("PER", "ORG", "LOC-X")  # a label with a dash: names split at the first dash only
    items = [{"start": s, "end": e, "label": lab, "field": "text", "annotator": None} for s, e, lab in spans]
    counts: Counter = Counter()
    rows = article_rows({"id": "a", "title": "T", "text": text}, items, tagging, counts)
    names = tag_names(labels, tagging)
    got = sorted(span for row in rows if row["field"] == "text"
                 for span in decode(row["ner_tags"], row["token_offsets"], names))
    assert got == sorted((*trimmed(text, s, e), labels[lab]) for s, e, lab in spans)
    fields = {"title": "T", "text": text}
    for row in rows:  # tokens are their field's code points at their offsets, never whitespace
        field = fields[row["field"]]
        assert row["tokens"] == [field[s:e] for s, e in row["token_offsets"]] and all(t.strip() for t in row["tokens"])
    assert counts["kept"] == len(spans) and counts["overlapping"] == 0


# --- what a view cannot hold, and the card says ---------------------------------------------------

def test_overlaps_annotators_and_whitespace_follow_the_documented_rules(make_dataset, tmp_path):
    loaded = "Monday.\n\nShe"
    annotations = [
        span("p1", "Loaded_Language", "Alice Moreau met", layer="persuasion", annotator="ann-1"),
        span("p2", "Doubt", "Moreau met ACME", layer="persuasion", annotator="ann-1"),  # overlaps p1: left out
        span("p3", "Doubt", " ACME in", layer="persuasion", annotator="ann-1"),  # leading space: trimmed
        span("p4", "Doubt", loaded, layer="persuasion", annotator="ann-1"),  # across a paragraph break
        span("p5", "Doubt", "Łódź", layer="persuasion", annotator="ann-2"),  # another annotator's part: kept
        span("p6", "Doubt", "Moreau met ACME", layer="persuasion", annotator="ann-2"),  # ann-1 read it first: out
        span("p7", "Doubt", "ACME in", layer="persuasion", annotator="ann-2"),  # the same span: a duplicate
        {"id": "t1", "article_id": "a1", "layer": "persuasion", "label": "Doubt", "start": 0, "end": 5,
         "field": "title", "text": "Alice", "annotator": "ann-1"},
    ]
    out = export(make_dataset([article()], annotations), format="hf", out_dir=tmp_path / "d").output
    rows = load_rows(out, "ner-persuasion", tmp_path / "c")
    names = datasets.load_dataset(str(out), "ner-persuasion", split="train", cache_dir=str(tmp_path / "c")) \
        .features["ner_tags"].feature.names
    got = {(row["field"], *span) for row in rows for span in decode(row["ner_tags"], row["token_offsets"], names)}
    start = TEXT.index(" ACME in") + 1
    lodz = TEXT.index("Łódź")
    assert got == {("title", 0, 5, "Doubt"), ("text", 0, 16, "Loaded_Language"),
                   ("text", start, start + len("ACME in"), "Doubt"), ("text", lodz, lodz + 4, "Doubt"),
                   ("text", TEXT.index(loaded), TEXT.index(loaded) + len(loaded), "Doubt")}
    # The break the span covers does not end the paragraph: one title row and one text row.
    assert [row["field"] for row in rows] == ["title", "text"]
    card = (out / "README.md").read_text(encoding="utf-8")
    section = card.split("### Config `ner-persuasion`", 1)[1].split("\n### ", 1)[0]
    assert "Of the layer's 8 spans, 5 are tagged; **3 could not be represented**" in section
    assert "| overlapping | 2 |" in section and "| duplicate | 1 |" in section
    assert "1 tagged spans had leading or trailing whitespace" in section


def test_bioes_is_chosen_in_the_manifest(make_dataset, tmp_path):
    annotations = [span("e1", "PERSON", "Alice Moreau"), span("e2", "ORG", "ACME")]
    root = make_dataset([article()], annotations, views={"tagging": "BIOES"})
    out = export(root, format="hf", out_dir=tmp_path / "d").output
    ds = datasets.load_dataset(str(out), "ner-entities", split="train", cache_dir=str(tmp_path / "c"))
    names = ds.features["ner_tags"].feature.names
    assert names[:5] == ["O", "B-PERSON", "I-PERSON", "E-PERSON", "S-PERSON"]
    text_row = next(row for row in ds if row["field"] == "text")
    assert [names[t] for t in text_row["ner_tags"][:5]] == ["B-PERSON", "E-PERSON", "O", "S-ORG", "O"]


# --- a real import, end to end ----------------------------------------------------------------------

def _source_spans(dataset: Path, layer: str) -> list[dict]:
    lines = (dataset / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    return [a for a in map(json.loads, lines) if a["layer"] == layer]


def _expected(dataset: Path, layer: str) -> set[tuple]:
    """The source spans a view can hold, by the rules the card states (written again here, independently)."""
    texts = {a["id"]: a for a in map(json.loads, (dataset / "articles.jsonl").read_text(encoding="utf-8").splitlines())}
    by_article: dict[str, list[dict]] = {}
    for ann in _source_spans(dataset, layer):
        by_article.setdefault(ann["article_id"], []).append(ann)
    expected = set()
    for article_id, anns in by_article.items():
        annotators = list(dict.fromkeys(a.get("annotator") for a in anns))  # in order of first appearance
        for field in ("title", "text"):
            text = texts[article_id][field]
            taken: list[tuple[int, int]] = []
            ranked = sorted(
                (annotators.index(a.get("annotator")), *trimmed(text, a["start"], a["end"]), i, a["label"])
                for i, a in enumerate(anns) if a.get("field", "text") == field and text[a["start"]:a["end"]].strip())
            for _rank, start, end, _i, label in sorted(ranked, key=lambda r: (r[0], r[1], -r[2], r[3])):
                if all(end <= s or start >= e for s, e in taken):
                    taken.append((start, end))
                    expected.add((article_id, field, start, end, label))
    return expected


@pytest.mark.parametrize(("tool", "folders", "layer", "exact"), [
    ("brat", ["brat_standoff/brat_tutorial_news", "brat_standoff/conll2002_esp"], "entities", True),
    ("webanno", ["webanno_tsv3"], "namedentity", False),
    ("labelstudio", ["label_studio_json"], "label", False),
])
def test_a_real_import_round_trips_through_the_ner_view(tmp_path, tool, folders, layer, exact):
    paths = [REALDATA / f for f in folders]
    if not all(p.exists() for p in paths):
        pytest.skip("../shared/realdata is not available")
    dataset = tmp_path / "ds"
    import_dataset(tool, paths, dataset, name=f"real-{tool}")
    out = export(dataset, format="hf", out_dir=tmp_path / "dist").output
    loaded = datasets.load_dataset(str(out), f"ner-{layer}", cache_dir=str(tmp_path / "c"))
    names = loaded[next(iter(loaded))].features["ner_tags"].feature.names
    got = {(row["article_id"], row["field"], *span) for split in loaded.values() for row in split
           for span in decode(row["ner_tags"], row["token_offsets"], names)}
    expected = _expected(dataset, layer)
    assert got == expected
    source = {(a["article_id"], a.get("field", "text"), a["start"], a["end"], a["label"])
              for a in _source_spans(dataset, layer)}
    if exact:  # brat: no overlap, no whitespace, one annotator — every entity span comes back exactly
        assert got == source and len(got) == len(_source_spans(dataset, layer)) == 118
    else:  # overlaps, several annotators, leading spaces: the card counts what the view left out
        card = (out / "README.md").read_text(encoding="utf-8")
        left_out = int(re.search(rf"### Config `ner-{layer}`.*?\*\*([\d,]+) could not be represented",
                                 card, re.S).group(1))
        assert len(_source_spans(dataset, layer)) - left_out == len(got) > 0


# --- the card's snippet and example, run against the build ------------------------------------------

def test_card_snippets_run_and_examples_are_rows_as_loaded(tmp_path):
    from conftest import EXAMPLE

    out = export(EXAMPLE, format="hf", out_dir=tmp_path / "d").output
    card = (out / "README.md").read_text(encoding="utf-8")
    sections = re.findall(r"### Config `((?:ner|relations|classify)-[\w-]+)` \(ready to train\)(.*?)(?=\n## |\n### |\Z)",
                          card, re.S)
    assert {c for c, _ in sections} >= {"ner-entities", "ner-persuasion", "relations-attribution", "classify-genre"}
    from toolkit.export.card import example_value

    for config, section in sections:
        snippet = re.search(r"```python\n(.*?)\n```", section, re.S).group(1)
        assert len(snippet.splitlines()) <= 5
        repo = re.search(r"load_dataset\(('[^']+')", snippet).group(1)
        code = snippet.replace(repo, repr(str(out))).replace(
            "split=", f"cache_dir={str(tmp_path / 'c')!r}, split=")
        exec(compile(code, f"<card {config}>", "exec"), {})  # noqa: S102 - the card's own snippet, against the build
        shown = json.loads(re.search(r"```json\n(.*?)\n```", section, re.S).group(1))
        split, index = re.search(r"Row (\d+) of split `(\w+)`", section).group(2, 1)
        row = datasets.load_dataset(str(out), config, split=split, cache_dir=str(tmp_path / "c"))[int(index)]
        assert shown == example_value(row)


# --- two spellings, one view: the batch path against the article-by-article one -------------------

SPAN_TYPE = pa.struct([("id", pa.string()), ("label", pa.int64()), ("start", pa.int64()), ("end", pa.int64()),
                       ("field", pa.string()), ("annotator", pa.string())])


@st.composite
def articles_with_any_spans(draw: st.DrawFn) -> dict:
    """An article with random title, text and spans: overlapping, blank, duplicated, several annotators."""
    title = "".join(draw(st.lists(ALPHABET, max_size=8)))
    text = "".join(draw(st.lists(ALPHABET, max_size=40)))
    items = []
    for i in range(draw(st.integers(0, 8))):
        field = draw(st.sampled_from(["title", "text", None, "subtitle"]))
        size = len(title if field == "title" else text)
        start = draw(st.integers(0, size))
        items.append({"id": f"s{i}", "label": draw(st.integers(0, 2)), "start": start,
                      "end": draw(st.integers(start, size)), "field": field,
                      "annotator": draw(st.sampled_from(["ann-1", "ann-2", None]))})
    return {"id": f"a{draw(st.integers(0, 99))}", "title": draw(st.sampled_from([title, None])), "text": text,
            "entities": items}


@pytest.mark.parametrize("tagging", ["BIO", "BIOES"])
@settings(max_examples=200, deadline=None)
@given(articles=st.lists(articles_with_any_spans(), min_size=1, max_size=4))
def test_the_batch_path_gives_the_article_by_article_rows_and_counts(tagging, articles):
    batch = pa.RecordBatch.from_pylist(articles, schema=pa.schema([
        ("id", pa.string()), ("title", pa.string()), ("text", pa.string()), ("entities", pa.list_(SPAN_TYPE))]))
    expected_counts: Counter = Counter()
    expected = [article_rows(a, a["entities"], tagging, expected_counts) for a in articles]
    counts: Counter = Counter()
    rows, per_article, good = batch_rows(batch, "entities", tagging, counts)
    flat = [dict(row, token_offsets=[tuple(o) for o in row["token_offsets"]]) for row in rows.to_pylist()]
    assert flat == [row for made in expected for row in made]
    assert per_article.tolist() == [len(made) for made in expected]
    assert good.tolist() == [is_good_example(row) for made in expected for row in made]
    assert counts == expected_counts and set(counts) == set(expected_counts)
    # The writer cuts row groups by `nbytes`: the Arrow rows weigh what `from_pylist` would build.
    assert rows.nbytes == pa.RecordBatch.from_pylist(rows.to_pylist(), schema=rows.schema).nbytes


def test_the_code_point_classes_are_the_regex_classes():
    sample = "a_9é\u0301\u200c\u200d \t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\u00a0\u3000.,😊日\u0488\u0903"
    word = re.compile(_token_pattern().pattern.removeprefix(r"(\s*)(").split("|")[0])  # the word alternative
    for char in sample:
        kind = char_class(char)
        assert (kind == WORD) == bool(word.fullmatch(char)), char
        assert (kind in (SPACE, BREAK)) == char.isspace(), char
        assert (kind == BREAK) == (char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), char
