"""Ready-to-train views of a Hub build, each one more config: `classify-`, `ner-` and `relations-<layer>`.

A view is derived from the `articles` shards just written, read a row group at a time (memory
stays flat), split by split (the articles' splits), and written with the same Parquet writer, so
its bytes depend on the data only. The manifest's `views:` says which kinds are built and the NER
tag scheme. Which layers get a view:
- `classify-<layer>`, every document layer: `id`, `title`, `text`, `label` (a ClassLabel, or a list
  of them for `multi: true`); articles without a label are left out (nothing to learn from);
- `ner-<layer>`, every span layer (`toolkit.export.ner`), `overlap: true` ones too: real imports
  declare every layer `overlap: true`, and most of their layers overlap rarely or never, so a
  view that keeps the non-overlapping spans and says in the card how many it left out is more
  useful than none;
- `relations-<layer>`, every relation layer (`toolkit.export.relations`).
Each view also reports what the card shows: its counts and an example row, as `datasets` loads it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from toolkit.export import ner, relations
from toolkit.export.ner import BatchRows
from toolkit.export.parquet import ParquetSplitWriter
from toolkit.manifest import Layer, Manifest

TEXT_COLUMNS = ("id", "title", "text")
FLUSH_ROWS = 1000  # rows of a view gathered before they become one Arrow batch


@dataclass
class ViewReport:
    """What the card says about one view: its kind and layer, counts, and one row as loaded."""

    config: str
    kind: str  # "classify", "ner" or "relations"
    layer: str
    counts: Counter = field(default_factory=Counter)
    example: dict[str, Any] | None = None
    example_split: str | None = None
    example_index: int = 0
    example_is_good: bool = False

    def offer(self, split: str, index: int, row: dict[str, Any], good: bool) -> None:
        """Keep the first good row as the example (the first row at all until one is found)."""
        if self.example_is_good or (self.example is not None and not good):
            return
        self.example, self.example_split, self.example_index, self.example_is_good = row, split, index, good


@dataclass
class Views:
    """The views written: config → split → shard files, config → features, config → report."""

    shards: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    reports: dict[str, ViewReport] = field(default_factory=dict)


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


def write_views(staging: Path, manifest: Manifest, article_shards: dict[str, list[Path]]) -> Views:
    """Write every view the manifest asks for, in layer order per kind: classify, ner, relations."""
    views = Views()
    wanted = manifest.views
    layers = manifest.layers
    span_layers = {name: layer for name, layer in layers.items() if layer.kind == "span"}
    for name, layer in layers.items():
        if layer.kind == "document" and wanted.classify:
            _write_classify(views, staging, name, layer, article_shards)
    if wanted.ner and span_layers:
        # One pass for every span layer: a batch's fields are tokenized once and shared by all.
        jobs = []
        for name, layer in span_layers.items():
            def rows(batch: pa.RecordBatch, shared: Any, counts: Counter, name: str = name) -> BatchRows:
                return ner.batch_rows(batch, name, wanted.tagging, counts, shared)

            jobs.append(_Job(ViewReport(ner.ner_config(name), "ner", name), ner.ner_features(layer, wanted.tagging),
                             rows))
        _write_batches(views, staging, jobs, article_shards, [*TEXT_COLUMNS, *span_layers],
                       lambda batch: ner.field_batch(batch.column("title").to_pylist(),
                                                     batch.column("text").to_pylist()))
    for name, layer in layers.items():
        if layer.kind == "relation" and wanted.relations:
            config = relations.relations_config(name)

            def rows(batch: pa.RecordBatch, shared: Any, counts: Counter, name: str = name) -> BatchRows:
                return relations.batch_rows(batch, name, span_layers, counts)

            job = _Job(ViewReport(config, "relations", name), relations.relations_features(layer), rows)
            _write_batches(views, staging, [job], article_shards, [*TEXT_COLUMNS, *span_layers, name],
                           lambda batch: None)
    return views


def _article_batches(files: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    # Small batches: the NER and relations views turn each into Python rows.
    for path in files:
        yield from pq.ParquetFile(path).iter_batches(batch_size=1024, columns=columns)


def _write_classify(views: Views, staging: Path, name: str, layer: Layer,
                    article_shards: dict[str, list[Path]]) -> None:
    """A classify view: the labelled articles' text columns and label, filtered in Arrow (no Python rows)."""
    config = classify_config(name)
    features = classify_features(layer)
    schema = features.arrow_schema
    report = ViewReport(config, "classify", name)
    for split, files in article_shards.items():
        writer = ParquetSplitWriter(staging / "data" / config, split, schema)
        for batch in _article_batches(files, [*TEXT_COLUMNS, name]):
            labels = batch.column(name)
            present = pc.greater(pc.list_value_length(labels), 0) if layer.multi else pc.is_valid(labels)
            kept = batch.filter(pc.fill_null(present, False))
            if kept.num_rows:
                arrays = [*(kept.column(c) for c in TEXT_COLUMNS), kept.column(name)]
                rows = pa.RecordBatch.from_arrays(arrays, schema=schema)
                if not report.example_is_good:
                    report.offer(split, writer.rows, rows.slice(0, 1).to_pylist()[0], True)
                writer.add(rows, kept.num_rows)
        report.counts["rows"] += writer.rows
        _keep(views, config, split, writer.close())
    _register(views, report, features)


@dataclass
class _Job:
    """One view written by `_write_batches`: `rows_of(batch, shared, counts)` gives its rows as Arrow."""

    report: ViewReport
    features: Any
    rows_of: Callable[[pa.RecordBatch, Any, Counter], BatchRows]
    written: dict[str, list[Path]] = field(default_factory=dict)


@dataclass
class _Chunks:
    """Rows of one view and split waiting for the writer, in the chunks the article-by-article
    spelling made (a chunk closes after the article that brings it to `FLUSH_ROWS`), so row groups
    and bytes stay the same."""

    writer: ParquetSplitWriter
    pending: list[pa.RecordBatch] = field(default_factory=list)
    waiting: int = 0  # rows in `pending`

    def add(self, rows: pa.RecordBatch, per_article: np.ndarray) -> None:
        taken = 0
        for end in _flush_points(per_article, self.waiting):
            self.pending.append(rows.slice(taken, end - taken))
            self.writer.add(_one_batch(self.pending, self.writer.schema), self.waiting + end - taken)
            self.pending, self.waiting, taken = [], 0, end
        if rows.num_rows > taken:
            self.pending.append(rows.slice(taken))
            self.waiting += rows.num_rows - taken

    def close(self) -> list[Path]:
        if self.waiting:
            self.writer.add(_one_batch(self.pending, self.writer.schema), self.waiting)
        return self.writer.close()


def _write_batches(views: Views, staging: Path, jobs: list[_Job], article_shards: dict[str, list[Path]],
                   columns: list[str], prepare: Callable[[pa.RecordBatch], Any]) -> None:
    """Views built a batch of articles at a time, in one read of the article shards: `prepare(batch)`
    is computed once per batch and handed to every job's `rows_of`."""
    for split, files in article_shards.items():
        chunks = [_Chunks(ParquetSplitWriter(staging / "data" / job.report.config, split, job.features.arrow_schema))
                  for job in jobs]
        for batch in _article_batches(files, columns):
            shared = prepare(batch)
            for job, chunk in zip(jobs, chunks, strict=True):
                rows, per_article, good = job.rows_of(batch, shared, job.report.counts)
                rows = pa.RecordBatch.from_arrays(rows.columns, schema=chunk.writer.schema)
                _offer_example(job.report, split, chunk.writer.rows + chunk.waiting, rows, good)
                chunk.add(rows, per_article)
        for job, chunk in zip(jobs, chunks, strict=True):
            job.written[split] = chunk.close()
    for job in jobs:  # configs and splits in the order the one-view-at-a-time spelling gave them
        for split, written in job.written.items():
            _keep(views, job.report.config, split, written)
        _register(views, job.report, job.features)


def _flush_points(per_article: np.ndarray, waiting: int) -> list[int]:
    """Row indices (into this batch's rows) after which a chunk of at least `FLUSH_ROWS` closes."""
    points = []
    total = 0
    for count in per_article.tolist():
        total += count
        if waiting + count >= FLUSH_ROWS:
            points.append(total)
            waiting = 0
        else:
            waiting += count
    return points


def _one_batch(pending: list[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """The pending slices as one contiguous batch, as `from_pylist` would have built it."""
    return pa.Table.from_batches(pending, schema=schema).combine_chunks().to_batches()[0]


def _offer_example(report: ViewReport, split: str, first_index: int, rows: pa.RecordBatch, good: np.ndarray) -> None:
    """`ViewReport.offer` for a batch: the first good row, else (while there is none) the first row."""
    if report.example_is_good or not rows.num_rows:
        return
    found = np.flatnonzero(good)
    at = int(found[0]) if found.size else 0
    if found.size or report.example is None:
        report.offer(split, first_index + at, rows.slice(at, 1).to_pylist()[0], bool(found.size))


def _keep(views: Views, config: str, split: str, written: list[Path]) -> None:
    if written:
        views.shards.setdefault(config, {})[split] = written


def _register(views: Views, report: ViewReport, features: Any) -> None:
    """A view with rows becomes a config; one without (no labelled article) is left out of the build."""
    if report.config in views.shards:
        views.features[report.config] = features
        views.reports[report.config] = report
