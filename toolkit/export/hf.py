"""`--format hf`: the Hub layout of DESIGN.md §3 — Parquet shards, dataset card, Croissant, checksums."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from toolkit.arrow_types import annotation_features, article_features
from toolkit.export import ner, relations
from toolkit.export.card import render_card
from toolkit.export.croissant import croissant_metadata
from toolkit.export.curated import read_curated
from toolkit.export.parquet import write_config_shards
from toolkit.export.statistics import write_card_statistics
from toolkit.export.views import TEXT_COLUMNS, classify_config, collect_views, view_jobs
from toolkit.schemas import field_descriptions


def write(context: Any) -> list[Path]:
    """Write data shards, then `README.md` and `croissant.json` describing exactly those files."""
    staging: Path = context.staging
    manifest = context.manifest
    jobs = view_jobs(manifest)  # task views, written with the article shards they derive from
    shards = write_config_shards(context, jobs)
    images = write_card_statistics(context)  # agreement and plots, before the card that shows them
    features = {"articles": article_features(context.plan), "annotations": annotation_features(context.plan)}
    features = {config: features[config] for config in shards if config in features}
    views = collect_views(jobs, shards)
    features.update(views.features)
    shards = {config: splits for config, splits in shards.items() if config in features}
    relative = {
        config: {split: [p.relative_to(staging).as_posix() for p in files] for split, files in splits.items()}
        for config, splits in shards.items()
    }
    sizes = {
        config: {split: _split_size(files) for split, files in splits.items()} for config, splits in shards.items()
    }
    card = render_card(manifest, features, relative, sizes, context.stats, views=views.reports,
                       curated=read_curated(manifest))
    (staging / "README.md").write_text(card, encoding="utf-8")

    files = [p for splits in shards.values() for paths in splits.values() for p in paths]  # hashed by their workers
    descriptions = {"articles": field_descriptions("article"), "annotations": field_descriptions("annotation")}
    for name, layer in manifest.layers.items():
        descriptions["articles"][name] = layer.description or f"{layer.kind} layer '{name}': {', '.join(layer.labels)}"
        if classify_config(name) in shards:
            article_docs = descriptions["articles"]
            view_docs = {column: article_docs[column] for column in TEXT_COLUMNS}
            descriptions[classify_config(name)] = {**view_docs, "label": article_docs[name]}
        if ner.ner_config(name) in shards:
            descriptions[ner.ner_config(name)] = ner.column_descriptions(name, manifest.views.tagging)
        if relations.relations_config(name) in shards:
            descriptions[relations.relations_config(name)] = relations.column_descriptions(name)
    metadata = croissant_metadata(
        name=manifest.name,
        description=manifest.get("description") or manifest.get("pretty_name") or manifest.name,
        license=str(manifest.get("license") or "unknown"),
        url=manifest.get("homepage"),
        version=manifest.get("version"),
        citation=manifest.get("citation"),
        date_published=None,
        configs=features,
        field_descriptions=descriptions,
        files=[(p.relative_to(staging).parts[1], p.relative_to(staging).as_posix(), context.digests[p]) for p in files],
    )
    (staging / "croissant.json").write_bytes(orjson.dumps(metadata, option=orjson.OPT_INDENT_2) + b"\n")
    return [*files, *images, staging / "README.md", staging / "croissant.json"]


def _split_size(files: list[Path]) -> tuple[int, int]:
    """(rows, uncompressed bytes) of a split's shards, read back from their Parquet footers."""
    import pyarrow.parquet as pq

    rows = size = 0
    for path in files:
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        size += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return rows, size
