"""brat standoff importer: real brat tutorial and CoNLL-2002 documents, synthetic edge cases."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
import yaml
from conftest import assert_toolkit_validates
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from toolkit.ingest import ImportOptions, brat
from toolkit.ingest.dataset_writer import write_dataset

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schema"
REALDATA = ROOT.parent / "shared" / "realdata"
REAL_BRAT = REALDATA / "brat_standoff"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "brat"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@pytest.fixture
def real_brat() -> Path:
    if not REAL_BRAT.is_dir():
        pytest.skip("shared/realdata/brat_standoff is not available")
    return REAL_BRAT


def _validators() -> tuple[Draft202012Validator, Draft202012Validator, Draft202012Validator]:
    schemas = {
        name: json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
        for name in ("article", "annotation", "dataset")
    }
    # The article schema $refs the annotation schema by URL: resolve it from disk, never the network.
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return tuple(
        Draft202012Validator(schemas[name], registry=registry)
        for name in ("article", "annotation", "dataset")
    )


def assert_valid_dataset(imported, out_dir: Path) -> tuple[dict, list[dict], list[dict]]:
    """Write the import as a dataset and check every record against the schemas and the data model."""
    manifest_path = write_dataset(imported, out_dir, "brat-import")
    article_validator, annotation_validator, dataset_validator = _validators()
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    assert not [e.message for e in dataset_validator.iter_errors(manifest)]
    articles = [orjson.loads(line) for line in (out_dir / "articles.jsonl").read_bytes().splitlines()]
    annotations = [orjson.loads(line) for line in (out_dir / "annotations.jsonl").read_bytes().splitlines()]
    for article in articles:
        assert not [e.message for e in article_validator.iter_errors(article)], article["id"]
    by_id = {article["id"]: article for article in articles}
    assert len(by_id) == len(articles), "article ids must be unique"
    assert len({a["id"] for a in annotations}) == len(annotations), "annotation ids must be unique"
    span_articles: dict[str, str] = {}
    for annotation in annotations:
        assert not [e.message for e in annotation_validator.iter_errors(annotation)], annotation["id"]
        assert ID_PATTERN.match(annotation["id"])
        layer = manifest["layers"][annotation["layer"]]
        assert annotation["label"] in layer["labels"]
        if layer["kind"] == "span":
            text = by_id[annotation["article_id"]][annotation.get("field", "text")]
            assert 0 <= annotation["start"] < annotation["end"] <= len(text)
            assert text[annotation["start"] : annotation["end"]] == annotation["text"]
            span_articles[annotation["id"]] = annotation["article_id"]
    for annotation in annotations:
        if manifest["layers"][annotation["layer"]]["kind"] == "relation":
            # Spans come first in the file, so a streaming validator has seen both ends.
            assert span_articles[annotation["head"]] == annotation["article_id"]
            assert span_articles[annotation["tail"]] == annotation["article_id"]
    assert_toolkit_validates(out_dir)
    return manifest, articles, annotations



def _by_article(imported) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {article["id"]: [] for article in imported.articles}
    for annotation in imported.annotations:
        grouped[annotation["article_id"]].append(annotation)
    return grouped


def _where(imported) -> set[tuple[str, int | None]]:
    return {(Path(problem.file).name, problem.line) for problem in imported.problems}


# --- real data -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "spans", "relations"),
    [
        ("060-relation_annotation", 10, 1),
        ("080-event-annotation", 21, 0),
        ("100-attribute_annotation", 26, 0),
        ("110-note_annotation", 14, 2),
    ],
)
def test_real_tutorial_documents(real_brat: Path, stem: str, spans: int, relations: int) -> None:
    folder = real_brat / "brat_tutorial_news"
    imported = brat.read([folder / f"{stem}.ann"], ImportOptions(language="en"))
    assert imported.problems == []
    [article] = imported.articles
    assert article["id"] == stem
    assert article["text"] == (folder / f"{stem}.txt").read_bytes().decode("utf-8")
    assert article["language"] == "en"
    layers = [annotation["layer"] for annotation in imported.annotations]
    assert layers.count("entities") == spans
    assert layers.count("relations") == relations


def test_real_tutorial_folder_skips_and_attributes(real_brat: Path) -> None:
    imported = brat.read([real_brat / "brat_tutorial_news"], ImportOptions())
    assert imported.problems == []  # every type is declared in the folder's annotation.conf
    assert imported.skipped == {
        "brat equivalence": 1,  # `*  Alias T3 T4 T5`
        "brat event": 16,
        "brat attribute on an event": 5,  # Confidence on E1..E5; only A4 targets an entity
        "brat note on an event": 1,
    }
    titles = [article["title"] for article in imported.articles]
    assert titles == ["Relation annotation", "Event annotation", "Attribute annotation", "Annotation notes"]
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    assert by_id["100-attribute_annotation-T1"]["attributes"] == {"Individual": True}
    assert by_id["110-note_annotation-T1"]["attributes"] == {"note": "Should fictional places be annotated?"}
    relation = by_id["110-note_annotation-R1"]
    assert (relation["label"], relation["head"], relation["tail"]) == (
        "Family",
        "110-note_annotation-T6",
        "110-note_annotation-T7",
    )
    assert relation["attributes"]["note"].startswith("Should this be marked?")
    # Event triggers are T lines too: imported as entities, flagged so they can be filtered out.
    assert by_id["080-event-annotation-T2"]["attributes"] == {"event_trigger": True}
    assert imported.labels["relations"] == ["Located", "Family"]


def test_real_conll2002_spanish(real_brat: Path) -> None:
    imported = brat.read([real_brat / "conll2002_esp"], ImportOptions(language="es"))
    assert imported.problems == []
    assert imported.skipped == {}
    counts = {key: len(value) for key, value in _by_article(imported).items()}
    assert counts == {"esp.train-doc-29": 13, "esp.train-doc-989": 34}
    texts = {annotation["text"] for annotation in imported.annotations}
    # Accented names sit after other accented characters: byte offsets would miss them.
    assert {"Nobel de Literatura Camilo José Cela", "María Antonia Sánchez Lorenzo", "Gala León"} <= texts
    assert imported.labels == {"entities": ["PER", "LOC", "ORG", "MISC"]}


def test_real_brat_folder_imports_and_validates(real_brat: Path, tmp_path: Path) -> None:
    imported = brat.read([real_brat], ImportOptions(language="en"))
    assert imported.problems == []
    assert len(imported.articles) == 6
    assert len(imported.annotations) == 74 + 47
    manifest, articles, annotations = assert_valid_dataset(imported, tmp_path / "ds")
    assert manifest["layers"]["entities"]["kind"] == "span"
    assert manifest["layers"]["relations"]["kind"] == "relation"
    assert len(articles) == 6 and len(annotations) == 121


# --- synthetic cases -------------------------------------------------------------------------


def test_astral_characters_before_spans_give_code_point_offsets() -> None:
    imported = brat.read([FIXTURES / "synthetic"], ImportOptions())
    article = next(a for a in imported.articles if a["id"] == "astral")
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    # 😀, 𝕏 and 🚀 come before these spans; each is one code point (two UTF-16 units).
    assert (by_id["astral-T1"]["start"], by_id["astral-T1"]["end"], by_id["astral-T1"]["text"]) == (
        38,
        42,
        "NASA",
    )
    assert (by_id["astral-T3"]["start"], by_id["astral-T3"]["end"], by_id["astral-T3"]["text"]) == (
        61,
        67,
        "Zürich",
    )
    assert by_id["astral-T4"]["text"] == "🚀 rocket"
    for annotation in imported.annotations:
        if "start" in annotation:
            assert article["text"][annotation["start"] : annotation["end"]] == annotation["text"]


def test_discontinuous_span_becomes_linked_fragments() -> None:
    imported = brat.read([FIXTURES / "synthetic"], ImportOptions())
    fragments = [a for a in imported.annotations if a["label"] == "Vehicle"]
    assert [(f["id"], f["start"], f["end"], f["text"]) for f in fragments] == [
        ("astral-T5", 20, 23, "The"),
        ("astral-T5-f1", 26, 32, "rocket"),
    ]
    assert [f["attributes"]["fragment_of"] for f in fragments] == ["astral-T5", "astral-T5"]
    assert [f["attributes"]["fragment"] for f in fragments] == [0, 1]
    # An attribute of the whole (discontinuous) entity is on every fragment.
    assert [f["attributes"]["Confidence"] for f in fragments] == ["Low", "Low"]


def test_attributes_notes_relations_and_skips() -> None:
    imported = brat.read([FIXTURES / "synthetic"], ImportOptions())
    assert imported.problems == []
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    assert by_id["astral-T1"]["attributes"] == {"Negated": True}
    assert by_id["astral-T2"]["attributes"] == {"Confidence": "High"}
    assert by_id["astral-T3"]["attributes"] == {"note": "City name with an umlaut"}
    assert by_id["astral-R1"] == {
        "id": "astral-R1",
        "article_id": "astral",
        "layer": "relations",
        "label": "Partner",
        "head": "astral-T1",
        "tail": "astral-T2",
        "attributes": {"note": "Check the partnership"},
    }
    assert imported.skipped == {
        "brat event": 1,
        "brat attribute on an event": 1,
        "brat equivalence": 1,
        "brat normalization": 1,
    }
    assert imported.layers == {"entities": "span", "relations": "relation"}
    assert imported.labels["entities"] == ["Organization", "Location", "Launch", "Vehicle"]


def test_txt_without_ann_is_an_article_without_annotations() -> None:
    imported = brat.read([FIXTURES / "synthetic" / "plain.txt"], ImportOptions())
    assert imported.problems == []
    assert imported.annotations == []
    [article] = imported.articles
    assert article["id"] == "plain"
    assert article["title"] == "A text without annotations"
    assert article["text"] == (FIXTURES / "synthetic" / "plain.txt").read_text(encoding="utf-8")


def test_synthetic_import_validates(tmp_path: Path) -> None:
    imported = brat.read([FIXTURES / "synthetic", FIXTURES / "conf"], ImportOptions(language="en"))
    assert_valid_dataset(imported, tmp_path / "ds")


def test_broken_lines_are_reported_and_the_rest_imported() -> None:
    imported = brat.read([FIXTURES / "broken"], ImportOptions())
    assert _where(imported) == {
        ("lines.ann", 2),  # offsets `30 x`
        ("lines.ann", 3),  # covered text `Bobby` is not the text `Bob`
        ("lines.ann", 4),  # span past the end of the text
        ("lines.ann", 5),  # empty span
        ("lines.ann", 6),  # unknown line type X1
        ("lines.ann", 7),  # relation to T99, which does not exist
        ("lines.ann", 8),  # relation arguments without roles
        ("lines.ann", 9),  # attribute on T42, which does not exist
        ("lines.ann", 10),  # note without target
        ("lines.ann", 11),  # T1 a second time
        ("lines.ann", 14),  # attribute with two values
        ("lines.ann", 15),  # `T7` alone
        ("orphan.ann", None),  # no orphan.txt
        ("latin1.txt", 1),  # Latin-1, not UTF-8
        ("badann.ann", 2),  # the .ann is not UTF-8 on its line 2
    }
    lines = [p for p in imported.problems if Path(p.file).name == "lines.ann"]
    assert [p.line for p in lines] == sorted(p.line for p in lines)
    assert "Bobby" in next(p.message for p in lines if p.line == 3)
    kept = {annotation["id"]: annotation.get("text") for annotation in imported.annotations}
    assert kept == {"lines-T1": "Alice", "lines-T6": "Paris", "lines-R3": None}
    # The article of an unreadable .ann is still imported (its text is fine); latin1 is not.
    assert [article["id"] for article in imported.articles] == ["badann", "lines"]


def test_broken_input_still_gives_a_valid_dataset(tmp_path: Path) -> None:
    imported = brat.read([FIXTURES / "broken"], ImportOptions())
    assert_valid_dataset(imported, tmp_path / "ds")


def test_annotation_conf_cross_check() -> None:
    imported = brat.read([FIXTURES / "conf"], ImportOptions())
    assert _where(imported) == {("doc.ann", 3), ("doc.ann", 5)}
    messages = " ".join(problem.message for problem in imported.problems)
    assert "'Alien'" in messages and "'Hates'" in messages
    # A cross-check only: the undeclared types are still imported.
    assert [annotation["label"] for annotation in imported.annotations] == [
        "Person",
        "Person",
        "Alien",
        "Knows",
        "Hates",
    ]


def test_utf16_offsets_are_converted_when_asked() -> None:
    imported = brat.read([FIXTURES / "utf16"], ImportOptions(offset_unit="utf16"))
    assert imported.problems == []
    spans = [(a["start"], a["end"], a["text"]) for a in imported.annotations]
    assert spans == [(15, 21, "SpaceX"), (26, 27, "𝕏"), (35, 41, "Zürich")]


def test_utf16_offsets_read_as_code_points_are_caught() -> None:
    imported = brat.read([FIXTURES / "utf16"], ImportOptions())
    assert _where(imported) == {("emoji.ann", 1), ("emoji.ann", 2), ("emoji.ann", 3)}
    assert imported.annotations == []


def test_crlf_text_is_kept_and_offsets_count_carriage_returns(tmp_path: Path) -> None:
    (tmp_path / "crlf.txt").write_bytes(b"Title\r\n\r\nAda Lovelace wrote.\r\n")
    (tmp_path / "crlf.ann").write_bytes(b"T1\tPerson 9 21\tAda Lovelace\n")
    imported = brat.read([tmp_path], ImportOptions())
    assert imported.problems == []
    assert imported.articles[0]["text"] == "Title\r\n\r\nAda Lovelace wrote.\r\n"
    assert imported.articles[0]["title"] == "Title"
    assert imported.annotations[0]["text"] == "Ada Lovelace"


def test_span_across_a_line_break_accepts_a_space_in_the_ann(tmp_path: Path) -> None:
    (tmp_path / "wrap.txt").write_text("Head\n\nNew\nYork is big.\n", encoding="utf-8")
    (tmp_path / "wrap.ann").write_text("T1\tLocation 6 14\tNew York\n", encoding="utf-8")
    imported = brat.read([tmp_path], ImportOptions())
    assert imported.problems == []
    assert imported.annotations[0]["text"] == "New\nYork"


def test_same_stem_in_two_folders_gives_two_ids(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "doc.txt").write_text(f"Doc {folder}\n", encoding="utf-8")
        (tmp_path / folder / "doc.ann").write_text("T1\tThing 0 3\tDoc\n", encoding="utf-8")
    imported = brat.read([tmp_path], ImportOptions())
    assert [article["id"] for article in imported.articles] == ["doc", "b-doc"]
    assert [annotation["id"] for annotation in imported.annotations] == ["doc-T1", "b-doc-T1"]


def test_titles_fall_back_to_the_first_non_blank_line_then_the_stem(tmp_path: Path) -> None:
    (tmp_path / "blank-first.txt").write_text("\n\n  Real title  \nbody\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "long.txt").write_text("x" * 500, encoding="utf-8")
    imported = brat.read([tmp_path], ImportOptions())
    titles = {article["id"]: article["title"] for article in imported.articles}
    assert titles == {"blank-first": "Real title", "long": "x" * 200}
    # An empty text is not an article (validate would call it blank-text): a problem naming the file.
    assert [(Path(p.file).name, p.code) for p in imported.problems] == [("empty.txt", "no-text")]
    assert imported.articles[0]["text"] == "\n\n  Real title  \nbody\n"  # never stripped


def test_missing_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    imported = brat.read([tmp_path / "nowhere"], ImportOptions())
    assert _where(imported) == {("nowhere", None)}
    assert imported.articles == []
