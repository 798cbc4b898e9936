"""CoNLL/IOB importer: every real file in the shared realdata folder, each tagging scheme by hand,
broken lines located, and the spans tagged back onto the tokens equal to the file's tags."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import assert_toolkit_validates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.ingest import Imported, ImportOptions, conll
from toolkit.ingest.dataset_writer import write_dataset

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata" / "conll_bio"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "conll"

# file → (articles, {(layer, label): annotations}, problem lines, detected scheme), measured once
# and checked by reading each file.
EXPECTED: dict[str, tuple[int, dict[tuple[str, str], int], list[int], str]] = {
    "doccano_import_test_example.conll": (1, {("entities", "LOC"): 1, ("entities", "PER"): 1}, [], "iob2"),
    # Line 1 `SOCCERO SOCCERO SOCCERO` has no TAB: its sentence (lines 1-12) is left out.
    "doccano_import_test_labeling.invalid.conll": (
        1,
        {("entities", "PER"): 1, ("entities", "LOC"): 2},
        [1],
        "iob2",
    ),
    "doccano_import_test_labeling.trailing.conll": (1, {("entities", "LOC"): 1, ("entities", "PER"): 1}, [], "iob2"),
    # IOB2 with one S-Occasion: read as BIOES, B-/I- runs without E- accepted.
    "flair_fashion_eng.train.conll": (
        1,
        {
            ("entities", "NamedPerson"): 4,
            ("entities", "NominalProduct"): 1,
            ("entities", "ProductPart"): 6,
            ("entities", "ProductDesign"): 1,
            ("entities", "NamedOrganizationPublisher"): 1,
            ("entities", "NamedOrganizationOther"): 1,
            ("entities", "NamedOrganizationBrand"): 1,
            ("entities", "Activity"): 2,
            ("entities", "NamedLocation"): 5,
            ("entities", "Occasion"): 1,
        },
        [],
        "bioes",
    ),
    # One Wikipedia sentence; its inner column is all O, so no entities_inner layer.
    "germeval2014_NER-de-dev_excerpt_flair_fixture.tsv": (
        1,
        {("entities", "OTH"): 1, ("entities", "ORG"): 1, ("entities", "LOC"): 1},
        [],
        "iob2",
    ),
    # Two sentences from two sources: two articles.
    "germeval2014_NER-de-train_excerpt_flair_fixture.tsv": (
        2,
        {("entities", "PER"): 3, ("entities", "ORG"): 1, ("entities", "LOC"): 1},
        [],
        "iob2",
    ),
    "spacy_ner-token-per-line.iob": (
        1,
        {("entities", "PERSON"): 2, ("entities", "ORG"): 2, ("entities", "DATE"): 2, ("entities", "NORP"): 1},
        [],
        "iob2",
    ),
}


def real_files() -> list[Path]:
    return sorted(p for p in REALDATA.iterdir() if p.is_file()) if REALDATA.is_dir() else []


def read(*paths: Path, **options: object) -> Imported:
    return conll.read(list(paths), ImportOptions(), **options)  # type: ignore[arg-type]


def write(tmp_path: Path, content: str, name: str = "t.conll") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def spans(imported: Imported, layer: str = "entities") -> list[tuple[str, str]]:
    return [(a["label"], a["text"]) for a in imported.annotations if a["layer"] == layer]


def problems(imported: Imported) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in imported.problems]


# --- a reader of the test's own, to compare the importer with -----------------------------------


def file_sentences(path: Path) -> list[list[list[str]]]:
    """Sentences as lists of field lists, by the plainest reading (no comments, no -DOCSTART-)."""
    text = path.read_text(encoding="utf-8")
    tab = "\t" in text
    sentences: list[list[list[str]]] = [[]]
    for line in text.split("\n"):
        if not line.strip() or line.startswith(("-DOCSTART-", "#")):
            if sentences[-1]:
                sentences.append([])
            continue
        sentences[-1].append(line.split("\t") if tab else line.split())
    return [s for s in sentences if s]


def to_iob2(tags: list[str]) -> list[str]:
    """Any of IOB1, IOB2, BIOES, BILOU as IOB2, the way conlleval reads chunks."""
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag == "O":
            out.append("O")
        else:
            prefix, label = tag.split("-", 1)
            continues = prefix in "IEL" and previous[2:] == label and previous[:1] not in ("E", "S", "L", "U", "O")
            out.append(f"{'I' if continues else 'B'}-{label}")
        previous = tag
    return out


def tags_from_spans(line: str, line_start: int, layer_spans: list[dict]) -> list[str]:
    """IOB2 tags of the line's space-separated tokens from the spans; a span must start and end on
    token edges."""
    starts, position = [], line_start
    for token in line.split(" "):
        starts.append((position, position + len(token)))
        position += len(token) + 1
    tags = ["O"] * len(starts)
    for span in layer_spans:
        covered = [i for i, (s, e) in enumerate(starts) if s >= span["start"] and e <= span["end"]]
        if not covered:
            continue
        assert starts[covered[0]][0] == span["start"] and starts[covered[-1]][1] == span["end"], span
        tags[covered[0]] = f"B-{span['label']}"
        for i in covered[1:]:
            tags[i] = f"I-{span['label']}"
    return tags


# --- every real file ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_imports_to_expected_records(path: Path) -> None:
    assert path.name in EXPECTED, f"new real file {path.name}: add its expected counts"
    articles, labels, problem_lines, scheme = EXPECTED[path.name]
    imported = read(path)
    assert len(imported.articles) == articles
    assert Counter((a["layer"], a["label"]) for a in imported.annotations) == labels
    assert [p.line for p in imported.problems] == problem_lines
    assert {p.file for p in imported.problems} <= {str(path)}
    assert imported.skipped == {}
    sequences = [[fields[-1] for fields in s] for s in file_sentences(path)]
    assert conll.detect_scheme(sequences) == scheme


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_writes_a_dataset_the_toolkit_validates(path: Path, tmp_path: Path) -> None:
    write_dataset(read(path), tmp_path / "ds", "conll-import")
    assert_toolkit_validates(tmp_path / "ds")


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_real_file_spans_tag_back_to_the_file_tags(path: Path) -> None:
    imported = read(path)
    layout = conll.detect_layout([f for s in file_sentences(path) for f in s])
    assert layout is not None
    broken_lines = {p.line for p in imported.problems}
    sentences = file_sentences(path)
    if broken_lines:
        # Only the invalid file: its first sentence, holding the broken line, is left out.
        assert broken_lines == {1}
        sentences = sentences[1:]
    lines = [(a, line) for a in imported.articles for line in a["text"].split("\n")]
    assert len(lines) == len(sentences)
    offsets: dict[str, int] = {}
    for (article, line), sentence in zip(lines, sentences, strict=True):
        start = offsets.get(article["id"], 0)
        offsets[article["id"]] = start + len(line) + 1
        assert line.split(" ") == [fields[layout.token] for fields in sentence]
        for layer, column in zip(("entities", "entities_inner"), layout.tags, strict=False):
            layer_spans = [
                a
                for a in imported.annotations
                if a["article_id"] == article["id"] and a["layer"] == layer and start <= a["start"] < start + len(line)
            ]
            assert tags_from_spans(line, start, layer_spans) == to_iob2([fields[column] for fields in sentence])


def test_whole_realdata_folder_keeps_ids_unique(tmp_path: Path) -> None:
    if not REALDATA.is_dir():
        pytest.skip("shared realdata folder is absent")
    imported = read(REALDATA)
    assert len(imported.articles) == sum(e[0] for e in EXPECTED.values())
    assert len(imported.annotations) == sum(sum(e[1].values()) for e in EXPECTED.values())
    write_dataset(imported, tmp_path / "ds", "conll-all")
    assert_toolkit_validates(tmp_path / "ds")


def test_germeval_source_lines_become_url_and_meta() -> None:
    imported = read(FIXTURES / "germeval2014_NER-de-train_excerpt_flair_fixture.tsv")  # copy of the real file
    assert [a["meta"] for a in imported.articles] == [
        {
            "conll_file": "germeval2014_NER-de-train_excerpt_flair_fixture.tsv",
            "conll_line": "1",
            "source": "n-tv.de vom 26.02.2005",
            "source_date": "2005-02-26",
        },
        {
            "conll_file": "germeval2014_NER-de-train_excerpt_flair_fixture.tsv",
            "conll_line": "28",
            "source": "welt.de vom 29.10.2005",
            "source_date": "2005-10-29",
        },
    ]
    assert imported.articles[1]["text"].startswith("Firmengründer Wolf Peter Bree arbeitete")
    assert spans(imported) == [
        ("PER", "Schartau"),
        ("ORG", "Tagesspiegel"),
        ("PER", "Fischer"),
        ("PER", "Wolf Peter Bree"),
        ("LOC", "Libanon"),
    ]
    if REALDATA.is_dir():
        (dev,) = read(REALDATA / "germeval2014_NER-de-dev_excerpt_flair_fixture.tsv").articles
        assert dev["url"] == "http://de.wikipedia.org/wiki/Toyota_Crown"


def test_broken_real_file_names_file_and_line() -> None:
    path = FIXTURES / "doccano_import_test_labeling.invalid.conll"  # copy of the real file
    imported = read(path)
    assert problems(imported) == [
        (1, "1 column where the file's token lines have 2; its sentence (lines 1-12) is left out")
    ]
    assert imported.articles[0]["text"] == "Nadim Ladki\nAL-AIN , United Arab Emirates 1996-12-06"
    assert spans(imported) == [("PER", "Nadim Ladki"), ("LOC", "AL-AIN"), ("LOC", "United Arab Emirates")]


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_exit_1_with_located_problems_and_0_when_clean(tmp_path: Path) -> None:
    runner = CliRunner()
    broken = FIXTURES / "doccano_import_test_labeling.invalid.conll"
    result = runner.invoke(app, ["import", "conll", str(broken), "--out", str(tmp_path / "bad")])
    assert result.exit_code == 1, result.output
    assert f"{broken}:1:" in "".join(result.output.split())
    assert "Traceback" not in result.output
    assert_toolkit_validates(tmp_path / "bad")
    clean = FIXTURES / "germeval2014_NER-de-train_excerpt_flair_fixture.tsv"
    result = runner.invoke(app, ["import", "conll", str(clean), "--out", str(tmp_path / "ok"), "--language", "de"])
    assert result.exit_code == 0, result.output
    assert "2 articles, 5 annotations" in result.output
    assert_toolkit_validates(tmp_path / "ok")


# --- tagging schemes, by hand ------------------------------------------------------------------


IOB1 = "John I-PER\nSmith I-PER\nMary B-PER\nmet O\nBerlin I-LOC\nParis I-ORG\n"
IOB2 = "John B-PER\nSmith I-PER\nMary B-PER\nmet O\nBerlin B-LOC\nParis B-ORG\n"
BIOES = "John B-PER\nSmith E-PER\nMary S-PER\nmet O\nNew B-LOC\nYork I-LOC\nCity E-LOC\n"
BILOU = "John B-PER\nSmith L-PER\nMary U-PER\nmet O\n"


@pytest.mark.parametrize(
    ("content", "scheme", "expected"),
    [
        (IOB1, "iob1", [("PER", "John Smith"), ("PER", "Mary"), ("LOC", "Berlin"), ("ORG", "Paris")]),
        (IOB2, "iob2", [("PER", "John Smith"), ("PER", "Mary"), ("LOC", "Berlin"), ("ORG", "Paris")]),
        (BIOES, "bioes", [("PER", "John Smith"), ("PER", "Mary"), ("LOC", "New York City")]),
        (BILOU, "bioes", [("PER", "John Smith"), ("PER", "Mary")]),
    ],
    ids=["iob1", "iob2", "bioes", "bilou"],
)
def test_each_scheme_detected_and_decoded(tmp_path: Path, content: str, scheme: str, expected: list) -> None:
    path = write(tmp_path, content)
    imported = read(path)
    assert problems(imported) == []
    tags = [line.split(" ")[-1] for line in content.splitlines()]
    assert conll.detect_scheme([tags]) == scheme
    assert spans(imported) == expected
    (article,) = imported.articles
    assert tags_from_spans(article["text"], 0, imported.annotations) == to_iob2(tags)


def test_iob1_type_change_starts_a_new_entity_but_is_an_error_in_iob2(tmp_path: Path) -> None:
    content = "Ann I-PER\nBerlin I-LOC\nsaid O\n"
    assert spans(read(write(tmp_path, content))) == [("PER", "Ann"), ("LOC", "Berlin")]  # detected IOB1
    imported = read(write(tmp_path, content), scheme="iob2")
    assert spans(imported) == []
    assert problems(imported) == [
        (1, "I-PER does not continue an entity (iob2); the entity is left out"),
        (2, "I-LOC continues a PER entity (iob2); the entity is left out"),
    ]


def test_iob2_errors_leave_out_the_entity_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Ann B-PER\nLee I-PER\nin O\nNew I-LOC\nYork I-LOC\n, O\nACME B-ORG\nInc I-LOC\nand O\nBob B-PER\nX-Y B-\n"
        "Zed PER\nend O\n",
    )
    imported = read(path)
    assert spans(imported) == [("PER", "Ann Lee")]
    assert problems(imported) == [
        (4, "I-LOC does not continue an entity (iob2); the entity is left out"),
        (8, "I-LOC continues a ORG entity (iob2); the entity is left out"),
        (11, "illegal tag 'B-' in the PER entity (iob2); the entity is left out"),
        (12, "illegal tag 'PER' in the PER entity (iob2); the entity is left out"),
    ]
    assert imported.articles[0]["text"] == "Ann Lee in New York , ACME Inc and Bob X-Y Zed end"


def test_bioes_end_without_begin_is_an_error(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "the O\nCity E-LOC\nMary S-PER\n"))
    assert spans(imported) == [("PER", "Mary")]
    assert problems(imported) == [(2, "E-LOC does not continue an entity (bioes); the entity is left out")]


def test_bioes_tags_illegal_when_iob2_is_forced(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "Mary S-PER\nsaid O\n"), scheme="iob2")
    assert spans(imported) == []
    assert problems(imported) == [(1, "illegal tag 'S-PER' (iob2); read as O")]


# --- documents, sentences, columns -------------------------------------------------------------


def test_docstart_separates_articles_and_blank_lines_sentences(tmp_path: Path) -> None:
    content = (
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
        "\n-DOCSTART- -X- -X- O\n\n-DOCSTART- -X- -X- O\n\nBonn NNP B-NP B-LOC\n"
    )
    imported = read(write(tmp_path, content, "eng.testa"))
    assert [(a["id"], a["text"], a["title"]) for a in imported.articles] == [
        ("eng-1", "EU rejects\nPeter", "EU rejects"),
        ("eng-3", "Bonn", "Bonn"),
    ]
    assert imported.skipped == {"empty document": 1}
    # The POS and chunk columns are not entities: only the last column is.
    assert [(a["article_id"], a["label"], a["start"], a["end"], a["text"]) for a in imported.annotations] == [
        ("eng-1", "ORG", 0, 2, "EU"),
        ("eng-1", "PER", 11, 16, "Peter"),
        ("eng-3", "LOC", 0, 4, "Bonn"),
    ]
    assert imported.layers == {"entities": "span"}


def test_nested_column_is_its_own_layer(tmp_path: Path) -> None:
    content = (
        "#\thttps://example.org/a\t[2014-01-02]\n1\tDie\tO\tO\n2\tBerliner\tB-ORG\tB-LOCderiv\n3\tPolizei\tI-ORG\tO\n"
        "\n#\thttps://example.org/a\t[2014-01-02]\n1\tHallo\tO\tO\n"
        "\n#\thttps://example.org/b\t[2014-01-03]\n1\tBonn\tB-LOC\tO\n"
    )
    imported = read(write(tmp_path, content, "germeval.tsv"))
    assert [(a["text"], a["url"], a["meta"]["source_date"]) for a in imported.articles] == [
        ("Die Berliner Polizei\nHallo", "https://example.org/a", "2014-01-02"),
        ("Bonn", "https://example.org/b", "2014-01-03"),
    ]
    assert spans(imported) == [("ORG", "Berliner Polizei"), ("LOC", "Bonn")]
    assert spans(imported, "entities_inner") == [("LOCderiv", "Berliner")]
    assert imported.layers == {"entities": "span", "entities_inner": "span"}
    write_dataset(imported, tmp_path / "ds", "nested")
    assert_toolkit_validates(tmp_path / "ds")


def test_hash_token_is_a_token_and_other_comments_are_skipped(tmp_path: Path) -> None:
    content = "# sent_id = 1\n# O\nwins B-MISC\n\n# text = no source here\nok O\n"
    imported = read(write(tmp_path, content))
    assert imported.articles[0]["text"] == "# wins\nok"
    assert spans(imported) == [("MISC", "wins")]
    assert imported.skipped == {"comment line": 2}


def test_offsets_count_code_points(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "😀\tO\nŁódź\tB-LOC\n𝕏\tB-ORG\nCorp\tI-ORG\n"))
    text = imported.articles[0]["text"]
    assert [(a["start"], a["end"], a["text"]) for a in imported.annotations] == [(2, 6, "Łódź"), (7, 13, "𝕏 Corp")]
    assert all(text[a["start"] : a["end"]] == a["text"] for a in imported.annotations)


def test_token_with_no_break_space_is_kept_whole(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "10\u00a0000 B-QUANTITY\nmen O\n"))
    assert spans(imported) == [("QUANTITY", "10\u00a0000")]


def test_undecodable_line_leaves_out_its_sentence(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conll"
    path.write_bytes(b"ok O\n\ncaf\xe9 B-LOC\nbar O\n\nBonn B-LOC\n")
    imported = read(path)
    assert problems(imported) == [(3, "not UTF-8; its sentence (lines 3-4) is left out")]
    assert imported.articles[0]["text"] == "ok\nBonn"
    assert spans(imported) == [("LOC", "Bonn")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no token lines with a tag column (at least two columns) found; nothing imported"),
        ("just\nwords\n", "no token lines with a tag column (at least two columns) found; nothing imported"),
    ],
)
def test_file_without_tags_is_one_problem(tmp_path: Path, content: str, message: str) -> None:
    imported = read(write(tmp_path, content))
    assert (imported.articles, problems(imported)) == ([], [(None, message)])


def test_layout_and_scheme_can_be_given(tmp_path: Path) -> None:
    path = write(tmp_path, "B-PER John x\nI-PER Smith x\n")
    imported = read(path, layout=conll.Layout(columns=3, token=1, tags=(0,)))
    assert spans(imported) == [("PER", "John Smith")]


def test_same_stem_in_two_folders_gives_two_ids(tmp_path: Path) -> None:
    for folder in ("train", "dev"):
        (tmp_path / folder).mkdir()
        write(tmp_path / folder, "Bonn B-LOC\n", "x.conll")
    imported = read(tmp_path)
    assert [a["id"] for a in imported.articles] == ["x-1", "x-1-2"]
    assert len({a["id"] for a in imported.annotations}) == 2


# --- any input ---------------------------------------------------------------------------------

_field = st.sampled_from(["Ann", "#", "-DOCSTART-", "😀", "1", "2", "_", "O", "B-PER", "I-PER", "E-LOC", "S-LOC"])
_tag = st.sampled_from(["O", "B-PER", "I-PER", "I-LOC", "E-PER", "S-LOC", "L-PER", "U-ORG", "B-", "PER", ""])
_line = st.one_of(
    st.just(""),
    st.tuples(st.lists(_field, max_size=3), _tag, st.sampled_from(["\t", " "])).map(lambda t: t[2].join([*t[0], t[1]])),
    st.sampled_from(["#\thttps://example.org/x\t[2020-01-01]", "# text = hi", "-DOCSTART- -X- O", "\xff\xfe"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=14), scheme=st.sampled_from([None, "iob1", "iob2", "bioes"]))
def test_any_input_gives_exact_spans_or_located_problems(tmp_path: Path, lines: list[str], scheme: str | None) -> None:
    path = tmp_path / "any.conll"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape").replace(b"\xc3\xbf\xc3\xbe", b"\xff\xfe"))
    imported = conll.read([path], ImportOptions(), scheme=scheme)  # type: ignore[arg-type]
    texts = {a["id"]: a["text"] for a in imported.articles}
    assert len(texts) == len(imported.articles)
    assert len({a["id"] for a in imported.annotations}) == len(imported.annotations)
    for annotation in imported.annotations:
        text = texts[annotation["article_id"]]
        assert 0 <= annotation["start"] < annotation["end"] <= len(text)
        assert text[annotation["start"] : annotation["end"]] == annotation["text"]
        assert annotation["label"] in imported.labels[annotation["layer"]]
    assert all(p.file == str(path) for p in imported.problems)


def test_invisible_document_is_a_problem_not_a_blank_article(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "\u200b\tO\n\u200d\tO\n"))
    assert imported.articles == []
    # Worded as every importer words a blank text (toolkit.ingest.builder).
    assert problems(imported) == [(1, "the document has no text (only whitespace or format characters)")]


def test_column_without_any_tag_is_one_file_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "EU NNP\nrejects VBZ\n\nPeter NNP\n")
    imported = read(path)
    assert imported.articles == []
    assert problems(imported) == [(None, "column 2 holds no IOB tags (line 1: 'NNP'); nothing imported")]


def test_trailing_tab_is_not_a_column(tmp_path: Path) -> None:
    imported = read(write(tmp_path, "Bonn\tB-LOC\t\nis\tO\t\n"))
    assert (problems(imported), spans(imported)) == ([], [("LOC", "Bonn")])
