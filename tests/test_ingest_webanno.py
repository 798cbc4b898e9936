"""WebAnno / INCEpTION TSV 3.x importer: INCEpTION's own test files, GUM, synthetic edge cases."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest
import yaml
from conftest import assert_toolkit_validates
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from toolkit.ingest import ImportOptions, webanno
from toolkit.ingest.dataset_writer import write_dataset

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "schema"
REALDATA = ROOT.parent / "shared" / "realdata"
REAL_TSV = REALDATA / "webanno_tsv3"
SUITE = REAL_TSV / "inception_tsv3_suite"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "webanno"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LAYER_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@pytest.fixture
def real_tsv() -> Path:
    if not REAL_TSV.is_dir():
        pytest.skip("shared/realdata/webanno_tsv3 is not available")
    return REAL_TSV


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
    manifest_path = write_dataset(imported, out_dir, "webanno-import")
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



def _where(imported) -> set[tuple[str, int | None]]:
    return {(Path(problem.file).name, problem.line) for problem in imported.problems}


def _spans(imported, layer: str) -> list[tuple[int, int, str, str]]:
    return [
        (a["start"], a["end"], a["text"], a["label"]) for a in imported.annotations if a["layer"] == layer
    ]


def _read_one(path: Path, **options) -> tuple:
    imported = webanno.read([path], ImportOptions(**options))
    [article] = imported.articles
    return imported, article


# --- real data -------------------------------------------------------------------------------


def test_every_real_file_imports_and_validates(real_tsv: Path, tmp_path: Path) -> None:
    imported = webanno.read([real_tsv], ImportOptions(language="en"))
    assert imported.problems == []
    assert len(imported.articles) == 12
    assert imported.skipped == {"unknown header line": 5}  # GUM's #Summary1= ... #Summary5=
    assert all(LAYER_PATTERN.match(layer) for layer in imported.layers)
    assert imported.layers == {
        "referent": "span",
        "coref": "relation",
        "namedentity": "span",
        "pos": "span",
        "dependency": "relation",
        "span": "span",
        "token": "span",
        "complexrelation": "relation",
    }
    manifest, articles, annotations = assert_valid_dataset(imported, tmp_path / "ds")
    assert len(annotations) == 68 + 2 + 3 + 181 + 1 + 2 + 1 + 1 + 3 + 1 + 5


def test_gum_news_document(real_tsv: Path) -> None:
    path = real_tsv / "GUM_news_worship.tsv"
    imported, article = _read_one(path, language="en")
    assert article["id"] == "GUM_news_worship"
    assert article["title"] == "Greek court rules worship of ancient Greek deities is legal"
    layers = Counter(annotation["layer"] for annotation in imported.annotations)
    # Count the referents and coref arcs straight from the columns, independently of the importer:
    # each `[n]` id is one (multi-token) referent, each value without id a single-token one.
    ids, single, arcs = set(), 0, 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"^\d+-\d+\t", line):
            cells = line.split("\t")
            for value in cells[3].split("|"):
                if value != "_":
                    match = re.search(r"\[(\d+)\]$", value)
                    ids.add(match.group(1)) if match else None
                    single += 0 if match else 1
            arcs += 0 if cells[8] == "_" else len(cells[8].split("|"))
    assert layers == {"referent": len(ids) + single, "coref": arcs}
    assert layers == {"referent": 44, "coref": 24}
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    first = by_id["GUM_news_worship-referent-1"]
    assert (first["label"], first["text"]) == ("event", article["title"])
    assert first["attributes"] == {"infstat": "new", "salience": "sssss"}
    # Row 1-1 holds `coref` with source `3-1[8_1]`: from referent 8 (the source) to referent 1.
    arc = by_id["GUM_news_worship-coref-1"]
    assert (arc["label"], arc["head"], arc["tail"]) == (
        "coref",
        "GUM_news_worship-referent-8",
        "GUM_news_worship-referent-1",
    )


def test_wsj_example_pos_ner_and_dependencies(real_tsv: Path) -> None:
    imported, article = _read_one(real_tsv / "inception_example2_wsj.tsv")
    assert imported.problems == []
    layers = Counter(annotation["layer"] for annotation in imported.annotations)
    assert layers == {"pos": 86, "dependency": 86, "namedentity": 9}  # one POS per token
    assert article["text"].startswith("Ms. Haag plays Elianti .\nRolls-Royce Motor Cars Inc. said")
    entities = _spans(imported, "namedentity")
    assert entities[0] == (0, 8, "Ms. Haag", "PER")  # `PER[2]` over two tokens
    # `ORG[7]|PER[8]` on BELL: two stacked annotations, one of them multi-token.
    assert (191, 211, "BELL INDUSTRIES Inc.", "ORG") in entities
    assert (191, 195, "BELL", "PER") in entities
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    dependencies = [a for a in imported.annotations if a["layer"] == "dependency"]
    # `P|ROOT` with `1-5|1-3` on `plays`: two arcs, P from `.` and the ROOT self-loop.
    stacked = [(d["label"], by_id[d["head"]]["text"], by_id[d["tail"]]["text"]) for d in dependencies[2:4]]
    assert stacked == [("P", ".", "plays"), ("ROOT", "plays", "plays")]
    assert all(by_id[d["head"]]["layer"] == "pos" for d in dependencies)


def test_curation_files_and_the_empty_curator_document(real_tsv: Path) -> None:
    folder = real_tsv / "inception_curation_two_annotators"
    imported = webanno.read([folder], ImportOptions())
    assert imported.problems == []
    counts = Counter(annotation["article_id"] for annotation in imported.annotations)
    assert [article["id"] for article in imported.articles] == ["curator", "user1", "user2"]
    # The curator document has no layer header: still a document, with no annotations.
    assert counts == {"user1": 2, "user2": 3}
    curator = imported.articles[0]
    assert curator["text"] == (
        "Mourinho admitted a top four finish for Champions League qualification would now be tough .\n"
    )
    user2 = [(a["text"], a["label"]) for a in imported.annotations if a["article_id"] == "user2"]
    assert user2 == [
        ("Champions League", "ORG"),
        ("Champions League", "ORG"),
        ("Champions League", "ORGpart"),
    ]


def test_suite_emoji_offsets_are_code_points(real_tsv: Path) -> None:
    imported, article = _read_one(SUITE / "testSentenceWithEmoji.tsv")
    assert article["text"] == "I like it 😊 .\n"
    # The file says 10-12 (UTF-16 units); 😊 is one code point.
    assert _spans(imported, "span") == [(10, 11, "😊", "span")]  # `*`: no value, label = layer name


@pytest.mark.parametrize(
    ("name", "text", "spans"),
    [
        (
            "testCrossSentenceSpanWithFeatureValue",
            "He loves her .\nShe loves him not .\n",
            [(0, 34, "He loves her .\nShe loves him not .", "PERSON")],
        ),
        (
            "testMultiTokenStackedSpanWithFeatureValue",
            "This is a test .\n",
            [(0, 16, "This is a test .", "PERSON"), (0, 16, "This is a test .", "LOCATION")],
        ),
        ("testSentenceWithLineBreak", "This is\na test .\n", [(0, 4, "This", "span")]),
        ("testSubMultiTokenSpanWithoutFeatureValue2", "This is a test .\n", [(1, 6, "his i", "span")]),
        (
            "testTokenBoundedSpanWithNastyFeatureValue",
            "This is a test .\n",
            [
                (start, end, word, "de.tudarmstadt.ukp.dkpro.core.api.ner.type.NamedEntity:value")
                for start, end, word in [
                    (0, 4, "This"),
                    (5, 7, "is"),
                    (8, 9, "a"),
                    (10, 14, "test"),
                    (15, 16, "."),
                ]
            ],
        ),
    ],
)
def test_suite_span_cases(real_tsv: Path, name: str, text: str, spans: list) -> None:
    imported, article = _read_one(SUITE / f"{name}.tsv")
    assert imported.problems == []
    assert article["text"] == text
    assert _spans(imported, "span") == spans


def test_suite_line_break_title_is_one_line(real_tsv: Path) -> None:
    _, article = _read_one(SUITE / "testSentenceWithLineBreak.tsv")
    assert article["title"] == "This is a test ."


def test_suite_relation_over_tokens(real_tsv: Path) -> None:
    imported, _ = _read_one(SUITE / "testSingleTokenRelationWithMultipleFeatureValues.tsv")
    by_id = {annotation["id"]: annotation for annotation in imported.annotations}
    [relation] = [a for a in imported.annotations if a["layer"] == "complexrelation"]
    # BT_...Token: the ends are tokens, so they become spans of a `token` layer.
    assert (by_id[relation["head"]]["text"], by_id[relation["tail"]]["text"]) == ("This", ".")
    assert by_id[relation["head"]]["layer"] == "token"
    assert relation["label"] == "nsubj"  # the `value` feature
    assert relation["attributes"] == {"boolValue": "true", "integerValue": "42"}


# --- synthetic cases -------------------------------------------------------------------------


def test_astral_fixture_text_and_code_point_offsets() -> None:
    imported, article = _read_one(FIXTURES / "astral.tsv", language="de")
    assert imported.problems == []
    # Sentence 2 starts 3 units after sentence 1 ends: its line break plus two spaces of padding.
    # Sentence 3 has two #Text lines and escaped `\\` and `\t`.
    assert article["text"] == (
        "Breaking 😀 news : 𝕏 Corp buys Zürich bank .\n  It 🚀 launched .\nPath C:\\dir\nand\tmore 𝄞 .\n"
    )
    assert article["title"] == "Breaking 😀 news : 𝕏 Corp buys Zürich bank ."
    assert article["language"] == "de"
    assert _spans(imported, "namedentity") == [
        (18, 24, "𝕏 Corp", "ORG"),  # the file says 19-26
        (30, 36, "Zürich", "LOC"),
        (30, 41, "Zürich bank", "ORG"),  # stacked with LOC on Zürich, continued on bank by id [3]
        (83, 84, "𝄞", "MISC"),  # the file says 86-88, after three astral characters
    ]
    assert _spans(imported, "sentiment") == [
        (9, 10, "😀", "positive"),
        (11, 15, "news", "very_good [sic]"),  # escaped `\_`, `\[`, `\]`
        (51, 57, "launch", "neutral"),  # on a sub-token
    ]
    entities = [a for a in imported.annotations if a["layer"] == "namedentity"]
    assert entities[0]["attributes"] == {"identifier": "Q1|x"}  # escaped `\|`, not a stack separator
    assert entities[3]["attributes"] == {"identifier": "http://x.org/a_b"}
    [link] = [a for a in imported.annotations if a["layer"] == "link"]
    # `based\_in` with `1-8[4_1]` on the row of 𝕏: from LOC[4] on Zürich to ORG[1].
    assert (link["label"], link["head"], link["tail"]) == ("based_in", entities[1]["id"], entities[0]["id"])
    assert imported.skipped == {"unknown header line": 1, "webanno chain link": 2}


def test_astral_fixture_validates(tmp_path: Path) -> None:
    imported = webanno.read([FIXTURES / "astral.tsv"], ImportOptions(language="de"))
    assert_valid_dataset(imported, tmp_path / "ds")


def test_broken_rows_are_reported_and_the_rest_imported() -> None:
    imported = webanno.read([FIXTURES / "broken.tsv"], ImportOptions())
    assert _where(imported) == {
        ("broken.tsv", 11),  # too few fields (the sentence is still placed by its offsets)
        ("broken.tsv", 12),  # offsets `22-x`
        ("broken.tsv", 13),  # token `HERE` is `here` in the sentence text
        ("broken.tsv", 17),  # sentence starting inside the previous one
        ("broken.tsv", 21),  # token row without a sentence
    }
    [article] = imported.articles
    assert article["text"] == "Good sentence .\nShort row here .\n"
    assert _spans(imported, "span") == [(0, 4, "Good", "X")]  # `Y` was in the skipped sentence


def test_broken_import_still_validates(tmp_path: Path) -> None:
    imported = webanno.read([FIXTURES / "broken.tsv"], ImportOptions())
    assert_valid_dataset(imported, tmp_path / "ds")


@pytest.mark.parametrize(
    ("name", "line"),
    [("not_tsv.tsv", 1), ("latin1.tsv", 4), ("bad_layer.tsv", 2)],
)
def test_unreadable_files_are_one_problem_each(name: str, line: int) -> None:
    imported = webanno.read([FIXTURES / name], ImportOptions())
    assert _where(imported) == {(name, line)}
    assert imported.articles == []
    assert imported.annotations == []


def test_code_point_offsets_option(tmp_path: Path) -> None:
    tsv = "#FORMAT=WebAnno TSV 3.3\n#T_SP=webanno.custom.Span|value\n\n\n#Text=😀 ok .\n"
    tsv += "1-1\t0-1\t😀\t_\t\n1-2\t2-4\tok\tGOOD\t\n1-3\t5-6\t.\t_\t\n"
    (tmp_path / "cp.tsv").write_text(tsv, encoding="utf-8")
    imported, article = _read_one(tmp_path / "cp.tsv", offset_unit="codepoint")
    assert imported.problems == []
    assert _spans(imported, "span") == [(2, 4, "ok", "GOOD")]
    # Read as UTF-16 (the default) the same offsets are one unit short: the tokens say so.
    imported = webanno.read([tmp_path / "cp.tsv"], ImportOptions())
    assert imported.problems and all(problem.line in (6, 7, 8) for problem in imported.problems)


def test_crlf_line_endings(tmp_path: Path) -> None:
    tsv = "#FORMAT=WebAnno TSV 3.2\r\n#T_SP=webanno.custom.Span|value\r\n\r\n\r\n#Text=A b .\r\n"
    tsv += "1-1\t0-1\tA\tX[1]\t\r\n1-2\t2-3\tb\tX[1]\t\r\n1-3\t4-5\t.\t_\t\r\n"
    (tmp_path / "crlf.tsv").write_bytes(tsv.encode("utf-8"))
    imported, article = _read_one(tmp_path / "crlf.tsv")
    assert imported.problems == []
    assert article["text"] == "A b .\n"
    assert _spans(imported, "span") == [(0, 3, "A b", "X")]


def test_slot_features_are_skipped_with_a_count(tmp_path: Path) -> None:
    header = (
        "#FORMAT=WebAnno TSV 3.3\n"
        "#T_SP=webanno.custom.Frame|FE|ROLE_webanno.custom.Frame:Roles_webanno.custom.FrameRolesLink"
        "|webanno.custom.Lu\n#T_SP=webanno.custom.Lu|luvalue\n\n\n"
    )
    body = (
        "#Text=Bob auctioned the clock\n"
        "1-1\t0-3\tBob\t_\t_\t_\tbob\t\n"
        "1-2\t4-13\tauctioned\ttransaction\tseller;goods\t1-1;1-3[4]\t_\t\n"
        "1-3\t14-17\tthe\t_\t_\t_\tclock[4]\t\n"
        "1-4\t18-23\tclock\t_\t_\t_\tclock[4]\t\n"
    )
    (tmp_path / "slots.tsv").write_text(header + body, encoding="utf-8")
    imported, _ = _read_one(tmp_path / "slots.tsv")
    assert imported.problems == []
    assert imported.skipped == {"webanno slot feature": 2}
    assert _spans(imported, "frame") == [(4, 13, "auctioned", "transaction")]
    assert _spans(imported, "lu") == [(0, 3, "Bob", "bob"), (14, 23, "the clock", "clock")]


def test_relation_to_a_missing_annotation_is_a_problem(tmp_path: Path) -> None:
    tsv = (
        "#FORMAT=WebAnno TSV 3.3\n#T_SP=webanno.custom.Span|value\n"
        "#T_RL=webanno.custom.Rel|value|BT_webanno.custom.Span\n\n\n"
        "#Text=A b .\n"
        "1-1\t0-1\tA\tX\t_\t_\t\n"
        "1-2\t2-3\tb\t_\tr\t1-1\t\n"  # the target token b has no Span annotation
        "1-3\t4-5\t.\tY\tr\t1-9\t\n"  # there is no token 1-9
    )
    (tmp_path / "rel.tsv").write_text(tsv, encoding="utf-8")
    imported, _ = _read_one(tmp_path / "rel.tsv")
    assert _where(imported) == {("rel.tsv", 8), ("rel.tsv", 9)}
    assert [a["layer"] for a in imported.annotations] == ["span", "span"]


def test_same_stem_in_two_folders_gives_two_ids(tmp_path: Path) -> None:
    source = (FIXTURES / "astral.tsv").read_bytes()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "doc.tsv").write_bytes(source)
    imported = webanno.read([tmp_path], ImportOptions())
    assert [article["id"] for article in imported.articles] == ["doc", "b-doc"]
    assert len({annotation["id"] for annotation in imported.annotations}) == len(imported.annotations)


def test_missing_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    imported = webanno.read([tmp_path / "nowhere.tsv"], ImportOptions())
    assert _where(imported) == {("nowhere.tsv", None)}
