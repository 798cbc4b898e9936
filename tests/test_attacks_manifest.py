"""Issue 12: a hostile `dataset.yaml` is refused with exit 2 and one line naming the key, never a crash.

Each attack a reviewer found gets a test that checks the library error and the CLI: exit code 2,
the key named, no traceback. Inputs are written into `tmp_path`; nothing outside it is touched.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import DatasetMaker, article
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import ToolkitError
from toolkit.manifest import MAX_MANIFEST_BYTES, load_manifest

HEAD = "name: ok\narticles: [articles.jsonl]\n"
LAYERS = "layers:\n  entities: {kind: span, labels: [PERSON]}\n"


@pytest.fixture
def root(make_dataset: DatasetMaker) -> Path:
    """A dataset folder with one valid article; each test writes its own dataset.yaml."""
    return make_dataset([article()])


def write(root: Path, manifest: str) -> Path:
    (root / "dataset.yaml").write_text(manifest, encoding="utf-8")
    return root


def assert_refused(root: Path, needle: str, command: str = "validate") -> None:
    """Both the library and the CLI refuse the manifest with a message containing NEEDLE."""
    with pytest.raises(ToolkitError, match=re.escape(needle)) as caught:
        load_manifest(root)
    assert caught.value.exit_code == 2
    assert "dataset.yaml" in caught.value.message
    args = [command, str(root)] + (["--out", str(root.parent / "out")] if command == "export" else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


# --- YAML -----------------------------------------------------------------------------------------


def test_alias_bomb_is_refused_before_it_expands(root):
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    write(root, HEAD + LAYERS + "\n".join(levels) + "\ndescription: *a9\n")
    started = time.monotonic()
    assert_refused(root, "YAML aliases (*a0) are not allowed in the manifest")
    assert time.monotonic() - started < 10  # the unbounded expansion took 19 s and 1.5 GB


def test_duplicate_key_is_refused_naming_it(root):
    write(root, HEAD + "layers:\n  entities: {kind: span, labels: [A]}\n  entities: {kind: document, labels: [B]}\n")
    assert_refused(root, "layers: duplicate key 'entities' (line 5)")


def test_oversized_manifest_is_refused_unread(root):
    write(root, HEAD + LAYERS + "description: '" + "x" * MAX_MANIFEST_BYTES + "'\n")
    assert_refused(root, "larger than 1024 KiB")


def test_deep_nesting_is_refused(root):
    write(root, HEAD + LAYERS + "description: " + "[" * 200 + "]" * 200 + "\n")
    assert_refused(root, "nested more than 32 levels deep")


# --- keys, text and numbers -----------------------------------------------------------------------


def test_lone_surrogate_in_pretty_name(root):
    write(root, HEAD + LAYERS + 'pretty_name: "News \\ud800"\n')
    assert_refused(root, r"pretty_name: text is not valid Unicode (lone surrogate \ud800 at character 5)")


def test_lone_surrogate_in_a_label(root):
    write(root, HEAD + 'layers:\n  entities: {kind: span, labels: [PERSON, "\\udc80"]}\n')
    assert_refused(root, r"layers.entities.labels.1: text is not valid Unicode (lone surrogate \udc80", "export")


def test_integer_label_key(root):
    write(root, HEAD + "layers:\n  entities: {kind: span, labels: {1: first, PERSON: a person}}\n")
    assert_refused(root, "layers.entities.labels: key 1 is an integer, not a string (quote it: '1')", "export")


def test_integer_layer_key(root):
    write(root, HEAD + "layers:\n  5: {kind: span, labels: [PERSON]}\n")
    assert_refused(root, "layers: key 5 is an integer, not a string", "export")


@pytest.mark.parametrize("value, shown", [(".nan", "nan"), (".inf", "inf"), ("-.inf", "-inf"), ("1.0e+400", "inf")])
def test_splits_must_be_finite(root, value, shown):
    write(root, HEAD + LAYERS + f"splits: {{train: {value}, validation: 0.5, test: 0.5}}\n")
    assert_refused(root, f"splits.train: {shown} is not a finite number")


# --- paths ----------------------------------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A readable file beside the dataset folder, standing in for /etc/passwd."""
    path = tmp_path / "passwords.jsonl"
    path.write_text("root:x:0:0\n")
    return path


def test_dotdot_glob_is_refused_before_globbing(root, secret):
    write(root, "name: ok\narticles: [articles.jsonl, ../pass*]\n" + LAYERS)
    assert_refused(root, "articles[1]: '../pass*' uses '..'")


def test_absolute_path_is_refused(root, secret):
    write(root, f"name: ok\narticles: ['{secret}']\n" + LAYERS)
    assert_refused(root, f"articles[0]: '{secret}' is an absolute path")


def test_absolute_path_is_allowed_by_opt_in(root, secret):
    write(root, f"name: ok\narticles: ['{secret}']\n" + LAYERS)
    assert load_manifest(root, allow_outside=True).article_files == (secret,)


def test_symlink_out_of_the_folder_is_refused(root, secret):
    (root / "more.jsonl").symlink_to(secret)
    write(root, "name: ok\narticles: ['*.jsonl']\n" + LAYERS)
    assert_refused(root, f"articles[0]: {root / 'more.jsonl'} leads to {secret}, outside the dataset folder")


def test_symlink_that_stays_inside_is_allowed_and_read_once(root):
    (root / "data").mkdir()
    (root / "articles.jsonl").rename(root / "data" / "v2.jsonl")
    (root / "articles.jsonl").symlink_to(Path("data") / "v2.jsonl")
    write(root, "name: ok\narticles: [articles.jsonl, data/v2.jsonl]\n" + LAYERS)
    assert load_manifest(root).article_files == (root / "articles.jsonl",)
    result = CliRunner().invoke(app, ["validate", str(root)])
    assert result.exit_code == 0, result.output


def test_fifo_is_refused_without_opening_it(root):
    os.mkfifo(root / "pipe.jsonl")
    write(root, "name: ok\narticles: ['*.jsonl']\n" + LAYERS)
    assert_refused(root, f"articles[0]: {root / 'pipe.jsonl'} is a FIFO; inputs must be regular files")


def test_directory_matched_by_a_pattern_is_refused(root):
    (root / "old.jsonl").mkdir()
    write(root, "name: ok\narticles: [articles.jsonl]\nannotations: ['*.jsonl']\n" + LAYERS)
    assert_refused(root, f"annotations[0]: {root / 'old.jsonl'} is a directory")


def test_glob_over_20k_files_keeps_each_once(root):
    parts = root / "parts"
    parts.mkdir()
    for i in range(20_000):
        (parts / f"{i:05d}.jsonl").touch()
    write(root, "name: ok\narticles: ['parts/*.jsonl', 'parts/0*.jsonl', parts/19999.jsonl]\n" + LAYERS)
    files = load_manifest(root).article_files
    assert len(files) == 20_000
    assert files[0] == parts / "00000.jsonl" and files[-1] == parts / "19999.jsonl"


def test_absolute_glob_is_allowed_by_opt_in(root, secret):
    write(root, f"name: ok\narticles: ['{secret.parent}/pass*']\n" + LAYERS)
    assert load_manifest(root, allow_outside=True).article_files == (secret,)


def test_folder_named_like_a_glob_is_taken_literally(make_dataset, tmp_path):
    root = make_dataset([article()])
    literal = root.rename(tmp_path / "news[1]")
    write(literal, "name: ok\narticles: ['*.jsonl']\n" + LAYERS)
    assert load_manifest(literal).article_files == (literal / "articles.jsonl",)


def test_a_recursive_glob_does_not_follow_a_symlink_to_the_root_of_the_disk(make_dataset: DatasetMaker) -> None:
    root = make_dataset([article()])
    (root / "sub").mkdir()
    (root / "articles.jsonl").rename(root / "sub" / "articles.jsonl")
    (root / "rootlink").symlink_to("/")
    text = (root / "dataset.yaml").read_text().replace("- articles.jsonl", "- '**/articles.jsonl'")
    (root / "dataset.yaml").write_text(text)
    started = time.monotonic()
    manifest = load_manifest(root)
    assert time.monotonic() - started < 10
    assert [p.relative_to(root).as_posix() for p in manifest.article_files] == ["sub/articles.jsonl"]


def test_a_file_named_with_glob_characters_is_taken_as_written(make_dataset: DatasetMaker) -> None:
    root = make_dataset([article()])
    (root / "articles.jsonl").rename(root / "[v2] articles.jsonl")
    text = (root / "dataset.yaml").read_text().replace("- articles.jsonl", "- '[v2] articles.jsonl'")
    (root / "dataset.yaml").write_text(text)
    assert [p.name for p in load_manifest(root).article_files] == ["[v2] articles.jsonl"]
