"""The schemas: valid Draft 2020-12, fully described, shipped in the wheel, and the two engines agree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import jsonschema
import pytest
from conftest import EXAMPLE, REPO, article, span
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.schemas import SCHEMA_NAMES, fast_validator, load_schema, reference_validator


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_against_its_metaschema(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def _properties(node, path=""):
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            yield f"{path}/{key}", value
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{path}/{i}")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_property_has_a_description(name):
    missing = [path for path, spec in _properties(load_schema(name)) if not spec.get("description")]
    assert missing == []


def test_repo_schemas_are_the_packaged_ones():
    for name in SCHEMA_NAMES:
        assert (REPO / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    assert (REPO / "toolkit" / "schema").resolve() == (REPO / "schema").resolve()


MUTATIONS = {
    "drop": lambda rec, key: {k: v for k, v in rec.items() if k != key},
    "int": lambda rec, key: {**rec, key: 7},
    "empty": lambda rec, key: {**rec, key: ""},
    "null": lambda rec, key: {**rec, key: None},
    "list": lambda rec, key: {**rec, key: ["x"]},
    "weird": lambda rec, key: {**rec, key: "2021-13-01T25:00:00+1:00 ü"},
    "neg": lambda rec, key: {**rec, key: -1},
    "extra": lambda rec, key: {**rec, f"{key}_x": 1},
}

ARTICLE = article(published_at="2022-03-21T10:52:00+02:00", url="https://example.org/a",
                  source={"name": "S", "domain": "example.org"}, authors=["A"], media=[{"kind": "image", "caption": "c"}],
                  related=[{"title": "R"}], meta={"k": "v"}, retrieved_at="2022-03-21T10:52:00Z",
                  annotations=[{"id": "g1", "layer": "genre", "label": "opinion"}])
ANNOTATION = dict(span("e1", "PERSON", "Alice"), annotator="model:x", confidence=0.5,
                  created_at="2022-03-21T10:52:00.123Z", attributes={"a": 1, "b": True, "c": "s"})


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["article", "annotation"]),
    mutations=st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 30)), max_size=3),
)
def test_fast_engine_agrees_with_reference(kind, mutations):
    record = dict(ARTICLE if kind == "article" else ANNOTATION)
    for name, index in mutations:
        keys = sorted(record)
        record = MUTATIONS[name](record, keys[index % len(keys)])
    assert fast_validator(kind).is_valid(record) == reference_validator(kind).is_valid(record)


def test_engines_agree_on_the_example_corpus_and_its_breakage():
    import orjson

    if not EXAMPLE.exists():
        pytest.skip("example corpus not present")
    for name, kind in (("articles.jsonl", "article"), ("annotations.jsonl", "annotation")):
        for raw in (EXAMPLE / name).read_bytes().splitlines():
            record = orjson.loads(raw)
            assert fast_validator(kind).is_valid(record) and reference_validator(kind).is_valid(record)
            for key in list(record):
                broken = {k: v for k, v in record.items() if k != key}
                assert fast_validator(kind).is_valid(broken) == reference_validator(kind).is_valid(broken)


def test_wheel_ships_schemas_and_cli_runs_from_elsewhere(tmp_path):
    """`pip install .` (not editable), then `news-toolkit validate` from another directory."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in SCHEMA_NAMES:
        assert f"toolkit/schema/{name}.schema.json" in names
    # Every package of the source tree is in the wheel (an editable install would hide a missing one).
    for init in (REPO / "toolkit").rglob("__init__.py"):
        assert init.relative_to(REPO).as_posix() in names
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dataset = elsewhere / "ds"
    dataset.mkdir()
    (dataset / "dataset.yaml").write_text("name: x\narticles: [a.jsonl]\nlayers: {}\n")
    (dataset / "a.jsonl").write_text('{"id": "a", "title": "T", "text": "x", "language": "en"}\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run([sys.executable, "-c", "import toolkit, sys; sys.argv=['news-toolkit', 'validate', 'ds'];"
                             "assert 'site' in toolkit.__file__, toolkit.__file__;"
                             "from toolkit.cli import main; main()"],
                            cwd=elsewhere, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
