"""The dataset card: parsed by huggingface_hub, YAML matches the build, user text cannot break it."""

from __future__ import annotations

import os
import re

import pytest
import yaml
from conftest import article, span

from toolkit.export import export

os.environ.setdefault("HF_HUB_OFFLINE", "1")

NASTY = "Evil | News\n---\n<script>alert(1)</script> `x` ```"


@pytest.fixture
def nasty_build(make_dataset, tmp_path):
    articles = [article(id=f"a{i}", title=f"{NASTY} {i}", source={"name": "S | <b>bold</b>\n---"},
                        published_at="2024-03-01") for i in range(8)]
    annotations = [span(f"e{i}", "PERSON", "Alice", article_id=f"a{i}", annotator="<img src=x> | ---") for i in range(8)]
    layers = {"entities": {"kind": "span", "labels": {"PERSON": "a | person\n---", "ORG": "<script>x</script>", "LOC": None},
                           "overlap": False, "description": "Named | entities"}}
    root = make_dataset(articles, annotations, layers=layers, pretty_name=NASTY, description=NASTY + "\n\n# not a heading",
                        citation="@misc{x,\n title={```\n---}\n}", license="My Custom License | v2",
                        license_link="https://example.org/licence")
    return export(root, format="hf", out_dir=tmp_path / "dist").output


def test_card_parses_and_yaml_is_intact(nasty_build):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(nasty_build / "README.md")
    data = card.data.to_dict()
    assert data["pretty_name"] == " ".join(NASTY.split())
    assert data["license"] == "other" and data["license_name"] == "My Custom License | v2"
    assert data["license_link"] == "https://example.org/licence"
    assert data["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in data["configs"]] == ["articles", "annotations", "ner-entities"]
    text = (nasty_build / "README.md").read_text()
    front = text.split("\n---\n", 1)[0]
    assert yaml.safe_load(front.removeprefix("---\n")) == data
    # Exactly two front matter fences: no user text produced a '---' line.
    assert [line for line in text.splitlines() if line.strip() == "---"] == ["---", "---"]


def test_user_text_is_escaped_in_prose(nasty_build):
    body = (nasty_build / "README.md").read_text().split("\n---\n", 1)[1]
    # Code blocks show user text verbatim (Markdown does not interpret it there); their fences are
    # longer than any backtick run inside, so they cannot be closed early. Check the prose around them.
    prose = re.sub(r"(?ms)^(`{3,})[a-z]*\n.*?\n\1$", "", body)
    assert "````json" in body and "````bibtex" in body
    body = prose
    assert "<script>" not in body and "<img" not in body and "<b>" not in body
    assert "&lt;script&gt;" in body
    assert "\n# not a heading" not in body
    # Every table row keeps its column count despite the pipes in user text.
    for line in body.splitlines():
        if line.startswith("| ") and "\\|" in line:
            assert line.replace("\\|", "").count("|") in (3, 4)


def test_card_sections_and_split_sizes(make_dataset, tmp_path):
    import datasets

    articles = [article(id=f"a{i}", published_at=f"2023-05-{i + 1:02d}T12:00:00Z") for i in range(25)]
    annotations = [span(f"e{i}", "PERSON", "Alice", article_id=f"a{i}", annotator=f"ann-{i % 3}") for i in range(25)]
    out = export(make_dataset(articles, annotations, pretty_name="Sections"), format="hf", out_dir=tmp_path / "d").output
    text = (out / "README.md").read_text()
    for heading in ("## Dataset summary", "## How to load", "## Dataset structure", "## Example instance", "## Splits",
                    "## Labels", "## Source data", "## Annotations", "## Bias, risks, and limitations", "## License",
                    "## Citation"):
        assert heading in text
    assert "2023-05-01 to 2023-05-25" in text
    assert "3 human annotator(s)" in text
    info = yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))["dataset_info"]
    articles_info = next(i for i in info if i["config_name"] == "articles")
    ds = datasets.load_dataset(str(out))
    assert {s["name"]: s["num_examples"] for s in articles_info["splits"]} == {k: len(v) for k, v in ds.items()}


def test_hub_fields_and_notes_are_derived_from_the_build(make_dataset, tmp_path):
    import datasets
    import yaml
    from conftest import article, span

    from toolkit.export import export

    root = make_dataset([article(), article(id="a2")],
                        [span("e1", "PERSON", "Alice", annotator="model:ner", confidence=0.9), span("e2", "ORG", "ACME", annotator="ann-1"),
                         span("e3", "LOC", "Łódź")])
    out = export(root, format="hf", out_dir=tmp_path).output
    card = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["annotations_creators"] == ["expert-generated", "machine-generated", "other"]
    assert meta["multilinguality"] == ["monolingual"] and meta["source_datasets"] == ["original"]
    assert "UTC" not in card.split("## Bias, risks, and limitations")[1]  # no dates in this corpus
    assert "Do not pass `data_files=`" not in card
    assert "| entities | 1 | 1 | 0.900 | 1 |" in card  # gold, silver with its mean confidence, unnamed
    assert datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "c")).num_rows >= 1
