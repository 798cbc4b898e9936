"""spaCy/Prodigy JSONL importer: the real Prodigy export in the shared realdata folder, and
synthetic records for answers, classification, relations and broken spans."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import assert_toolkit_validates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.ingest import Imported, ImportOptions, spacy_jsonl
from toolkit.ingest.dataset_writer import write_dataset

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "spacy_prodigy_jsonl"

# file → (articles, {(layer, label): annotations}, problem lines, skipped), measured once and
# checked against the file by hand.
EXPECTED: dict[str, tuple[int, dict[tuple[str, str], int], list[int], dict[str, int]]] = {
    # 4 accepted ner_manual records, 1 + 1 + 1 + 16 FASHION_BRAND spans (two of them `N&amp;F`).
    "explosion_fashion_brands_training_4records.jsonl": (4, {("entities", "FASHION_BRAND"): 19}, [], {}),
}


def real_files() -> list[Path]:
    return sorted(REALDATA.glob("*.jsonl")) if REALDATA.is_dir() else []


def read(*paths: Path, **options: object) -> Imported:
    return spacy_jsonl.read(list(paths), ImportOptions(**options))  # type: ignore[arg-type]


def write_lines(tmp_path: Path, *records: object, name: str = "db-out.jsonl") -> Path:
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def tokens(text: str) -> list[dict]:
    """Whitespace tokens as Prodigy writes them."""
    found, position = [], 0
    for index, word in enumerate(text.split(" ")):
        found.append({"text": word, "start": position, "end": position + len(word), "id": index})
        position += len(word) + 1
    return found


def task(text: str, spans: list[dict], **extra: object) -> dict:
    return {"text": text, "tokens": tokens(text), "spans": spans, "_input_hash": 7, "answer": "accept", **extra}


def problems(imported: Imported) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in imported.problems]


# --- the real file ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_imports_to_expected_records(path: Path, tmp_path: Path) -> None:
    assert path.name in EXPECTED, f"new real file {path.name}: add its expected counts"
    articles, labels, problem_lines, skipped = EXPECTED[path.name]
    imported = read(path, language="en")
    assert len(imported.articles) == articles
    assert Counter((a["layer"], a["label"]) for a in imported.annotations) == labels
    assert [p.line for p in imported.problems] == problem_lines
    assert imported.skipped == skipped
    write_dataset(imported, tmp_path / "ds", "prodigy-import")
    assert_toolkit_validates(tmp_path / "ds")


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_spans_round_trip(path: Path) -> None:
    """Every imported span is the record's span, at the same offsets, with the same tokens."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    imported = read(path)
    by_article: dict[str, list[tuple[int, int, str]]] = {}
    for annotation in imported.annotations:
        by_article.setdefault(annotation["article_id"], []).append(
            (annotation["start"], annotation["end"], annotation["label"])
        )
    for record, article in zip(records, imported.articles, strict=True):
        assert article["text"] == record["text"]
        assert article["meta"]["prodigy_input_hash"] == str(record["_input_hash"])
        assert by_article[article["id"]] == [(s["start"], s["end"], s["label"]) for s in record["spans"]]
        for span in record["spans"]:
            first, last = record["tokens"][span["token_start"]], record["tokens"][span["token_end"]]
            assert (first["start"], last["end"]) == (span["start"], span["end"])


def test_real_file_keeps_meta_and_span_source() -> None:
    if not REALDATA.is_dir():
        pytest.skip("shared realdata folder is absent")
    imported = read(REALDATA)
    assert imported.articles[1]["id"] == "input-620145342"
    assert imported.articles[1]["meta"] == {"section": "malefashionadvice", "prodigy_input_hash": "620145342"}
    assert imported.articles[2]["id"] == "input--187997482"  # a negative hash is still a valid id
    club = imported.annotations[1]
    assert (club["text"], club["attributes"]) == ("club monaco", {"source": "./rule-based-model"})
    # Prodigy stores the text as it came: an HTML entity inside a span is the span's text.
    assert [a["text"] for a in imported.annotations].count("N&amp;F") == 2


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_exit_1_with_located_problems_and_0_when_clean(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = write_lines(tmp_path, task("Ana met Bo", [{"start": 0, "end": 3, "label": "PER"}]), name="ok.jsonl")
    result = runner.invoke(app, ["import", "spacy", str(clean), "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "1 articles, 1 annotations" in result.output
    assert_toolkit_validates(tmp_path / "ok")
    broken = write_lines(
        tmp_path, task("Ana met Bo", [{"start": 0, "end": 3, "label": "PER"}]), "{oops", name="bad.jsonl"
    )
    result = runner.invoke(app, ["import", "spacy", str(broken), "--out", str(tmp_path / "bad")])
    assert result.exit_code == 1, result.output
    assert f"{broken}:2:invalid-json:invalidJSON" in "".join(result.output.split())
    assert "Traceback" not in result.output
    assert_toolkit_validates(tmp_path / "bad")


# --- synthetic records -------------------------------------------------------------------------


def test_only_accepted_answers_are_imported(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        task("Ana met Bo", [{"start": 0, "end": 3, "label": "PER"}], answer="reject", _input_hash=1),
        task("Ana met Bo", [{"start": 8, "end": 10, "label": "PER"}], answer="accept", _input_hash=1),
        task("Ana met Bo", [], answer="ignore", _input_hash=1),
        task("Cy", [], answer="maybe", _input_hash=2),
        {"text": "A spaCy corpus line without answer", "spans": []},
    )
    imported = read(path)
    assert [a["text"] for a in imported.annotations] == ["Bo"]
    assert imported.skipped == {"answer reject": 1, "answer ignore": 1}
    assert problems(imported) == [(4, "answer 'maybe' is none of accept, reject, ignore; skipped")]
    assert [a["id"] for a in imported.articles] == ["input-1", "db-out-5"]


def test_same_input_is_one_article_with_each_annotator(tmp_path: Path) -> None:
    span = {"start": 0, "end": 3, "label": "PER"}
    path = write_lines(
        tmp_path,
        task("Ana met Bo", [span], _annotator_id="news-alice", _task_hash=10),
        task("Ana met Bo", [span, {"start": 8, "end": 10, "label": "PER"}], _annotator_id="news-bob", _task_hash=11),
        task("Ana met Bo", [span], _annotator_id="news-alice", _task_hash=10),  # the same answer saved twice
        task("Ana met Cy", [span], _annotator_id="news-bob"),  # same hash, other text: another article
    )
    imported = read(path)
    assert [a["id"] for a in imported.articles] == ["input-7", "input-7-L4"]
    assert [(a["article_id"], a["annotator"], a["text"]) for a in imported.annotations] == [
        ("input-7", "news-alice", "Ana"),
        ("input-7", "news-bob", "Ana"),
        ("input-7", "news-bob", "Bo"),
        ("input-7-L4", "news-bob", "Ana"),
    ]
    assert imported.skipped == {"duplicate annotation": 1}


def test_classification_label_and_choices(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        {"text": "Markets rallied.", "label": "BUSINESS", "answer": "accept", "_input_hash": 1},
        {
            "text": "Rain all week.",
            "options": [{"id": "WEATHER", "text": "Weather"}, {"id": 3, "text": "Other"}],
            "accept": ["WEATHER", 3],
            "answer": "accept",
            "_input_hash": 2,
        },
        {"text": "Not this.", "label": "SPORT", "answer": "reject", "_input_hash": 3},
    )
    imported = read(path)
    assert [(a["article_id"], a["layer"], a["label"]) for a in imported.annotations] == [
        ("input-1", "label", "BUSINESS"),
        ("input-2", "label", "WEATHER"),
        ("input-2", "label", "3"),
    ]
    assert imported.layers == {"label": "document"}


def test_relations_point_at_the_spans(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    text = "Ana works for Acme"
    ana = {"start": 0, "end": 3, "token_start": 0, "token_end": 0, "label": "PER"}
    acme = {"start": 14, "end": 18, "token_start": 3, "token_end": 3, "label": "ORG"}
    works = {"start": 4, "end": 9, "token_start": 1, "token_end": 1, "label": None}
    path = write_lines(
        tmp_path,
        task(
            text,
            [ana, acme],
            relations=[
                {"head": 0, "child": 3, "head_span": ana, "child_span": acme, "label": "EMPLOYED_BY"},
                {"head": 1, "child": 0, "head_span": works, "child_span": ana, "label": "SUBJ"},
                {"head": 0, "child": 3, "head_span": ana, "label": "BROKEN"},
            ],
        ),
    )
    imported = read(path)
    by_id = {a["id"]: a for a in imported.annotations}
    (relation,) = [a for a in imported.annotations if a["layer"] == "relations"]
    assert (relation["label"], by_id[relation["head"]]["text"], by_id[relation["tail"]]["text"]) == (
        "EMPLOYED_BY",
        "Ana",
        "Acme",
    )
    assert imported.skipped == {"relation between unlabelled tokens": 1}
    assert problems(imported) == [(1, "relation 2 has no child_span; skipped")]
    out = tmp_path_factory.mktemp("ds") / "ds"
    write_dataset(imported, out, "rel")
    assert_toolkit_validates(out)


def test_relation_end_outside_spans_becomes_a_span(tmp_path: Path) -> None:
    ana = {"start": 0, "end": 3, "label": "PER"}
    acme = {"start": 14, "end": 18, "label": "ORG"}
    path = write_lines(
        tmp_path, task("Ana works for Acme", [ana], relations=[{"head_span": ana, "child_span": acme, "label": "AT"}])
    )
    imported = read(path)
    assert [(a["layer"], a["label"]) for a in imported.annotations] == [
        ("entities", "PER"),
        ("entities", "ORG"),
        ("relations", "AT"),
    ]


@pytest.mark.parametrize(
    ("span", "message"),
    [
        (
            {"start": 0, "end": 4, "label": "PER", "text": "Ana"},
            "span 0 (PER): the stored text 'Ana' differs from the text at [0, 4) ('Ana '); skipped",
        ),
        (
            {"start": 8, "end": 99, "label": "PER"},
            "span 0 (PER): [8, 99) is empty or outside the text (10 characters); skipped",
        ),
        (
            {"start": 3, "end": 3, "label": "PER"},
            "span 0 (PER): [3, 3) is empty or outside the text (10 characters); skipped",
        ),
        ({"start": 0, "end": 3, "label": ""}, "span 0 has no label; skipped"),
        (
            {"start": "0", "end": 3, "label": "PER"},
            "span 0 (PER) has no integer start/end nor usable token_start/token_end; skipped",
        ),
        (
            {"start": 0, "end": 2, "label": "PER", "token_start": 0, "token_end": 0},
            "span 0 (PER) [0, 2) does not cover tokens 0..0; skipped",
        ),
        # token_end is inclusive: 0..1 is "Ana met", not "Ana".
        (
            {"start": 0, "end": 3, "label": "PER", "token_start": 0, "token_end": 1},
            "span 0 (PER) [0, 3) does not cover tokens 0..1; skipped",
        ),
        (["PER", 0, 3], "span 0 is not an object; skipped"),
    ],
)
def test_bad_span_is_a_located_problem(tmp_path: Path, span: object, message: str) -> None:
    path = write_lines(tmp_path, {"text": "x"}, task("Ana met Bo", [span, {"start": 8, "end": 10, "label": "PER"}]))
    imported = read(path)
    assert problems(imported) == [(2, message)]
    assert [a["text"] for a in imported.annotations] == ["Bo"]


def test_span_from_token_indexes_alone(tmp_path: Path) -> None:
    imported = read(write_lines(tmp_path, task("Ana met Bo", [{"token_start": 2, "token_end": 2, "label": "PER"}])))
    assert [(a["start"], a["end"], a["text"]) for a in imported.annotations] == [(8, 10, "Bo")]


def test_tokens_that_do_not_fit_are_reported_once(tmp_path: Path) -> None:
    record = task("Ana met Bo", [{"start": 8, "end": 10, "label": "PER", "token_start": 2, "token_end": 2}])
    record["tokens"][1]["text"] = "mat"
    imported = read(write_lines(tmp_path, record))
    assert problems(imported) == [(1, "token 1 [4, 7) does not match the text; token indexes are not checked")]
    assert [a["text"] for a in imported.annotations] == ["Bo"]


def test_code_points_by_default_and_utf16_when_asked(tmp_path: Path) -> None:
    path = write_lines(tmp_path, {"text": "😀 Ana", "spans": [{"start": 2, "end": 5, "label": "PER"}]})
    assert [a["text"] for a in read(path).annotations] == ["Ana"]
    assert [a["text"] for a in read(path, offset_unit="utf16").annotations] == [" An"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # The JSON Lines reader is doccano's too (toolkit.ingest.files.json_lines): one wording.
        ("{oops", "invalid JSON: "),
        ('{"text": "bad \\ud800"}', "a string holds a lone surrogate (invalid Unicode); skipped"),
        ("3", "record is not a JSON object; skipped"),  # doccano's wording too (files.json_records)
        ('{"spans": []}', "record has no text (a 'text' string with a visible character); skipped"),
        # A blank text is worded as every importer words it (toolkit.ingest.builder).
        ('{"text": " \\u200b\\n"}', "the document has no text (only whitespace or format characters)"),
        ('{"text": "ok", "spans": {}}', "'spans' is not a list; ignored"),
        ('{"text": "ok", "relations": 3}', "'relations' is not a list; ignored"),
        ('{"text": "ok", "accept": "A"}', "'accept' is not a list; ignored"),
        ('{"text": "ok", "label": 5}', "'label' 5 is not a label; ignored"),
    ],
)
def test_bad_lines_are_located_problems(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"text": "first"}\n' + line.encode() + b"\n\n")
    imported = read(path)
    [(number, found)] = problems(imported)
    assert number == 2 and found.startswith(message)
    assert imported.articles[0]["text"] == "first"


def test_not_utf8_line_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n{"text": "ok"}\n')
    imported = read(path)
    assert [p.line for p in imported.problems] == [1]
    assert [a["text"] for a in imported.articles] == ["ok"]


def test_same_file_twice_keeps_ids_unique(tmp_path: Path) -> None:
    path = write_lines(tmp_path, {"text": "no hash"}, task("Ana met Bo", [{"start": 0, "end": 3, "label": "PER"}]))
    imported = read(path, path)
    assert len({a["id"] for a in imported.articles}) == len(imported.articles) == 3  # the hashed input is merged
    assert imported.skipped == {"duplicate annotation": 1}


# --- any input ---------------------------------------------------------------------------------

_TEXT = "😀 Ana met Bo in Łódź"
_offset = st.integers(-2, 25) | st.sampled_from(["3", None, True])
_span = st.fixed_dictionaries(
    {"start": _offset, "end": _offset},
    optional={
        "label": st.sampled_from(["PER", "", None, 3]),
        "text": st.sampled_from(["Ana", "Bo", ""]),
        "token_start": st.integers(-1, 6),
        "token_end": st.integers(-1, 6),
        "source": st.sampled_from(["model", 1.5, None]),
    },
)
_record = st.fixed_dictionaries(
    {"text": st.sampled_from([_TEXT, "", None, "Ana"])},
    optional={
        "tokens": st.just(tokens(_TEXT))
        | st.lists(st.fixed_dictionaries({"start": _offset, "end": _offset}), max_size=3),
        "spans": st.lists(_span, max_size=4) | st.just({}),
        "answer": st.sampled_from(["accept", "reject", "ignore", "maybe", None]),
        "_input_hash": st.integers(0, 2) | st.just("h"),
        "_annotator_id": st.sampled_from(["a", "b", 3]),
        "label": st.sampled_from(["POS", "", 1]),
        "accept": st.lists(st.sampled_from(["A", 2, None]), max_size=2),
        "relations": st.lists(
            st.fixed_dictionaries(
                {"label": st.sampled_from(["REL", None])}, optional={"head_span": _span, "child_span": _span}
            ),
            max_size=2,
        ),
        "meta": st.dictionaries(st.sampled_from(["a", "b"]), st.sampled_from([1, "x", None, [1]]), max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(_record | st.just("{bad"), max_size=6), utf16=st.booleans())
def test_any_input_gives_exact_records_or_located_problems(tmp_path: Path, records: list, utf16: bool) -> None:
    path = write_lines(tmp_path, *records) if records else write_lines(tmp_path, "")
    imported = read(path, offset_unit="utf16" if utf16 else "codepoint")
    articles = {a["id"]: a for a in imported.articles}
    assert len(articles) == len(imported.articles)
    by_id = {a["id"]: a for a in imported.annotations}
    assert len(by_id) == len(imported.annotations)
    for annotation in imported.annotations:
        assert annotation["label"] in imported.labels[annotation["layer"]]
        if "start" in annotation:
            text = articles[annotation["article_id"]]["text"]
            assert 0 <= annotation["start"] < annotation["end"] <= len(text)
            assert text[annotation["start"] : annotation["end"]] == annotation["text"]
        if "head" in annotation:
            assert "start" in by_id[annotation["head"]] and "start" in by_id[annotation["tail"]]
    for article in imported.articles:
        assert article["title"].strip() and all(isinstance(v, str) for v in article.get("meta", {}).values())
    assert all(p.file == str(path) and p.line for p in imported.problems)
