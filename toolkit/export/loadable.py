"""A minimal dataset card for `--format parquet` and `--format jsonl`, so `load_dataset(folder)` works.

Without it `datasets` sees every file under `data/` as one dataset: the articles and annotations
files both match "train" and loading fails with a CastError. Only the `configs` mapping is
written (the full card with statistics is `--format hf`'s job); Parquet shards carry their
features, label names included, in their own metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from toolkit.arrow_types import RowPlan, annotation_features, article_features
from toolkit.export.card import escape, one_line
from toolkit.manifest import Manifest


def configs(split_files: dict[str, dict[str, list[Path]]]) -> list[dict]:
    """The card's `configs`: one per config (articles first, the default), its files per split."""
    return [
        {
            "config_name": config,
            **({"default": True} if config == "articles" else {}),
            "data_files": [{"split": split, "path": f"data/{config}/{split}-*"} for split in splits],
        }
        for config, splits in split_files.items()
    ]


def _labels_as_strings(feature: Any) -> Any:
    """The feature with every ClassLabel a string: JSONL rows carry label names, not class ids."""
    import datasets

    if isinstance(feature, datasets.ClassLabel):
        return datasets.Value("string")
    if isinstance(feature, datasets.List):
        return datasets.List(_labels_as_strings(feature.feature))
    if isinstance(feature, dict):
        return {key: _labels_as_strings(value) for key, value in feature.items()}
    return feature


def jsonl_features(plan: RowPlan) -> dict[str, Any]:
    """Per config, the features `datasets` should cast JSONL rows to (else it infers dates without a zone)."""
    import datasets

    return {"articles": datasets.Features(_labels_as_strings(article_features(plan))),
            "annotations": annotation_features(plan)}


def write_readme(staging: Path, manifest: Manifest, split_files: dict[str, dict[str, list[Path]]],
                 format_name: str, features: dict[str, Any] | None = None) -> Path:
    """Write `README.md` into the build: YAML `configs` (and `features` when given), two lines on loading."""
    meta: dict[str, Any] = {"pretty_name": one_line(manifest.get("pretty_name") or manifest.name),
                            "configs": configs(split_files)}
    if features is not None:
        # `_to_yaml_list` is how `datasets` writes features into cards itself (push_to_hub).
        meta["dataset_info"] = [{"config_name": config, "features": features[config]._to_yaml_list()}
                                for config in split_files]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    name = manifest.name
    body = (f"# {escape(manifest.get('pretty_name') or name)}\n\n"
            f"A `{format_name}` build of `{name}` made by news-toolkit. Load it with "
            f"`datasets.load_dataset(\"{name}\")` (articles) or `load_dataset(\"{name}\", \"annotations\")`, "
            "giving the path of this folder. The full dataset card comes with `--format hf`.\n")
    path = staging / "README.md"
    path.write_text(f"---\n{front}---\n\n{body}", encoding="utf-8")
    return path
