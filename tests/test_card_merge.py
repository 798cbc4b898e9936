"""The card is true for its build (issue 11 item 3): CARD.md prose survives rebuilds, hub id, version, task ids."""

from __future__ import annotations

import os

import datasets
import pytest
import yaml
from conftest import article, span

from toolkit.errors import ToolkitError
from toolkit.export import export
from toolkit.export.curated import merge_sections, split_sections
from toolkit.manifest import load_manifest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CURATED = """Written by the curators.

## Citation

Cite the paper, not the build.

## Known issues

```python
## not a heading: inside a fence
```

Some labels in 2019 articles are noisy.
"""


def front_matter(card: str) -> dict:
    return yaml.safe_load(card.split("\n---\n", 1)[0].removeprefix("---\n"))


def headings(card: str) -> list[str]:
    return [heading for heading, _ in split_sections(card.split("\n---\n", 1)[1])[1]]


def test_curated_sections_replace_or_follow_and_survive_every_build(make_dataset, tmp_path):
    root = make_dataset([article()], [span("e1", "PERSON", "Alice Moreau")])
    plain = (export(root, format="hf", out_dir=tmp_path / "a").output / "README.md").read_text(encoding="utf-8")
    (root / "CARD.md").write_text(CURATED, encoding="utf-8")
    card = (export(root, format="hf", out_dir=tmp_path / "a").output / "README.md").read_text(encoding="utf-8")
    assert "Cite the paper, not the build." in card and "No citation was given" not in card
    assert headings(card) == [*headings(plain), "Known issues"]  # Citation kept its place, the new one follows
    assert card.index("Written by the curators.") < card.index("## Dataset summary")
    assert "## not a heading: inside a fence" in card
    assert front_matter(card) == front_matter(plain)  # the front matter is always generated
    (root / "CARD.md").write_text(CURATED.replace("noisy", "noisy; fixed in 2.0"), encoding="utf-8")
    again = (export(root, format="hf", out_dir=tmp_path / "a").output / "README.md").read_text(encoding="utf-8")
    assert "noisy; fixed in 2.0." in again and "Cite the paper, not the build." in again
    elsewhere = export(root, format="hf", out_dir=tmp_path / "b").output
    assert (elsewhere / "README.md").read_text(encoding="utf-8") == again  # byte-identical for the same input
    assert (elsewhere / "SHA256SUMS").read_bytes() == (tmp_path / "a" / "test-ds" / "SHA256SUMS").read_bytes()


def test_a_curated_front_matter_is_ignored_with_a_warning(make_dataset, tmp_path):
    root = make_dataset([article()])
    (root / "CARD.md").write_text("---\nlicense: mit\n---\n## Uses\n\nFor teaching.\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="front matter is ignored"):
        card = (export(root, format="hf", out_dir=tmp_path).output / "README.md").read_text(encoding="utf-8")
    assert front_matter(card)["license"] != "mit" and "## Uses\n\nFor teaching." in card


def test_merge_keeps_a_heading_written_twice():
    merged = merge_sections("# T\n\n## A\n\ngenerated", "## A\n\nfirst\n\n## A\n\nsecond")
    assert merged == "# T\n\n## A\n\nfirst\n\n## A\n\nsecond"


def test_a_card_that_is_not_utf8_is_refused(make_dataset, tmp_path):
    root = make_dataset([article()])
    (root / "CARD.md").write_bytes(b"## Uses\n\n\xff\n")
    with pytest.raises(ToolkitError, match="CARD.md: not UTF-8") as caught:
        export(root, format="hf", out_dir=tmp_path)
    assert caught.value.exit_code == 2


def test_hub_id_version_and_task_ids(make_dataset, tmp_path):
    root = make_dataset([article()], [span("e1", "PERSON", "Alice Moreau")], hub_id="news-org/test-ds",
                        version="2.1.0")
    out = export(root, format="hf", out_dir=tmp_path / "d").output
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "load_dataset('news-org/test-ds')" in card and "<namespace>" not in card
    meta = front_matter(card)
    assert meta["task_ids"] == ["named-entity-recognition", "multi-class-classification", "multi-label-classification"]
    assert {c["version"] for c in meta["configs"]} == {"2.1.0"}
    for config in ("articles", "ner-entities"):
        ds = datasets.load_dataset(str(out), config, split="train", cache_dir=str(tmp_path / "c"))
        assert str(ds.info.version) == "2.1.0"


def test_without_hub_id_the_card_names_a_namespace_to_replace(make_dataset, tmp_path):
    root = make_dataset([article()], version="1.0.0-rc.1")
    out = export(root, format="hf", out_dir=tmp_path / "d").output
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "load_dataset('<namespace>/test-ds')" in card and "Replace `<namespace>`" in card
    # datasets 5.2 refuses a pre-release as a config version: it is in the prose only, and the build loads.
    assert all("version" not in c for c in front_matter(card)["configs"]) and "Version 1.0.0-rc.1." in card
    assert datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c")).num_rows == 1


@pytest.mark.parametrize(("key", "value"), [
    ("hub_id", "no-slash"), ("hub_id", "a/b/c"), ("version", "1.0"), ("task_ids", "named-entity-recognition"),
])
def test_bad_card_keys_are_refused_naming_the_key(make_dataset, key, value):
    root = make_dataset([article()], **{key: value})
    with pytest.raises(ToolkitError) as caught:
        load_manifest(root)
    assert caught.value.exit_code == 2 and f": {key}: " in str(caught.value)
