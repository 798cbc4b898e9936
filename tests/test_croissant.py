"""Croissant export: metadata that mlcroissant 1.1.1 validates and reads back, row for row."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlcroissant as mlc
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import ClassLabel, Features, Image, List, Value

from toolkit.export.croissant import croissant_metadata

TEXT = "Alice Moreau met ACME in Łódź 😊 on Monday.\n\nShe said “no”."

ARTICLES = Features({
    "id": Value("string"),
    "title": Value("string"),
    "text": Value("string"),
    "published_at": Value("timestamp[us, tz=UTC]"),
    "source": {"name": Value("string"), "domain": Value("string")},
    "authors": List(Value("string")),
    "genre": ClassLabel(names=["reporting", "opinion"]),
    "entities": List({
        "id": Value("string"),
        "start": Value("int64"),
        "end": Value("int64"),
        "label": ClassLabel(names=["PERSON", "ORG", "LOC"]),
        "text": Value("string"),
    }),
})
ANNOTATIONS = Features({
    "id": Value("string"),
    "article_id": Value("string"),
    "layer": Value("string"),
    "label": Value("string"),
    "start": Value("int64"),
    "end": Value("int64"),
    "text": Value("string"),
})
CONFIGS = {"articles": ARTICLES, "annotations": ANNOTATIONS}


def entity(ann_id: str, label: int, phrase: str, text: str = TEXT) -> dict[str, Any]:
    start = text.index(phrase)
    return {"id": ann_id, "start": start, "end": start + len(phrase), "label": label, "text": phrase}


# (config, split) → the rows written to data/<config>/<split>-00000-of-00001.parquet.
ROWS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("articles", "train"): [
        {"id": "a1", "title": "Alice meets ACME", "text": TEXT,
         "published_at": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
         "source": {"name": "Le Monde", "domain": "lemonde.fr"}, "authors": ["Zoé Durand", "Bob"],
         "genre": 1,
         "entities": [entity("e1", 0, "Alice Moreau"), entity("e2", 1, "ACME"), entity("e3", 2, "Łódź")]},
        {"id": "a2", "title": "Undated 😊", "text": "Nothing to tag.", "published_at": None,
         "source": {"name": "Example", "domain": "example.org"}, "authors": [], "genre": 0, "entities": []},
    ],
    ("articles", "test"): [
        {"id": "a3", "title": "Łódź", "text": "Łódź 😊", "published_at": datetime(2020, 1, 1, tzinfo=UTC),
         "source": {"name": "Gazeta", "domain": "gazeta.pl"}, "authors": ["Ł. K."], "genre": 0,
         "entities": [entity("e4", 2, "Łódź", "Łódź 😊")]},
    ],
    ("annotations", "train"): [
        {"id": "n1", "article_id": "a1", "layer": "entities", "label": "PERSON", "start": 0, "end": 12,
         "text": "Alice Moreau"},
        {"id": "n2", "article_id": "a1", "layer": "genre", "label": "opinion", "start": None, "end": None,
         "text": None},
    ],
}

DESCRIPTIONS = {
    "articles": {"id": "Unique article id.", "text": "The body.", "source.domain": "The site's domain.",
                 "entities.label": "The entity type"},
    "annotations": {"layer": "The annotation layer."},
}


def metadata_for(files: list[tuple[str, str, str]], **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "name": "sample-news",
        "description": "A tiny sample of annotated news.",
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "url": "https://example.org/sample-news",
        "version": "1.0.0",
        "citation": "@misc{sample-news, title={Sample News}}",
        "date_published": "2024-06-01",
        "configs": CONFIGS,
        "field_descriptions": DESCRIPTIONS,
        "files": files,
    }
    arguments.update(overrides)
    return croissant_metadata(**arguments)


def write_jsonld(folder: Path, metadata: dict[str, Any], name: str = "croissant.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, str]]]:
    """A hub-layout build folder: the Parquet shards and their (config, path, sha256)."""
    root = tmp_path_factory.mktemp("build")
    files = []
    for (config, split), rows in ROWS.items():
        relative = f"data/{config}/{split}-00000-of-00001.parquet"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = CONFIGS[config].arrow_schema
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        files.append((config, relative, hashlib.sha256(path.read_bytes()).hexdigest()))
    write_jsonld(root, metadata_for(files))
    return root, files


def plain(value: Any) -> Any:
    """A record from mlcroissant as plain Python: text decoded, field ids cut to their last name."""
    if isinstance(value, dict):
        return {key.rsplit("/", 1)[-1]: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def expected_rows(config: str) -> list[dict[str, Any]]:
    return [{"split": split, **row} for (name, split), rows in ROWS.items() if name == config for row in rows]


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: row["id"])


def test_mlcroissant_cli_validates_it(build: tuple[Path, list]) -> None:
    cli = Path(sys.executable).with_name("mlcroissant")
    if not cli.exists():
        pytest.skip("no mlcroissant entry point beside this Python")
    result = subprocess.run(
        [str(cli), "validate", "--jsonld", str(build[0] / "croissant.json")],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mlcroissant_loads_it_without_errors_or_warnings(build: tuple[Path, list]) -> None:
    dataset = mlc.Dataset(jsonld=build[0] / "croissant.json")
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    assert dataset.metadata.name == "sample-news"
    assert {record_set.id for record_set in dataset.metadata.record_sets} == {
        "articles", "articles_splits", "annotations", "annotations_splits", "labels/entities", "labels/genre"}


def test_label_names_are_an_enumeration_mlcroissant_reads(build: tuple[Path, list]) -> None:
    dataset = mlc.Dataset(jsonld=build[0] / "croissant.json")
    names = {r["labels/entities/id"]: r["labels/entities/name"] for r in dataset.records("labels/entities")}
    assert {k: v.decode() if isinstance(v, bytes) else v for k, v in names.items()} == {0: "PERSON", 1: "ORG", 2: "LOC"}


@pytest.mark.parametrize("config", ["articles", "annotations"])
def test_records_are_every_row_of_every_shard_exactly(build: tuple[Path, list], config: str) -> None:
    dataset = mlc.Dataset(jsonld=build[0] / "croissant.json")
    records = [plain(record) for record in dataset.records(config)]
    assert by_id(records) == by_id(expected_rows(config))


def test_text_and_nested_lists_round_trip_exactly(build: tuple[Path, list]) -> None:
    dataset = mlc.Dataset(jsonld=build[0] / "croissant.json")
    a1 = next(record for record in dataset.records("articles") if record["articles/id"] == b"a1")
    assert a1["articles/text"].decode("utf-8") == TEXT
    entities = a1["articles/entities"]
    assert [e["articles/entities/text"].decode("utf-8") for e in entities] == ["Alice Moreau", "ACME", "Łódź"]
    for e in entities:  # offsets are code points into the text
        start, end = e["articles/entities/start"], e["articles/entities/end"]
        assert TEXT[start:end] == e["articles/entities/text"].decode("utf-8")
    assert a1["articles/published_at"] == pd.Timestamp("2024-05-01T12:30:15.123456Z")


def test_split_filter_reads_only_that_split(build: tuple[Path, list]) -> None:
    dataset = mlc.Dataset(jsonld=build[0] / "croissant.json")
    records = [plain(record) for record in dataset.records("articles", filters={"articles/split": "test"})]
    assert records == [row for row in expected_rows("articles") if row["split"] == "test"]


def test_file_objects_carry_the_shards_true_sha256(build: tuple[Path, list]) -> None:
    root, _files = build
    metadata = json.loads((root / "croissant.json").read_text(encoding="utf-8"))
    objects = [node for node in metadata["distribution"] if node["@type"] == "cr:FileObject"]
    assert sorted(node["contentUrl"] for node in objects) == sorted(
        f"data/{config}/{split}-00000-of-00001.parquet" for config, split in ROWS)
    for node in objects:
        assert node["sha256"] == hashlib.sha256((root / node["contentUrl"]).read_bytes()).hexdigest()
        assert node["encodingFormat"] == "application/x-parquet"


def test_a_wrong_sha256_is_detected_on_a_file_object_mlcroissant_reads(build: tuple[Path, list]) -> None:
    # Our record sets read through the FileSets, and mlcroissant 1.1.1 hashes only the FileObjects
    # a field reads directly — so a reader of croissant.json never has the hashes checked. This
    # checks that the FileObjects we write are ones mlcroissant can verify: point the articles
    # fields at the test shard's FileObject, and a wrong sha256 there must fail the read.
    root, _files = build
    metadata = json.loads((root / "croissant.json").read_text(encoding="utf-8"))
    shard = "data/articles/test-00000-of-00001.parquet"

    def read_from_file_object(field: dict[str, Any]) -> None:
        if "source" in field:
            del field["source"]["fileSet"]
            field["source"]["fileObject"] = {"@id": shard}
        for sub_field in field.get("subField", []):
            read_from_file_object(sub_field)

    articles = next(node for node in metadata["recordSet"] if node["@id"] == "articles")
    articles["field"] = [field for field in articles["field"] if field["@id"] != "articles/split"]
    for field in articles["field"]:
        read_from_file_object(field)
    good = write_jsonld(root, metadata, "direct-good.json")
    assert [plain(r)["id"] for r in mlc.Dataset(jsonld=good).records("articles")] == ["a3"]

    next(node for node in metadata["distribution"] if node["@id"] == shard)["sha256"] = "0" * 64
    bad = write_jsonld(root, metadata, "direct-bad.json")
    with pytest.raises(Exception) as raised:
        list(mlc.Dataset(jsonld=bad).records("articles"))
    chain = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__
    assert any("Hash of downloaded file" in message for message in chain), chain


def test_same_arguments_give_the_same_document(build: tuple[Path, list]) -> None:
    _root, files = build
    first = metadata_for(files)
    second = metadata_for(list(reversed(files)))
    assert first == second
    assert json.dumps(first, ensure_ascii=False) == json.dumps(second, ensure_ascii=False)
    first["@context"]["cr"] = "changed"  # a caller editing its copy changes nothing shared
    assert metadata_for(files)["@context"]["cr"] == "http://mlcommons.org/croissant/"


def fields_of(metadata: dict[str, Any], record_set: str) -> dict[str, dict[str, Any]]:
    node = next(node for node in metadata["recordSet"] if node["@id"] == record_set)
    return {field["name"]: field for field in node["field"]}


def test_shape_follows_croissant_1_1(build: tuple[Path, list]) -> None:
    _root, files = build
    metadata = metadata_for(files)
    assert metadata["@type"] == "sc:Dataset"
    assert metadata["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    assert metadata["citeAs"].startswith("@misc") and metadata["datePublished"] == "2024-06-01"
    file_sets = [node for node in metadata["distribution"] if node["@type"] == "cr:FileSet"]
    assert [node["includes"] for node in file_sets] == [
        "data/articles/*.parquet", "data/annotations/*.parquet"]

    fields = fields_of(metadata, "articles")
    assert list(fields) == ["split", *ARTICLES]
    assert fields["split"]["references"] == {"field": {"@id": "articles_splits/split_name"}}
    assert fields["published_at"]["dataType"] == "sc:DateTime"
    assert fields["id"]["description"] == "Unique article id."
    assert fields["genre"]["dataType"] == "sc:Integer"
    assert "0 = reporting, 1 = opinion" in fields["genre"]["description"]
    assert fields["authors"]["isArray"] is True and fields["authors"]["dataType"] == "sc:Text"
    source = {sub["name"]: sub for sub in fields["source"]["subField"]}
    assert source["domain"]["description"] == "The site's domain."
    assert source["domain"]["source"]["transform"] == {"jsonPath": "domain"}
    entities = fields["entities"]
    assert entities["isArray"] is True and "dataType" not in entities and "source" not in entities
    label = next(sub for sub in entities["subField"] if sub["name"] == "label")
    assert label["description"] == (
        "The entity type. Class label, an index into: 0 = PERSON, 1 = ORG, 2 = LOC (record set labels/entities).")
    assert label["source"] == {"fileSet": {"@id": "parquet-files-for-config-articles"},
                               "extract": {"column": "entities"}, "transform": {"jsonPath": "label"}}
    splits = next(node for node in metadata["recordSet"] if node["@id"] == "articles_splits")
    assert splits["dataType"] == "cr:Split"
    assert splits["data"] == [{"articles_splits/split_name": "test"}, {"articles_splits/split_name": "train"}]


def test_absent_optional_properties_are_left_out(build: tuple[Path, list]) -> None:
    metadata = metadata_for(build[1], url=None, version=None, citation=None, date_published=None)
    assert not {"url", "version", "citeAs", "datePublished"} & set(metadata)


SHA = "a" * 64


@pytest.mark.parametrize(("overrides", "message"), [
    ({"files": [("articles", "articles/train-00000-of-00001.parquet", SHA)]}, "is not named"),
    ({"files": [("articles", "data/articles/train.parquet", SHA)]}, "is not named"),
    ({"files": [("articles", "data/annotations/train-00000-of-00001.parquet", SHA)]}, "is not named"),
    ({"files": [("other", "data/other/train-00000-of-00001.parquet", SHA)]}, "unknown config"),
    ({"files": [("articles", "data/articles/train-00000-of-00001.parquet", "ABC")]}, "sha256"),
    ({"files": [("articles", "data/articles/train-00000-of-00001.parquet", SHA)]}, "has no Parquet shard"),
    ({"date_published": "June 2024"}, "ISO 8601"),
    ({"configs": {"articles": Features({"cover": Image()})}}, "does not map feature"),
    ({"configs": {"articles": Features({"blob": Value("binary")})}}, "does not map Arrow type"),
    ({"configs": {"articles": Features({"split": Value("string")})}}, "share the @id"),
])
def test_arguments_a_build_never_produces_are_refused(overrides: dict[str, Any], message: str) -> None:
    files = [("articles", "data/articles/train-00000-of-00001.parquet", SHA),
             ("annotations", "data/annotations/train-00000-of-00001.parquet", SHA)]
    arguments = {"files": files, **copy.deepcopy(overrides)}
    if "configs" in overrides:
        arguments["files"] = files[:1]
    with pytest.raises(ValueError, match=message):
        metadata_for(**arguments)


def test_the_driver_hashes_no_shard_and_every_other_file_once(tmp_path, monkeypatch):
    import hashlib
    from collections import Counter

    from conftest import EXAMPLE

    import toolkit.export as export_module

    calls: Counter = Counter()
    real = export_module.sha256_file

    def counting(path):
        calls[path] += 1
        return real(path)

    monkeypatch.setattr(export_module, "sha256_file", counting)
    result = export_module.export(EXAMPLE, format="hf", out_dir=tmp_path)
    assert calls and max(calls.values()) == 1
    shards = {p.name for p in result.files if p.relative_to(result.output).parts[0] == "data"}
    assert shards and not shards & {p.name for p in calls}  # the workers that wrote them hashed them
    # What they said is what is there: SHA256SUMS and Croissant against the files themselves.
    sums = dict(line.split("  ")[::-1] for line in (result.output / "SHA256SUMS").read_text().splitlines())
    metadata = json.loads((result.output / "croissant.json").read_text())
    in_croissant = {f["contentUrl"]: f["sha256"] for f in metadata["distribution"] if "sha256" in f}
    for path in (result.output / "data").rglob("*.parquet"):
        relative = path.relative_to(result.output).as_posix()
        assert sums[relative] == in_croissant[relative] == hashlib.sha256(path.read_bytes()).hexdigest()
