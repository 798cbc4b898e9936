"""Label Studio importer: every real export in the shared realdata folder, synthetic edge cases,
and the imported records written as a dataset and checked against the schemas."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from toolkit.ingest import Imported, ImportOptions, labelstudio
from toolkit.ingest.dataset_writer import write_dataset

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "label_studio_json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "labelstudio"
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LAYER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# file → (articles, annotations, problem lines, skipped), from reading each file by hand.
EXPECTED = {
    # 6 tasks, but 3 texts each annotated in two projects (one annotator each): merged to 3 articles.
    "labic_ner_saude_two_annotators_tasks.json": (3, 20, [], {}),
    "ls_editor_example_named_entity_annotation_1.json": (1, 1, [], {}),
    "ls_editor_example_named_entity_tasks.json": (1, 1, [], {}),
    "ls_legacy_completions_348.json": (1, 38, [], {}),
    "ls_test_humor_headlines_choices.json": (2, 2, [], {}),
    # Tasks #3 and #4 have no `data`; 3 annotations + 3 predictions + 1 orphan prediction.
    "ls_test_tasks_annotations_predictions.json": (4, 7, [125, 129], {}),
}


def real_files() -> list[Path]:
    return sorted(REALDATA.glob("*.json")) if REALDATA.is_dir() else []


def needs_realdata() -> None:
    if not REALDATA.is_dir():
        pytest.skip("shared realdata folder is absent")


def read(*paths: Path, **options: object) -> Imported:
    return labelstudio.read(list(paths), ImportOptions(**options))


def check_records(imported: Imported) -> None:
    """What every import must satisfy, whatever its input."""
    articles = {a["id"]: a for a in imported.articles}
    assert len(articles) == len(imported.articles), "article ids repeat"
    for article in imported.articles:
        assert ID.match(article["id"]) and article["title"].strip()
        assert all(isinstance(v, str) for v in article.get("meta", {}).values())
    by_id = {a["id"]: a for a in imported.annotations}
    assert len(by_id) == len(imported.annotations), "annotation ids repeat"
    for annotation in imported.annotations:
        assert ID.match(annotation["id"])
        article = articles[annotation["article_id"]]
        layer, label = annotation["layer"], annotation["label"]
        assert LAYER.match(layer) and label in imported.labels[layer]
        if "start" in annotation:
            assert imported.layers[layer] == "span"
            field = article[annotation.get("field", "text")]
            assert 0 <= annotation["start"] < annotation["end"] <= len(field)
            assert annotation["text"] == field[annotation["start"] : annotation["end"]]
        elif "head" in annotation:
            assert imported.layers[layer] == "relation"
            for end in (annotation["head"], annotation["tail"]):
                assert by_id[end]["article_id"] == annotation["article_id"] and "start" in by_id[end]
        else:
            assert imported.layers[layer] == "document"
        if "confidence" in annotation:
            assert 0 <= annotation["confidence"] <= 1


def schema_validators() -> dict[str, Draft202012Validator]:
    """Validators for the three schemas; the article's `$ref` to annotation.schema.json resolves
    from a local registry, never the network."""
    schemas = {
        name: json.loads((REPO / "schema" / f"{name}.schema.json").read_text())
        for name in ("article", "annotation", "dataset")
    }
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return {name: Draft202012Validator(schema, registry=registry) for name, schema in schemas.items()}


def write_and_check(imported: Imported, out: Path) -> Path:
    """Write the import with `write_dataset` and validate every record and the manifest."""
    manifest_path = write_dataset(imported, out, "ls-import")
    validators = schema_validators()
    for name, kind in (("articles.jsonl", "article"), ("annotations.jsonl", "annotation")):
        for number, line in enumerate((out / name).read_text(encoding="utf-8").splitlines(), start=1):
            errors = list(validators[kind].iter_errors(json.loads(line)))
            assert not errors, f"{name}:{number}: {errors[0].message}"
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    assert not list(validators["dataset"].iter_errors(manifest))
    assert set(manifest["layers"]) == set(imported.layers)
    return manifest_path


# --- every real file ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_imports_to_expected_records(path: Path) -> None:
    imported = read(path)
    check_records(imported)
    assert path.name in EXPECTED, f"new real file {path.name}: add its expected counts"
    articles, annotations, problem_lines, skipped = EXPECTED[path.name]
    assert len(imported.articles) == articles
    assert len(imported.annotations) == annotations
    assert [p.line for p in imported.problems] == problem_lines
    assert all(p.file == str(path) for p in imported.problems)
    assert imported.skipped == skipped


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_writes_a_schema_valid_dataset(path: Path, tmp_path: Path) -> None:
    write_and_check(read(path, language="en"), tmp_path / "ds")


def test_whole_realdata_folder_keeps_ids_unique(tmp_path: Path) -> None:
    needs_realdata()
    imported = read(REALDATA)
    check_records(imported)
    # The editor's tasks.json holds the same cocoa text as annotations/1.json (task 1): one article.
    assert len(imported.articles) == sum(e[0] for e in EXPECTED.values()) - 1
    assert len(imported.annotations) == sum(e[1] for e in EXPECTED.values())
    cocoa = [a for a in imported.annotations if a["article_id"] == "task-1"]
    assert {a.get("annotator") for a in cocoa} == {None, "model:model 1"}
    write_and_check(imported, tmp_path / "ds")


def test_labic_keeps_both_annotators_on_one_article() -> None:
    needs_realdata()
    imported = read(REALDATA / "labic_ner_saude_two_annotators_tasks.json")
    assert [a["id"] for a in imported.articles] == ["task-1090", "task-1094", "task-1098"]
    for article in imported.articles:
        annotators = {a["annotator"] for a in imported.annotations if a["article_id"] == article["id"]}
        assert annotators == {"user-6", "user-3"}
        # Which annotator a project assigned differs per task, so it is not the article's.
        assert "assigned_annotator_email" not in article["meta"]
        assert article["meta"]["external_id"].startswith("ner_saude_doc_")
    assert imported.articles[0]["meta"]["merged_tasks"] == "task-1090 task-937"
    sloppy = next(a for a in imported.annotations if a["id"] == "task-1090-a0-r3-0")
    assert sloppy["text"] == " suspeita de asma"  # kept as the annotator made it
    assert {a["created_at"][:10] for a in imported.annotations} == {"2026-03-20"}


def test_real_predictions_and_tasks_without_data() -> None:
    path = FIXTURES / "ls_test_tasks_annotations_predictions.json"  # a copy of the real file
    imported = read(path)
    assert [(p.line, "task #3" in p.message or "task #4" in p.message) for p in imported.problems] == [
        (125, True),
        (129, True),
    ]
    annotators = [a.get("annotator") for a in imported.annotations]
    assert annotators.count("model:model_version_A") == 2
    assert annotators.count("model:unknown") == 1
    assert imported.articles[2]["meta"] == {"int_field": "99"}


def test_legacy_completions_and_humor_choices() -> None:
    needs_realdata()
    legacy = read(REALDATA / "ls_legacy_completions_348.json")
    assert legacy.layers == {"ner": "span"} and legacy.labels == {"ner": ["INGREDIENT"]}
    assert all(a["id"].startswith("task-348-c0-") for a in legacy.annotations)
    humor = read(REALDATA / "ls_test_humor_headlines_choices.json")
    assert humor.layers == {"sentiment": "document"}
    assert [a["title"] for a in humor.articles] == [a["text"] for a in humor.articles]
    assert {a["annotator"] for a in humor.annotations} == {"test_suites_user@heartex.com"}


# --- synthetic cases ---------------------------------------------------------------------------


@pytest.fixture
def synthetic() -> Imported:
    return read(FIXTURES / "synthetic_tasks.json")


def by_id(imported: Imported) -> dict[str, dict]:
    return {a["id"]: a for a in imported.annotations}


def test_emoji_before_spans_code_points(synthetic: Imported) -> None:
    check_records(synthetic)
    text = synthetic.articles[0]["text"]
    spans = {a["text"]: (a["start"], a["end"]) for a in synthetic.annotations if a.get("layer") == "ner"}
    assert spans["Ana"] == (2, 5) and spans["flag"] == (29, 33)
    assert text[29:33] == "flag"  # 😀 and the two-code-point flag 🇧🇷 count as 1 + 2


def test_utf16_offsets_converted_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    task = {
        "id": 5,
        "data": {"text": "😀 Ana"},
        "annotations": [
            {
                "result": [
                    {
                        "id": "a",
                        "type": "labels",
                        "from_name": "ner",
                        "to_name": "text",
                        "value": {"start": 3, "end": 6, "text": "Ana", "labels": ["PER"]},
                    }
                ]
            }
        ],
    }
    path.write_text(json.dumps([task]), encoding="utf-8")
    converted = read(path, offset_unit="utf16")
    assert [(a["start"], a["end"], a["text"]) for a in converted.annotations] == [(2, 5, "Ana")]
    as_is = read(path)
    # A refused span is a problem, not also a skip count (every importer counts it so: the builder's rule).
    assert as_is.annotations == [] and as_is.skipped == {}
    assert [p.code for p in as_is.problems] == ["span-out-of-bounds"]


def test_cancelled_annotation_skipped_and_counted(synthetic: Imported) -> None:
    assert synthetic.skipped["cancelled annotation"] == 1
    assert synthetic.skipped["draft annotation"] == 1
    assert "ORG" not in synthetic.labels["ner"]  # the cancelled annotation's only label


def test_predictions_become_model_annotations_with_confidence(synthetic: Imported) -> None:
    annotations = by_id(synthetic)
    assert annotations["task-1-p0-r0-0"]["annotator"] == "model:ner-v2"
    assert annotations["task-1-p0-r0-0"]["confidence"] == 0.42  # the region's own score wins
    assert annotations["task-1-p0-r1-0"]["confidence"] == 1.0  # 1.7 clamped
    assert annotations["task-1-p1-r0-0"] == {
        "id": "task-1-p1-r0-0",
        "article_id": "task-1",
        "layer": "genre",
        "label": "opinion",
        "annotator": "model:unknown",
        "confidence": 0.0,
    }


def test_relations_resolve_to_span_annotation_ids(synthetic: Imported) -> None:
    annotations = by_id(synthetic)
    meets = annotations["task-1-a0-r3-0"]
    assert (meets["label"], meets["head"], meets["tail"]) == ("meets", "task-1-a0-r0-0", "task-1-a0-r1-0")
    assert annotations[meets["tail"]]["label"] == "PER"  # Bo's first label, not VIP
    left = annotations["task-1-a0-r4-0"]  # from Rio to Ana, drawn right-to-left
    assert (left["label"], left["head"], left["tail"]) == ("related", "task-1-a0-r0-0", "task-1-a0-r2-0")
    assert synthetic.layers["relations"] == "relation"


def test_two_annotators_and_a_merged_project_kept(synthetic: Imported) -> None:
    on_ana = [a["annotator"] for a in synthetic.annotations if a.get("text") == "Ana"]
    assert on_ana == ["user-7", "b@example.org", "model:ner-v2"]
    merged = by_id(synthetic)["task-3-a0-r0-0"]  # task 3 repeats task 1's text in another project
    assert merged["article_id"] == "task-1" and merged["annotator"] == "user-8"
    assert synthetic.articles[0]["title"] == "Emoji wire story"
    assert synthetic.articles[0]["meta"] == {"merged_tasks": "task-1 task-3"}


def test_multi_label_span_and_per_region_choice(synthetic: Imported) -> None:
    annotations = by_id(synthetic)
    assert [annotations[f"task-1-a0-r1-{n}"]["label"] for n in (0, 1)] == ["PER", "VIP"]
    rio = annotations["task-1-a0-r2-0"]
    assert rio["attributes"] == {"ground_truth": True, "certainty": "sure"}
    assert "certainty" not in synthetic.layers  # a property of the span, not a document label
    assert synthetic.layers["genre"] == "document"  # from_name "Genre!" sanitised


def test_stored_text_mismatch_is_a_problem_and_span_skipped(synthetic: Imported) -> None:
    path = str(FIXTURES / "synthetic_tasks.json")
    messages = [(p.file, p.line, p.message) for p in synthetic.problems]
    assert messages[0][:2] == (path, 69) and "task 'art/2'" in messages[0][2] and "'Bod'" in messages[0][2]
    assert "names no imported span" in messages[1][2]  # the relation from the skipped span
    assert [p.code for p in synthetic.problems[:2]] == ["span-text-mismatch", "unknown-reference"]
    assert "span text mismatch" not in synthetic.skipped  # a problem, not also a skip count
    article = synthetic.articles[1]
    assert article["id"].startswith("task-art-2-") and article["title"] == "Bad offsets here."
    assert article["meta"] == {"headline": "", "published": "2024-05-02", "score": "0.5", "flag": "true"}


def test_synthetic_writes_a_schema_valid_dataset(synthetic: Imported, tmp_path: Path) -> None:
    write_and_check(synthetic, tmp_path / "ds")


def test_single_task_object_and_title_field(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(
        json.dumps({"id": 9, "data": {"text": "\n\n  Body first line  \nmore", "headline": "Head"}})
    )
    imported = read(path, language="pt-BR")
    assert imported.articles == [
        {"id": "task-9", "title": "Head", "text": "\n\n  Body first line  \nmore", "language": "pt-BR"}
    ]
    path.write_text(json.dumps({"id": 9, "data": {"text": "\n\n  Body first line  \n" + "x" * 100}}))
    assert read(path).articles[0]["title"] == "Body first line"
    # Derived titles are cut where every importer cuts them (toolkit.ingest.builder.TITLE_MAX_CHARS).
    path.write_text(json.dumps({"id": 9, "data": {"text": "y" * 300}}))
    assert read(path).articles[0]["title"] == "y" * 200
    # An empty text is no article (validate would reject it as blank-text): a problem with the line.
    path.write_text(json.dumps({"id": 9, "data": {"text": ""}}))
    assert [(p.line, p.code) for p in read(path).problems] == [(1, "no-text")]


def test_same_task_in_two_files_is_one_article(tmp_path: Path) -> None:
    source = FIXTURES / "synthetic_tasks.json"
    copy = tmp_path / "copy.json"
    copy.write_bytes(source.read_bytes())
    once, twice = read(source), read(source, copy)
    check_records(twice)
    assert len(twice.articles) == len(once.articles)
    assert len(twice.annotations) == len(once.annotations)
    assert twice.skipped["duplicate annotation"] == len(once.annotations)


def test_same_task_id_with_other_text_is_reported(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps([{"id": 1, "data": {"text": "one"}}]))
    second.write_text(json.dumps([{"id": 1, "data": {"text": "two"}}, {"id": 2, "data": {"text": "two"}}]))
    imported = read(first, second)
    assert [a["id"] for a in imported.articles] == ["task-1", "task-2"]
    (problem,) = imported.problems
    assert (problem.file, problem.line) == (str(second), 1)
    assert "already imported from" in problem.message and str(first) in problem.message


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b'[\n {"id": 1, "data": {"text": "a"}},\n {"id": 2,,}\n]', 3, "invalid JSON"),
        (b'[{"id": 1, "data": {"text": "caf\xe9"}}]', 1, "not UTF-8"),
        (b"42", 1, "list of tasks"),
        (b"", 1, "invalid JSON"),
        (b'[{"id": 1, "data": {"text": "a"}}] trailing', 1, "invalid JSON"),
    ],
)
def test_broken_files_are_problems_not_exceptions(
    tmp_path: Path, content: bytes, line: int, words: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    imported = read(path)
    assert imported.articles == [] and imported.annotations == []
    (problem,) = imported.problems
    assert (problem.file, problem.line) == (str(path), line) and words in problem.message


def test_unreadable_file_and_bad_tasks(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    imported = read(missing)
    assert [(p.file, p.line) for p in imported.problems] == [(str(missing), None)]
    path = tmp_path / "mixed.json"
    path.write_text(
        '[\n"a string",\n{"id": 2, "data": {"text": "ok"}, "annotations": 5},\n'
        '{"id": 3, "data": {"body": 1}},\n{"id": 4, "data": {"text": "bad \\ud83d"}}\n]'
    )
    imported = read(path)
    assert [a["id"] for a in imported.articles] == ["task-2"]
    assert [p.line for p in imported.problems] == [2, 3, 4, 5]
    assert "lone surrogate" in imported.problems[3].message


def test_importer_is_registered() -> None:
    from toolkit.ingest import get_importer

    try:
        importer = get_importer("labelstudio")
    except ImportError:
        pytest.skip("another importer of the registry is not written yet")
    assert importer is labelstudio.read


def test_imported_dataset_passes_toolkit_validate(tmp_path: Path) -> None:
    from toolkit import validate as check

    paths = [FIXTURES, *real_files()]
    manifest = write_dataset(read(*paths, language="en"), tmp_path / "ds", "ls-import")
    report = check(manifest.parent)
    assert report.ok, getattr(report, "problems", report)[:5]


# --- whatever the input, no exception and only valid records -----------------------------------

_scalars = st.none() | st.booleans() | st.integers(-3, 40) | st.floats() | st.text(max_size=6)
_small_int = st.integers(-2, 40)
_value = st.fixed_dictionaries(
    {},
    optional={
        "start": _small_int | _scalars,
        "end": _small_int | _scalars,
        "text": st.text(max_size=6),
        "labels": st.lists(st.sampled_from(["PER", "", "Org x"]) | _scalars, max_size=3),
        "choices": st.lists(st.sampled_from(["yes", "no"]) | _scalars, max_size=2) | _scalars,
    },
)
_result = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["r1", "r2", "r3"]) | st.integers(0, 3),
        "type": st.sampled_from(["labels", "choices", "relation", "textarea"]) | _scalars,
        "from_name": st.sampled_from(["ner", "9 Tags!", "", "_"]) | _scalars,
        "to_name": st.sampled_from(["text", "title", "other"]),
        "value": _value | _scalars,
        "from_id": st.sampled_from(["r1", "r2", "r3"]),
        "to_id": st.sampled_from(["r1", "r2", "r3"]),
        "direction": st.sampled_from(["left", "right", "bi"]),
        "labels": st.lists(st.text(max_size=4) | _scalars, max_size=2),
        "score": _scalars,
    },
)
_annotation = st.fixed_dictionaries(
    {},
    optional={
        "id": _scalars,
        "completed_by": _scalars | st.fixed_dictionaries({}, optional={"email": _scalars, "id": _scalars}),
        "was_cancelled": _scalars,
        "ground_truth": _scalars,
        "result": st.lists(_result | _scalars, max_size=5) | _scalars,
        "model_version": _scalars,
        "score": _scalars,
        "created_at": st.sampled_from(["2024-01-02T03:04:05Z", "yesterday"]) | _scalars,
    },
)
_task = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(0, 3) | st.text(max_size=5) | _scalars,
        "data": st.fixed_dictionaries(
            {},
            optional={
                "text": st.text(alphabet="ab 😀🇧\n\u00e9", max_size=30) | _scalars,
                "title": _scalars,
                "other": st.text(max_size=5) | _scalars,
                "n": _scalars,
            },
        )
        | _scalars,
        "annotations": st.lists(_annotation | _scalars, max_size=3) | _scalars,
        "completions": st.lists(_annotation, max_size=2),
        "predictions": st.lists(_annotation, max_size=2) | _scalars,
    },
)

# Mostly well-formed tasks, so spans, choices and relations are really imported, not only rejected.
_TEXT = "😀 Ana met Bo 🇧🇷 in Rio.\n\nÉ"


@st.composite
def _plausible_span(draw: st.DrawFn) -> dict:
    start = draw(st.integers(0, len(_TEXT) - 1))
    end = start + draw(st.integers(1, 4))  # may run past the end: that must be a problem, not a crash
    value = {
        "start": start,
        "end": end,
        "labels": draw(st.lists(st.sampled_from(["PER", "LOC"]), min_size=1)),
    }
    if draw(st.booleans()):
        value["text"] = draw(st.sampled_from([_TEXT[start:end], "x"]))
    return {
        "id": draw(st.sampled_from(["r1", "r2", "r3"])),
        "type": "labels",
        "from_name": "ner",
        "to_name": "text",
        "value": value,
    }


_plausible_result = st.one_of(
    _plausible_span(),
    _plausible_span(),
    st.fixed_dictionaries(
        {
            "type": st.just("choices"),
            "from_name": st.sampled_from(["Genre!", "ner"]),
            "value": st.fixed_dictionaries({"choices": st.lists(st.sampled_from(["yes", "no"]), max_size=2)}),
        },
        optional={"id": st.sampled_from(["r1", "g"])},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("relation"),
            "from_id": st.sampled_from(["r1", "r2", "r3"]),
            "to_id": st.sampled_from(["r1", "r2", "r3"]),
        },
        optional={
            "direction": st.sampled_from(["left", "right", "bi"]),
            "labels": st.lists(st.text(max_size=3)),
        },
    ),
)
_plausible_annotation = st.fixed_dictionaries(
    {"completed_by": st.integers(1, 3), "result": st.lists(_plausible_result, max_size=6)},
    optional={"was_cancelled": st.booleans(), "model_version": st.text(max_size=3), "score": st.floats()},
)
_plausible_task = st.fixed_dictionaries(
    {"id": st.integers(0, 3), "data": st.fixed_dictionaries({"text": st.just(_TEXT)})},
    optional={
        "annotations": st.lists(_plausible_annotation, max_size=3),
        "predictions": st.lists(_plausible_annotation, max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(
        st.lists(_plausible_task | _task, max_size=4) | _plausible_task | _task | _scalars,
        min_size=1,
        max_size=2,
    ),
    utf16=st.booleans(),
)
def test_any_input_gives_valid_records_or_problems(files: list, utf16: bool) -> None:
    validators = schema_validators()
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, content in enumerate(files):
            path = Path(folder) / f"export-{number}.json"
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
            paths.append(path)
        imported = read(*paths, offset_unit="utf16" if utf16 else None)
    check_records(imported)
    for article in imported.articles:
        assert not list(validators["article"].iter_errors(article))
    for annotation in imported.annotations:
        assert not list(validators["annotation"].iter_errors(annotation))
