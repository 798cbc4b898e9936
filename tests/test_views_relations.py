"""`relations-<layer>` views (issue 11 item 1): one row per relation, both ends inlined, and their context."""

from __future__ import annotations

import os

import datasets
import mlcroissant as mlc
from conftest import TEXT, article, span

from toolkit.export import export

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def relation(rel_id: str, head: str, tail: str, label: str = "said_by") -> dict:
    return {"id": rel_id, "article_id": "a1", "layer": "attribution", "label": label, "head": head, "tail": tail}


def test_relations_inline_both_ends_and_give_the_paragraph_or_the_field(make_dataset, tmp_path):
    annotations = [
        span("e1", "PERSON", "Alice Moreau"), span("e2", "ORG", "ACME"),
        span("p1", "Doubt", "no", layer="persuasion"),  # in the second paragraph
        relation("r1", "e1", "e2"), relation("r2", "p1", "e1"),
    ]
    out = export(make_dataset([article()], annotations), format="hf", out_dir=tmp_path / "d").output
    ds = datasets.load_dataset(str(out), "relations-attribution", split="train", cache_dir=str(tmp_path / "c"))
    assert ds.features["label"].names == ["said_by"]
    first, second = ds[0], ds[1]
    start = TEXT.index("Alice Moreau")
    assert first["head"] == {"id": "e1", "layer": "entities", "label": "PERSON", "field": "text",
                             "start": start, "end": start + 12, "text": "Alice Moreau"}
    assert first["tail"]["text"] == "ACME" and first["tail"]["layer"] == "entities"
    paragraph = TEXT.split("\n\n")[0]
    assert (first["context"], first["context_start"], first["context_scope"]) == (paragraph, 0, "paragraph")
    for end in ("head", "tail"):  # an end's offsets, shifted by context_start, point into the context
        e = first[end]
        assert first["context"][e["start"] - first["context_start"]:e["end"] - first["context_start"]] == e["text"]
    assert (second["context"], second["context_start"], second["context_scope"]) == (TEXT, 0, "field")
    assert second["head"]["layer"] == "persuasion" and second["context_field"] == "text"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "both spans (1 rows, `context_scope: \"paragraph\"`), else the whole field (1 rows" in card


def test_a_paragraph_after_the_first_is_found_with_its_offset(make_dataset, tmp_path):
    text = "First line.\n\nBob Stone said ACME lied.\nThird line."
    record = article(text=text)
    ends = [{"id": i, "article_id": "a1", "layer": "entities", "label": lab, "start": text.index(p),
             "end": text.index(p) + len(p), "text": p} for i, lab, p in (("e1", "PERSON", "Bob Stone"),
                                                                         ("e2", "ORG", "ACME"))]
    out = export(make_dataset([record], [*ends, relation("r1", "e1", "e2")]), format="hf",
                 out_dir=tmp_path / "d").output
    row = datasets.load_dataset(str(out), "relations-attribution", split="train", cache_dir=str(tmp_path / "c"))[0]
    assert (row["context"], row["context_start"], row["context_scope"]) == (
        "Bob Stone said ACME lied.", text.index("Bob"), "paragraph")


def test_mlcroissant_reads_the_relations_view(make_dataset, tmp_path):
    annotations = [span("e1", "PERSON", "Alice Moreau"), span("e2", "ORG", "ACME"), relation("r1", "e1", "e2")]
    out = export(make_dataset([article()], annotations), format="hf", out_dir=tmp_path / "d").output
    records = list(mlc.Dataset(jsonld=out / "croissant.json").records("relations-attribution"))
    assert len(records) == 1
    head = records[0]["relations-attribution/head"]
    assert head["relations-attribution/head/text"] == b"Alice Moreau"
    assert records[0]["relations-attribution/label"] == 0
    names = list(mlc.Dataset(jsonld=out / "croissant.json").records("labels/relations-attribution.label"))
    assert [n["labels/relations-attribution.label/name"] for n in names] == ["said_by"]
