"""The contract every registered importer keeps, whatever it is fed (issue 13 item 1).

Parametrised over `toolkit.ingest.IMPORTERS`, so an importer added there is held to it without
anyone remembering to: it never raises on garbage (only a clean `ToolkitError`), ids are unique,
every problem names a file (and the line, where the input has one), and the dataset it writes
passes the toolkit's own validator with no invalid record.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from conftest import SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import toolkit
from toolkit.errors import ToolkitError
from toolkit.ingest import IMPORTERS, Imported, ImportOptions, get_importer, import_dataset
from toolkit.ingest.builder import visible
from toolkit.problems import IMPORT_CODES

REAL = SHARED / "realdata"
PTC = REAL / "semeval2020_task11_ptc"

# One real export per tool: (the name the file gets in the import folder, the real file). Every
# file of a sample is mutated the same way; brat and SemEval need a text and its annotations.
SAMPLES: dict[str, list[tuple[str, Path]]] = {
    "labelstudio": [("export.json", REAL / "label_studio_json" / "ls_test_tasks_annotations_predictions.json")],
    "doccano": [("export.jsonl", REAL / "doccano_jsonl" / "doccano_1x_2020_export_annotations_style.jsonl")],
    "brat": [
        ("doc.txt", REAL / "brat_standoff" / "brat_tutorial_news" / "100-attribute_annotation.txt"),
        ("doc.ann", REAL / "brat_standoff" / "brat_tutorial_news" / "100-attribute_annotation.ann"),
    ],
    "webanno": [("doc.tsv", REAL / "webanno_tsv3" / "inception_example2_wsj.tsv")],
    "semeval": [
        ("article111111111.txt", PTC / "train-articles" / "article111111111.txt"),
        (
            "article111111111.task2-TC.labels",
            PTC / "train-labels-task2-technique-classification" / "article111111111.task2-TC.labels",
        ),
    ],
    "conll": [("train.conll", REAL / "conll_bio" / "flair_fashion_eng.train.conll")],
    "spacy": [("tasks.jsonl", REAL / "spacy_prodigy_jsonl" / "explosion_fashion_brands_training_4records.jsonl")],
}
TOOLS = list(IMPORTERS)
BAD_LINE = 2  # where `invalid_utf8` puts its undecodable bytes


def _wrong_format(tool: str) -> Callable[[bytes], bytes]:
    """Another tool's real export, under this tool's file names."""
    other = TOOLS[(TOOLS.index(tool) + 1) % len(TOOLS)]
    content = SAMPLES[other][-1][1].read_bytes()
    return lambda _: content


def _invalid_utf8(data: bytes) -> bytes:
    first, _, rest = data.partition(b"\n")
    return first + b"\n\xff\xfe" + rest


MUTATIONS: dict[str, Callable[[bytes], bytes]] = {
    "real": lambda data: data,
    "empty": lambda _: b"",
    "truncated-half": lambda data: data[: len(data) // 2],
    "truncated-mid-character": lambda data: data[: _inside_a_character(data)],
    "invalid-utf8": _invalid_utf8,
    "random-bytes": lambda data: random.Random(len(data)).randbytes(len(data)),
    "lone-surrogate-escape": lambda data: data.replace(b'"text": "', b'"text": "\\ud83d', 1),
    "crlf-and-bom": lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
}


def _inside_a_character(data: bytes) -> int:
    """An offset that cuts a multi-byte UTF-8 character, or the middle when the file has none."""
    return next((i + 1 for i, byte in enumerate(data) if byte >= 0xC0), len(data) // 2)


def _write_sample(tool: str, folder: Path, mutate: Callable[[bytes], bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, real in SAMPLES[tool]:
        (folder / name).write_bytes(mutate(real.read_bytes()))
        written.append(folder / name)
    return written


def _lines_of(path: Path) -> int:
    data = path.read_bytes()
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _assert_problems_located(problems: list, files: list[Path]) -> None:
    """Every problem names one of the input files (or an input folder) and a line that file has."""
    names = {str(f) for f in files} | {str(f.parent) for f in files}
    for problem in problems:
        assert problem.file in names, problem
        assert problem.code in IMPORT_CODES and problem.message, problem
        if problem.line is not None:
            assert 1 <= problem.line <= max(_lines_of(Path(problem.file)), 1), problem


def _assert_ids_unique(imported_articles: list[dict], imported_annotations: list[dict]) -> None:
    article_ids = [a["id"] for a in imported_articles]
    annotation_ids = [a["id"] for a in imported_annotations]
    assert len(set(article_ids)) == len(article_ids)
    assert len(set(annotation_ids)) == len(annotation_ids)


def _jsonl(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("mutation", list(MUTATIONS) + ["wrong-format"])
@pytest.mark.parametrize("tool", TOOLS)
def test_whatever_the_input_the_written_dataset_passes_the_real_validator(
    tool: str, mutation: str, tmp_path: Path
) -> None:
    mutate = _wrong_format(tool) if mutation == "wrong-format" else MUTATIONS[mutation]
    files = _write_sample(tool, tmp_path / "in", mutate)
    try:
        summary = import_dataset(tool, [tmp_path / "in"], tmp_path / "ds", options=ImportOptions(language="en"))
    except ToolkitError:
        return  # a clean refusal (exit 2) is within the contract
    _assert_problems_located(summary.problems, files)
    articles, annotations = _jsonl(tmp_path / "ds" / "articles.jsonl"), _jsonl(tmp_path / "ds" / "annotations.jsonl")
    _assert_ids_unique(articles, annotations)
    report = toolkit.validate(tmp_path / "ds")
    assert report.ok, [(p.code, p.message) for p in report.problems[:5]]
    assert all(counts.invalid == 0 for counts in report.counts.values())
    assert report.counts["articles"].read == summary.articles
    assert report.counts["annotations"].read == summary.annotations


@pytest.mark.parametrize("tool", TOOLS)
def test_an_undecodable_line_is_reported_with_its_file_and_line(tool: str, tmp_path: Path) -> None:
    files = _write_sample(tool, tmp_path / "in", _invalid_utf8)
    imported = get_importer(tool)([tmp_path / "in"], ImportOptions())
    first = files[0]
    assert (str(first), BAD_LINE) in {(p.file, p.line) for p in imported.problems}


@pytest.mark.parametrize("tool", TOOLS)
def test_a_missing_input_is_a_problem_naming_it(tool: str, tmp_path: Path) -> None:
    imported = get_importer(tool)([tmp_path / "absent.txt"], ImportOptions())
    assert [(p.file, p.line) for p in imported.problems] == [(str(tmp_path / "absent.txt"), None)]
    assert imported.articles == [] and imported.annotations == []


def _assert_records_sound(imported: Imported) -> None:
    """What the validator would check first, cheap enough for every generated example."""
    _assert_ids_unique(imported.articles, imported.annotations)
    by_id = {a["id"]: a for a in imported.articles}
    assert all(visible(a["text"]) and visible(a["title"]) for a in imported.articles)  # validate's blank-text
    span_ids = set()
    for annotation in imported.annotations:
        assert annotation["label"] in imported.labels[annotation["layer"]]
        if "start" in annotation:
            text = by_id[annotation["article_id"]][annotation.get("field", "text")]
            assert 0 <= annotation["start"] < annotation["end"] <= len(text)
            assert text[annotation["start"] : annotation["end"]] == annotation["text"]
            span_ids.add(annotation["id"])
        if "head" in annotation:
            assert {annotation["head"], annotation["tail"]} <= span_ids
    for record in [*imported.articles, *imported.annotations]:
        orjson.dumps(record)  # refuses a lone surrogate, which no UTF-8 file can hold


def _mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """The real file with a stretch replaced by random bytes, cut short, or both."""
    position = st.integers(0, len(data))
    return st.tuples(position, position, st.binary(max_size=12), st.booleans()).map(
        lambda t: (data[: min(t[0], t[1])] + t[2] + data[max(t[0], t[1]) :])[: t[0] if t[3] else None]
    )


@pytest.mark.parametrize("tool", TOOLS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), unit=st.sampled_from([None, "codepoint", "utf16"]))
def test_generated_garbage_never_raises_and_gives_sound_records(
    tool: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, unit: str | None
) -> None:
    folder = tmp_path_factory.mktemp(tool)
    samples = {name: real.read_bytes() for name, real in SAMPLES[tool]}
    files = []
    for name, content in samples.items():
        generated = data.draw(_mutated(content) | st.binary(max_size=64), label=name)
        (folder / name).write_bytes(generated)
        files.append(folder / name)
    imported = get_importer(tool)([folder], ImportOptions(offset_unit=unit))  # type: ignore[arg-type]
    _assert_problems_located(imported.problems, files)
    _assert_records_sound(imported)
