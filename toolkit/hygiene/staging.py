"""The hygiene columns of a batch of articles, computed where the batch runs (any engine, any process).

The driver never sees a text: workers hand back, per article that passed its own checks, the keys
duplicate detection and grouped splits compare (hashes, signatures, band buckets, field values),
and the store joins and groups them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from toolkit.arrow_types import parse_timestamp
from toolkit.hygiene.fingerprints import fingerprints
from toolkit.hygiene.minhash import NUM_PERM, band_buckets, lsh_shape
from toolkit.hygiene.text import code_point_tables, title_key, url_key
from toolkit.store import BAND_COLUMNS, GROUP_KEY_COLUMNS, HYGIENE_COLUMNS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class HygieneSpec:
    """What the batch stage needs from the manifest: the LSH shape and the field paths to group by."""

    bands: int
    rows: int
    field_paths: tuple[tuple[str, ...], ...] = ()
    num_perm: int = NUM_PERM

    @classmethod
    def for_threshold(cls, threshold: float, field_paths: tuple[tuple[str, ...], ...] = ()) -> HygieneSpec:
        """The spec for a near-duplicate threshold. Also builds this process's code-point tables now:
        local workers fork from the driver at their first batch and inherit them (0.3 s each saved)."""
        code_point_tables()
        bands, rows = lsh_shape(threshold, NUM_PERM)
        return cls(bands, rows, field_paths)


def hygiene_tables(spec: HygieneSpec, articles: list[tuple[int, dict[str, Any]]]) -> dict[str, pa.RecordBatch]:
    """Staged rows ('hyg', 'band', 'gkey') of (read-order key, record) pairs of schema-valid articles."""
    if not articles:
        return {}
    keys = [key for key, _ in articles]
    exact, sigs = fingerprints([record["text"] for _, record in articles], spec.num_perm)
    hyg = pa.RecordBatch.from_arrays([
        pa.array(keys, pa.int64()),
        pa.array([record["id"] for _, record in articles], pa.string()),
        pa.array(exact, pa.int64()),
        pa.array([url_key(r["url"]) if isinstance(r.get("url"), str) else None for _, r in articles], pa.string()),
        pa.array([title_key(_source(r), r["title"]) for _, r in articles], pa.string()),
        pa.array([_published(r.get("published_at")) for _, r in articles], pa.int64()),
        pa.array([row.tobytes() for row in sigs], pa.binary()),
    ], schema=HYGIENE_COLUMNS)
    buckets = band_buckets(sigs, spec.bands, spec.rows)
    band = pa.RecordBatch.from_arrays([
        pa.array(np.repeat(np.asarray(keys, np.int64), spec.bands)),
        pa.array(np.tile(np.arange(spec.bands, dtype=np.int16), len(keys))),
        pa.array(buckets.reshape(-1)),
    ], schema=BAND_COLUMNS)
    tables = {"hyg": hyg, "band": band}
    if spec.field_paths:
        pairs = [(key, value) for key, record in articles for value in group_keys(record, spec.field_paths)]
        if pairs:
            tables["gkey"] = pa.RecordBatch.from_arrays(
                [pa.array([k for k, _ in pairs], pa.int64()), pa.array([v for _, v in pairs], pa.string())],
                schema=GROUP_KEY_COLUMNS)
    return tables


def group_keys(record: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> Iterator[str]:
    """`path\\x1fvalue` for each value at each field path (each item of a list): articles sharing one are grouped."""
    for path in paths:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        for item in value if isinstance(value, list) else (value,):
            if item is not None and not isinstance(item, (dict, list)):
                yield f"{'.'.join(path)}\x1f{item}"


def _source(record: dict[str, Any]) -> str | None:
    source = record.get("source")
    return (source.get("name") or source.get("domain")) if isinstance(source, dict) else None


def _published(value: Any) -> int | None:
    """Microseconds since the epoch, UTC (the record passed its checks, so a date here is real)."""
    if not isinstance(value, str):
        return None
    delta = parse_timestamp(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
