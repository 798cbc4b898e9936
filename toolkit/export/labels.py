"""`labels.parquet`: every layer's label names with their class ids, in every build.

Outside `datasets` (pyarrow, polars, DuckDB, pandas) a label column is a bare integer; this small
table turns it back into a name with one join, whatever reads the build. Ids are the manifest's
label order, the same as the ClassLabel ids in the data files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from toolkit.manifest import Manifest

LABELS_FILE = "labels.parquet"
SCHEMA = pa.schema([
    pa.field("layer", pa.string(), nullable=False), pa.field("kind", pa.string(), nullable=False),
    pa.field("id", pa.int32(), nullable=False), pa.field("name", pa.string(), nullable=False),
    pa.field("description", pa.string()),
])


def labels_table(manifest: Manifest) -> pa.Table:
    """One row per (layer, label), layers and labels in manifest order."""
    rows = [
        {"layer": name, "kind": layer.kind, "id": i, "name": label,
         "description": layer.label_descriptions.get(label) or None}
        for name, layer in manifest.layers.items()
        for i, label in enumerate(layer.labels)
    ]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_labels(folder: Path, manifest: Manifest) -> Path:
    """Write `labels.parquet` into the build folder; the same manifest gives the same bytes."""
    path = folder / LABELS_FILE
    pq.write_table(labels_table(manifest), path, compression="zstd")
    return path
