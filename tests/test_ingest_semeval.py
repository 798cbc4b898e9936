"""SemEval-2020 Task 11 (Propaganda Techniques Corpus) importer: real PTC articles, synthetic cases."""

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

from toolkit.ingest import ImportOptions, semeval
from toolkit.ingest.dataset_writer import write_dataset

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schema"
REALDATA = ROOT.parent / "shared" / "realdata"
REAL_PTC = REALDATA / "semeval2020_task11_ptc"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "semeval"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@pytest.fixture
def real_ptc() -> Path:
    if not REAL_PTC.is_dir():
        pytest.skip("shared/realdata/semeval2020_task11_ptc is not available")
    return REAL_PTC


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
    manifest_path = write_dataset(imported, out_dir, "ptc-import")
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
    for annotation in annotations:
        assert not [e.message for e in annotation_validator.iter_errors(annotation)], annotation["id"]
        assert ID_PATTERN.match(annotation["id"])
        layer = manifest["layers"][annotation["layer"]]
        assert layer["kind"] == "span"
        assert annotation["label"] in layer["labels"]
        text = by_id[annotation["article_id"]][annotation.get("field", "text")]
        assert 0 <= annotation["start"] < annotation["end"] <= len(text)
        assert text[annotation["start"] : annotation["end"]] == annotation["text"]
    assert_toolkit_validates(out_dir)
    return manifest, articles, annotations



def _where(imported) -> set[tuple[str, int | None]]:
    return {(Path(problem.file).name, problem.line) for problem in imported.problems}


def _counts(imported) -> dict[str, int]:
    counts = {article["id"]: 0 for article in imported.articles}
    for annotation in imported.annotations:
        counts[annotation["article_id"]] += 1
    return counts


# --- real data -------------------------------------------------------------------------------


def test_real_ptc_folder(real_ptc: Path) -> None:
    imported = semeval.read([real_ptc], ImportOptions())
    assert imported.problems == []  # README_PTC_v2.md is ignored, not reported
    assert imported.skipped == {}
    assert _counts(imported) == {
        "article111111111": 8,
        "article727497152": 3,
        "article728153988": 0,  # empty label files: an article with no propaganda
        "article765029945": 17,
    }
    # TC labels exist for every article, so the SI spans (the same spans without technique) are not used.
    assert imported.layers == {"persuasion": "span"}
    assert "Bandwagon,Reductio_ad_hitlerum" in imported.labels["persuasion"]
    for article in imported.articles:
        path = real_ptc / "train-articles" / f"{article['id']}.txt"
        assert article["text"] == path.read_bytes().decode("utf-8")  # unchanged, offsets index into it
        assert article["title"] == article["text"].split("\n", 1)[0].strip()
        assert article["language"] == "en"
    first = imported.annotations[0]
    assert (first["id"], first["label"], first["start"], first["end"]) == (
        "article111111111-tc1",
        "Appeal_to_Authority",
        265,
        323,
    )
    assert first["text"] == "The next transmission could be more pronounced or stronger"


def test_real_ptc_spans_overlap_and_match_curly_quote_text(real_ptc: Path) -> None:
    imported = semeval.read([real_ptc], ImportOptions())
    spans = [(a["start"], a["end"]) for a in imported.annotations if a["article_id"] == "article727497152"]
    # Doubt 491-695 contains Loaded_Language 516-529.
    assert (491, 695) in spans and (516, 529) in spans
    texts = {article["id"]: article["text"] for article in imported.articles}
    for annotation in imported.annotations:
        assert texts[annotation["article_id"]][annotation["start"] : annotation["end"]] == annotation["text"]
    # Code points, not bytes: a curly quote before a span would shift byte offsets.
    curly = texts["article765029945"]
    assert any(ord(ch) > 127 for ch in curly[: max(a["start"] for a in imported.annotations)])


def test_real_ptc_span_identification_only(real_ptc: Path) -> None:
    imported = semeval.read(
        [real_ptc / "train-articles", real_ptc / "train-labels-task1-span-identification"], ImportOptions()
    )
    assert imported.problems == []
    assert imported.layers == {"propaganda_span": "span"}
    assert imported.labels == {"propaganda_span": ["propaganda"]}
    # SI merges overlapping technique spans: 7 of TC's 8 and 16 of its 17 spans remain.
    assert _counts(imported) == {
        "article111111111": 7,
        "article727497152": 2,
        "article728153988": 0,
        "article765029945": 16,
    }


def test_real_ptc_validates(real_ptc: Path, tmp_path: Path) -> None:
    imported = semeval.read([real_ptc], ImportOptions())
    manifest, articles, annotations = assert_valid_dataset(imported, tmp_path / "ds")
    assert manifest["language"] == ["en"]
    assert len(articles) == 4 and len(annotations) == 28


# --- synthetic cases -------------------------------------------------------------------------


def test_synthetic_articles_with_astral_characters() -> None:
    imported = semeval.read([FIXTURES / "good"], ImportOptions(language="fr"))
    assert imported.problems == []
    by_article: dict[str, list[tuple]] = {}
    for a in imported.annotations:
        by_article.setdefault(a["article_id"], []).append(
            (a["layer"], a["label"], a["start"], a["end"], a["text"])
        )
    # 🚀, 𝕏 and 😀 precede the spans: each counts one.
    assert by_article["article1"] == [
        ("persuasion", "Loaded_Language", 69, 77, "traitors"),
        ("persuasion", "Name_Calling,Labeling", 68, 78, "“traitors”"),
        ("persuasion", "Doubt", 37, 79, "First sentence says 😀 they are “traitors”."),
        ("persuasion", "Loaded_Language", 18, 26, "traitors"),
    ]
    # No TC file: the SI spans are used, in their own layer.
    assert by_article["article2"] == [("propaganda_span", "propaganda", 24, 39, "they lie to you")]
    # CRLF line endings are kept; the offsets count the carriage returns.
    assert by_article["article3"] == [("persuasion", "Loaded_Language", 48, 58, "a disaster")]
    assert "article4" not in by_article  # empty label files
    titles = {article["id"]: article["title"] for article in imported.articles}
    assert titles == {
        "article1": "Rocket 🚀 men are “traitors”, says 𝕏",
        "article2": "Only SI here",
        "article3": "Windows title",
        "article4": "Nothing to see",
    }
    assert all(article["language"] == "en" for article in imported.articles)  # the corpus is English
    assert imported.articles[2]["text"].startswith("Windows title\r\n\r\n")


def test_synthetic_import_validates(tmp_path: Path) -> None:
    imported = semeval.read([FIXTURES / "good"], ImportOptions())
    manifest, _, annotations = assert_valid_dataset(imported, tmp_path / "ds")
    assert manifest["layers"]["persuasion"]["overlap"] is True
    assert len(annotations) == 6


def test_broken_rows_are_reported_with_file_and_line() -> None:
    imported = semeval.read([FIXTURES / "broken"], ImportOptions())
    assert _where(imported) == {
        ("article5.task2-TC.labels", 2),  # three fields in a TC file
        ("article5.task2-TC.labels", 3),  # start `x`
        ("article5.task2-TC.labels", 4),  # end past the text
        ("article5.task2-TC.labels", 5),  # empty span
        ("article5.task2-TC.labels", 6),  # article77 has no .txt
        ("article5.task2-TC.labels", 8),  # article id `abc`
        ("article5.task2-TC.labels", 9),  # empty technique
        ("article6.txt", 1),  # Latin-1, not UTF-8
        ("article7.task1-SI.labels", 1),  # two fields
        ("article7.task1-SI.labels", 3),  # four fields in an SI file
    }
    spans = [(a["article_id"], a["layer"], a["text"]) for a in imported.annotations]
    assert spans == [("article5", "persuasion", "Some"), ("article7", "propaganda_span", "Short")]
    assert [article["id"] for article in imported.articles] == ["article5", "article7"]


def test_broken_import_still_validates(tmp_path: Path) -> None:
    imported = semeval.read([FIXTURES / "broken"], ImportOptions())
    assert_valid_dataset(imported, tmp_path / "ds")


def test_combined_label_file_routes_rows_by_article_id(tmp_path: Path) -> None:
    (tmp_path / "article10.txt").write_text("T\n\nabc def\n", encoding="utf-8")
    (tmp_path / "article11.txt").write_text("U\n\nghi jkl\n", encoding="utf-8")
    # The dev/test gold comes as one file for all articles, named without an article id.
    (tmp_path / "dev-task-TC.labels").write_text("10\tDoubt\t3\t6\n11\tSlogans\t7\t10\n", encoding="utf-8")
    imported = semeval.read([tmp_path], ImportOptions())
    assert imported.problems == []
    assert [(a["article_id"], a["label"], a["text"]) for a in imported.annotations] == [
        ("article10", "Doubt", "abc"),
        ("article11", "Slogans", "jkl"),
    ]


def test_utf16_offsets_option(tmp_path: Path) -> None:
    (tmp_path / "article20.txt").write_text("T 😀\n\n𝕏 says no\n", encoding="utf-8")
    # `says` is at code points 7-11, UTF-16 units 9-13 (😀 and 𝕏 count two each).
    (tmp_path / "article20.task2-TC.labels").write_text("20\tDoubt\t9\t13\n", encoding="utf-8")
    imported = semeval.read([tmp_path], ImportOptions(offset_unit="utf16"))
    assert [(a["start"], a["end"], a["text"]) for a in imported.annotations] == [(7, 11, "says")]


def test_duplicate_article_is_a_problem(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "article30.txt").write_text("Same\n\nText.\n", encoding="utf-8")
    imported = semeval.read([tmp_path], ImportOptions())
    assert _where(imported) == {("article30.txt", None)}
    assert [article["id"] for article in imported.articles] == ["article30"]


def test_missing_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    imported = semeval.read([tmp_path / "nowhere"], ImportOptions())
    assert _where(imported) == {("nowhere", None)}
