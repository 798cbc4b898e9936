"""doccano importer: every real export in the shared realdata folder, synthetic edge cases, and the
imported records written as a dataset and checked against the schemas."""

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

from toolkit.ingest import Imported, ImportOptions, doccano
from toolkit.ingest.dataset_writer import write_dataset

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "doccano_jsonl"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doccano"
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LAYER = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# file → (articles, annotations, problem lines, skipped), from reading each file by hand.
EXPECTED = {
    "doccano_1x_2020_export_annotations_style.jsonl": (3, 3, [], {}),
    "doccano_2019_labels_style.jsonl": (3, 4, [], {}),
    # Line 1 has a literal `...` inside its array.
    "doccano_2019_upload_example_INVALID_contains_ellipsis.jsonl": (2, 2, [1], {}),
    "doccano_import_test_overlapping_duplicate_span.jsonl": (1, 1, [], {"duplicate annotation": 1}),
    # Line 3 has no text.
    "doccano_import_test_seq_labeling_missing_text.jsonl": (2, 1, [3], {}),
    # One pretty-printed object: 4 entities + 3 relations.
    "doccano_v1x_export_relation_example_PRETTYPRINTED_not_strict_jsonl.json": (1, 7, [], {}),
    "doccano_v1x_export_seq_labeling_text_label.jsonl": (3, 4, [], {}),
    "doccano_v1x_relation_entities_relations.jsonl": (1, 7, [], {}),
    # id 101319 three times: three articles all the same.
    "flair_fixture_doccano_data_label_style.jsonl": (5, 7, [], {}),
}


def real_files() -> list[Path]:
    return (
        sorted(p for p in REALDATA.iterdir() if p.suffix in (".jsonl", ".json")) if REALDATA.is_dir() else []
    )


def needs_realdata() -> None:
    if not REALDATA.is_dir():
        pytest.skip("shared realdata folder is absent")


def read(*paths: Path, **options: object) -> Imported:
    return doccano.read(list(paths), ImportOptions(**options))


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
            assert 0 <= annotation["start"] < annotation["end"] <= len(article["text"])
            assert annotation["text"] == article["text"][annotation["start"] : annotation["end"]]
        elif "head" in annotation:
            assert imported.layers[layer] == "relation"
            for end in (annotation["head"], annotation["tail"]):
                assert by_id[end]["article_id"] == annotation["article_id"] and "start" in by_id[end]
        else:
            assert imported.layers[layer] == "document"


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
    manifest_path = write_dataset(imported, out, "doccano-import")
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
    assert len(imported.articles) == sum(e[0] for e in EXPECTED.values())
    assert len(imported.annotations) == sum(e[1] for e in EXPECTED.values())
    write_and_check(imported, tmp_path / "ds")


def test_broken_real_files_name_file_and_line() -> None:
    ellipsis = (
        FIXTURES / "doccano_2019_upload_example_INVALID_contains_ellipsis.jsonl"
    )  # copy of the real file
    (problem,) = read(ellipsis).problems
    assert (problem.file, problem.line) == (str(ellipsis), 1)
    assert problem.message.startswith("invalid JSON: Expecting value")
    needs_realdata()
    missing = REALDATA / "doccano_import_test_seq_labeling_missing_text.jsonl"
    (problem,) = read(missing).problems
    assert (problem.file, problem.line) == (str(missing), 3) and "no text" in problem.message


def test_pretty_printed_file_is_read_whole() -> None:
    needs_realdata()
    imported = read(REALDATA / "doccano_v1x_export_relation_example_PRETTYPRINTED_not_strict_jsonl.json")
    spans = {a["id"]: a["text"] for a in imported.annotations if "start" in a}
    relations = [
        (a["label"], spans[a["head"]], spans[a["tail"]]) for a in imported.annotations if "head" in a
    ]
    assert relations == [
        ("foundedAt", "Google", "September 4, 1998"),
        ("foundedBy", "Google", "Larry Page"),
        ("foundedBy", "Google", "Sergey Brin"),
    ]
    compact = read(REALDATA / "doccano_v1x_relation_entities_relations.jsonl")
    assert [a["label"] for a in compact.annotations] == [a["label"] for a in imported.annotations]


def test_generations_map_to_the_same_layers() -> None:
    needs_realdata()
    annotations_style = read(REALDATA / "doccano_1x_2020_export_annotations_style.jsonl")
    assert [(a["label"], a["text"], a["annotator"]) for a in annotations_style.annotations] == [
        ("ORG", "EU", "user1"),
        ("PERSON", "Peter Blackburn", "user1"),
        ("PERSON", "Obama", "user1"),
    ]
    assert annotations_style.articles[0]["meta"] == {"annotation_approver": "supervisor"}
    labels_style = read(REALDATA / "doccano_2019_labels_style.jsonl")
    assert labels_style.layers == {"entities": "span"}
    assert [a["meta"] for a in labels_style.articles] == [{"wikiPageID": str(n)} for n in (1, 2, 3)]
    assert labels_style.articles[0]["id"] == "doc-doccano_2019_labels_style-1"  # no id: file stem + line


def test_duplicate_ids_made_unique() -> None:
    path = FIXTURES / "flair_fixture_doccano_data_label_style.jsonl"  # copy of the real file
    imported = read(path)
    assert [a["id"] for a in imported.articles] == [
        "doc-101319",
        "doc-101319-L2",
        "doc-101319-L3",
        "doc-101320",
        "doc-101321",
    ]
    assert imported.articles[1]["meta"] == {"doccano_id": "101319"}
    assert imported.problems == []
    assert [a["text"] for a in imported.annotations[:3]] == ["New Berlin", "New Berlin", "New Berlin."]


def test_same_file_twice_keeps_article_ids_unique(tmp_path: Path) -> None:
    path = FIXTURES / "flair_fixture_doccano_data_label_style.jsonl"
    imported = read(path, path)
    check_records(imported)
    assert len(imported.articles) == 10


# --- synthetic cases ---------------------------------------------------------------------------


@pytest.fixture
def synthetic() -> Imported:
    return read(FIXTURES / "synthetic.jsonl")


def texts(imported: Imported, article_id: str) -> list[tuple[str, int, int, str]]:
    return [
        (a["label"], a["start"], a["end"], a["text"])
        for a in imported.annotations
        if a["article_id"] == article_id and "start" in a
    ]


def test_utf16_offsets_after_emoji_converted(synthetic: Imported) -> None:
    check_records(synthetic)
    assert texts(synthetic, "doc-7") == [
        ("PER", 2, 5, "Ana"),
        ("PER", 10, 12, "Bo"),
        ("LOC", 16, 19, "Rio"),
        ("FLAG", 20, 22, "🇧🇷"),  # two astral code points, four UTF-16 units
    ]
    assert texts(synthetic, "doc-10") == [("ORG", 2, 8, "Google"), ("PER", 17, 21, "Page")]


def test_code_point_offsets_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "cp.jsonl"
    path.write_text(
        json.dumps({"id": 1, "text": "😀 Ana", "label": [[2, 5, "PER"]]}) + "\n", encoding="utf-8"
    )
    assert texts(read(path, offset_unit="codepoint"), "doc-1") == [("PER", 2, 5, "Ana")]
    assert texts(read(path), "doc-1") == [("PER", 1, 4, " An")]  # read as UTF-16 it means something else


def test_offset_inside_an_emoji_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps({"id": 1, "text": "😀 Ana", "label": [[1, 4, "X"], [3, 6, "PER"]]}) + "\n")
    imported = read(path)
    assert texts(imported, "doc-1") == [("PER", 2, 5, "Ana")]
    (problem,) = imported.problems
    assert problem.line == 1 and "surrogate pair" in problem.message and "codepoint" in problem.message
    assert texts(read(path, offset_unit="codepoint"), "doc-1") == [("X", 1, 4, " An")]


def test_duplicate_span_kept_once(synthetic: Imported) -> None:
    assert synthetic.skipped == {"duplicate annotation": 1}
    assert [t[0] for t in texts(synthetic, "doc-7")].count("LOC") == 1


def test_two_users_on_one_span_both_kept(synthetic: Imported) -> None:
    on_peter = [
        (a["layer"], a["label"], a["annotator"]) for a in synthetic.annotations if a["article_id"] == "doc-8"
    ]
    assert on_peter == [
        ("entities", "PERSON", "alice"),
        ("entities", "PERSON", "user-2"),
        ("label", "4", "user-2"),  # a 1.x document label without label_name: its id is all there is
    ]


def test_classification_labels_and_cats(synthetic: Imported) -> None:
    on_markets = [(a["layer"], a["label"]) for a in synthetic.annotations if a["article_id"] == "doc-9"]
    assert on_markets == [("label", "business"), ("label", "positive"), ("category", "finance")]
    assert synthetic.layers["label"] == synthetic.layers["category"] == "document"
    assert synthetic.articles[2]["text"] == "Markets rallied today."  # from `data`


def test_relations_resolve_and_unknown_entity_reported(synthetic: Imported) -> None:
    (relation,) = [a for a in synthetic.annotations if "head" in a]
    assert (relation["layer"], relation["label"], relation["head"], relation["tail"]) == (
        "relations",
        "employs",
        "doc-10-s1",
        "doc-10-s2",
    )
    assert any(p.line == 4 and "to_id 99" in p.message for p in synthetic.problems)


def test_bad_lines_are_problems_with_file_and_line(synthetic: Imported) -> None:
    path = str(FIXTURES / "synthetic.jsonl")
    assert {p.file for p in synthetic.problems} == {path}
    lines = [(p.line, p.message.split(":")[0]) for p in synthetic.problems]
    assert lines == [
        (4, "relation 6"),
        (5, "invalid JSON"),
        (6, "record has no text ('text' or 'data' string); skipped"),
        (7, "label [0, 50, 'X']"),
        (7, "label [2, '4', 'Y']"),
        (9, "record is not a JSON object; skipped"),
    ]
    assert [a["id"] for a in synthetic.articles] == ["doc-7", "doc-8", "doc-9", "doc-10", "doc-12"]


def test_meta_keeps_scalars_as_strings(synthetic: Imported) -> None:
    assert synthetic.articles[0]["meta"] == {"source": "wire", "n": "2", "ok": "true"}
    assert "meta" not in synthetic.articles[1]  # annotation_approver null, comments a list


def test_synthetic_writes_a_schema_valid_dataset(synthetic: Imported, tmp_path: Path) -> None:
    write_and_check(synthetic, tmp_path / "ds")


@pytest.mark.parametrize(
    ("content", "lines", "words", "kept"),
    [
        (b'{"text": "caf\xe9"}\n{"text": "ok"}\n', [1], "not UTF-8", ["ok"]),
        (b'{"text": "bad \\ud83d"}\n{"text": "ok"}\n', [1], "lone surrogate", ["ok"]),
        # Looks pretty-printed but is not JSON either way: each line is reported.
        (b'{\n"text": "a",\n}\n', [1, 2, 3], "invalid JSON", []),
        (b'\xef\xbb\xbf{"text": "ok"}\r\n\r\n', [], "", ["ok"]),  # BOM and CRLF are fine
        (b'[{"text": "ok"}, {"text": "ok too"}]', [], "", ["ok", "ok too"]),  # a one-line JSON array
        (b'[\n  {"text": "ok"},\n  {"text": "ok too"}\n]\n', [], "", ["ok", "ok too"]),  # pretty-printed
    ],
)
def test_odd_files(tmp_path: Path, content: bytes, lines: list[int], words: str, kept: list[str]) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_bytes(content)
    imported = read(path)
    assert [p.line for p in imported.problems] == lines
    assert all(words in p.message and p.file == str(path) for p in imported.problems)
    check_records(imported)
    assert [a["text"] for a in imported.articles] == kept


def test_pretty_printed_array_records_keep_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "array.json"
    path.write_text('[\n  {"text": "ok"},\n  {"label": []}\n]\n')
    imported = read(path)
    assert [a["id"] for a in imported.articles] == ["doc-array-2"]
    assert [p.line for p in imported.problems] == [3]


def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    (problem,) = read(missing).problems
    assert (problem.file, problem.line) == (str(missing), None)


def test_importer_is_registered() -> None:
    from toolkit.ingest import get_importer

    try:
        importer = get_importer("doccano")
    except ImportError:
        pytest.skip("another importer of the registry is not written yet")
    assert importer is doccano.read


def test_imported_dataset_passes_toolkit_validate(tmp_path: Path) -> None:
    from toolkit import validate as check

    manifest = write_dataset(read(FIXTURES, *real_files(), language="en"), tmp_path / "ds", "doccano-import")
    report = check(manifest.parent)
    assert report.ok, getattr(report, "problems", report)[:5]


# --- whatever the input, no exception and only valid records -----------------------------------

_TEXT = "😀 Ana met Bo 🇧🇷 in Rio."
_scalars = st.none() | st.booleans() | st.integers(-3, 40) | st.floats() | st.text(max_size=6)
_offset = st.integers(-1, 30)
_triple = st.tuples(_offset, _offset, st.sampled_from(["PER", "LOC", ""]) | _scalars).map(list)
_record = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(0, 3) | st.text(max_size=4) | _scalars,
        "text": st.just(_TEXT) | st.text(alphabet="ab 😀\n", max_size=12) | _scalars,
        "data": st.just(_TEXT) | _scalars,
        "label": st.lists(_triple | st.sampled_from(["pos", "neg"]) | _scalars, max_size=4) | _scalars,
        "labels": st.lists(_triple, max_size=3),
        "annotations": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "label": st.integers(0, 3) | _scalars,
                    "label_name": _scalars,
                    "start_offset": _offset,
                    "end_offset": _offset,
                    "user": _scalars,
                    "user_name": _scalars,
                },
            )
            | _scalars,
            max_size=3,
        ),
        "entities": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.integers(0, 3),
                    "start_offset": _offset,
                    "end_offset": _offset,
                    "label": st.sampled_from(["ORG", "PER"]),
                }
            ),
            max_size=4,
        ),
        "relations": st.lists(
            st.fixed_dictionaries(
                {"from_id": st.integers(0, 4), "to_id": st.integers(0, 4)}, optional={"type": _scalars}
            ),
            max_size=3,
        ),
        "cats": st.dictionaries(st.text(max_size=3), _scalars, max_size=2) | _scalars,
        "meta": st.dictionaries(st.text(max_size=3), _scalars | st.lists(_scalars), max_size=3) | _scalars,
    },
)


# Mostly well-formed records, so spans, labels and relations are really imported, not only rejected.
_UNITS = len(_TEXT.encode("utf-16-le")) // 2
_start = st.integers(0, _UNITS - 1)
_plausible_triple = st.tuples(_start, st.integers(1, 4), st.sampled_from(["PER", "LOC"])).map(
    lambda t: [t[0], t[0] + t[1], t[2]]  # may end past the text or inside a surrogate pair
)
_plausible_entity = st.tuples(
    st.integers(0, 3), _start, st.integers(1, 4), st.sampled_from(["ORG", "PER"])
).map(lambda t: {"id": t[0], "start_offset": t[1], "end_offset": t[1] + t[2], "label": t[3]})
_plausible_record = st.fixed_dictionaries(
    {"text": st.just(_TEXT)},
    optional={
        "id": st.integers(0, 3),
        "label": st.lists(_plausible_triple | st.sampled_from(["pos", "neg"]), max_size=5),
        "entities": st.lists(_plausible_entity, max_size=4),
        "relations": st.lists(
            st.fixed_dictionaries(
                {"from_id": st.integers(0, 3), "to_id": st.integers(0, 3)},
                optional={"type": st.sampled_from(["rel", ""])},
            ),
            max_size=3,
        ),
        "cats": st.dictionaries(st.sampled_from(["a", "b"]), st.floats(0, 1) | st.booleans(), max_size=2),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_plausible_record | _record | _scalars | st.just("{not json"), min_size=1, max_size=6),
    utf16=st.booleans(),
)
def test_any_input_gives_valid_records_or_problems(lines: list, utf16: bool) -> None:
    validators = schema_validators()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.jsonl"
        rows = [line if line == "{not json" else json.dumps(line, ensure_ascii=False) for line in lines]
        path.write_text("\n".join(rows), encoding="utf-8")
        imported = read(path, offset_unit="utf16" if utf16 else "codepoint")
    check_records(imported)
    for article in imported.articles:
        assert not list(validators["article"].iter_errors(article))
    for annotation in imported.annotations:
        assert not list(validators["annotation"].iter_errors(annotation))
