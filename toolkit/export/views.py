"""Ready-to-train views of a build: `classify-<layer>` for every document layer.

A view is one more config of the Hub build, derived from the `articles` shards just written (read
a row group at a time, so memory stays flat): the article's `id`, `title` and `text` and the
layer's label as `label` — a ClassLabel, or a list of them for a `multi: true` layer. Articles
without a label in the layer are left out (nothing to learn from). Splits are the articles'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.export.parquet import ParquetSplitWriter
from toolkit.manifest import Layer

TEXT_COLUMNS = ("id", "title", "text")


def classify_config(layer: str) -> str:
    return f"classify-{layer}"


def classify_features(layer: Layer) -> Any:
    """`datasets.Features` of a classify view: id, title, text and the layer's label(s)."""
    import datasets

    label = datasets.ClassLabel(names=list(layer.labels))
    return datasets.Features({
        "id": datasets.Value("string"), "title": datasets.Value("string"), "text": datasets.Value("string"),
        "label": datasets.List(label) if layer.multi else label,
    })


def write_classify_views(staging: Path, layers: dict[str, Layer],
                         article_shards: dict[str, list[Path]]) -> tuple[dict[str, dict[str, list[Path]]], dict]:
    """Write one `classify-<layer>` config per document layer; (config → split → files, config → features)."""
    shards: dict[str, dict[str, list[Path]]] = {}
    features: dict[str, Any] = {}
    for name, layer in layers.items():
        if layer.kind != "document":
            continue
        config = classify_config(name)
        features[config] = classify_features(layer)
        schema = features[config].arrow_schema
        for split, files in article_shards.items():
            writer = ParquetSplitWriter(staging / "data" / config, split, schema)
            for path in files:
                for batch in pq.ParquetFile(path).iter_batches(columns=[*TEXT_COLUMNS, name]):
                    labels = batch.column(name)
                    present = pc.greater(pc.list_value_length(labels), 0) if layer.multi else pc.is_valid(labels)
                    kept = batch.filter(pc.fill_null(present, False))
                    if kept.num_rows:
                        arrays = [*(kept.column(c) for c in TEXT_COLUMNS), kept.column(name)]
                        writer.add(pa.RecordBatch.from_arrays(arrays, schema=schema), kept.num_rows)
            written = writer.close()
            if written:
                shards.setdefault(config, {})[split] = written
    return shards, features
