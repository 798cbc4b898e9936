"""Ready-to-train views of a Hub build, each one more config: `classify-`, `ner-` and `relations-<layer>`.

A view is derived from the article rows of each shard (`shards.write_shard`), by the worker that
writes the shard: its files are that shard's part of the view, so a view has as many shards per
split as the articles, and its bytes depend on the data only (each article's rows depend on that
article alone). The manifest's `views:` says which kinds are built and the NER tag
scheme. Which layers get a view:
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.export import ner, relations
from toolkit.export.ner import BatchRows
from toolkit.export.parquet import ParquetSplitWriter
from toolkit.manifest import Layer, Manifest, Tagging

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


@dataclass(frozen=True)
class ViewPlan:
    """The views a build gets, as the workers that write a shard's views need them (it is pickled)."""

    configs: tuple[str, ...] = ()
    specs: tuple[_RowSpec, ...] = ()
    schemas: tuple[pa.Schema, ...] = ()


def view_jobs(manifest: Manifest) -> list[ViewJob]:
    """Every view the manifest asks for, in layer order per kind: classify, ner, relations."""
    wanted = manifest.views
    layers = manifest.layers
    span_layers = {name: layer for name, layer in layers.items() if layer.kind == "span"}
    jobs = []
    if wanted.classify:
        jobs += [ViewJob(ViewReport(classify_config(name), "classify", name), classify_features(layer),
                      _RowSpec("classify", name, multi=layer.multi))
                 for name, layer in layers.items() if layer.kind == "document"]
    if wanted.ner:
        jobs += [ViewJob(ViewReport(ner.ner_config(name), "ner", name), ner.ner_features(layer, wanted.tagging),
                      _RowSpec("ner", name, wanted.tagging, span_layers))
                 for name, layer in span_layers.items()]
    if wanted.relations:
        jobs += [ViewJob(ViewReport(relations.relations_config(name), "relations", name),
                      relations.relations_features(layer), _RowSpec("relations", name, span_layers=span_layers))
                 for name, layer in layers.items() if layer.kind == "relation"]
    return jobs


def view_plan(jobs: list[ViewJob]) -> ViewPlan:
    return ViewPlan(tuple(job.report.config for job in jobs), tuple(job.spec for job in jobs),
                    tuple(job.features.arrow_schema for job in jobs))


def collect_views(jobs: list[ViewJob], shards: dict[str, dict[str, list[Path]]]) -> Views:
    """The views of a build whose shards are written (`shards`: config → split → files, every config);
    `jobs` carry the reports merged from every shard (`merge_report`). A view without rows is left out."""
    views = Views()
    for job in jobs:
        for split, written in shards.get(job.report.config, {}).items():
            _keep(views, job.report.config, split, written)
        _register(views, job.report, job.features)
    return views


def merge_report(total: ViewReport, split: str, before: int, part: ViewReport) -> None:
    """Add a shard's report to the build's; `before`: the view's rows in `split` before that shard."""
    total.counts.update(part.counts)
    if part.example is not None:
        total.offer(split, before + part.example_index, part.example, part.example_is_good)


def _add_classified(report: ViewReport, multi: bool, writer: ParquetSplitWriter, batch: pa.RecordBatch) -> None:
    """A batch's rows of a classify view: the labelled articles' text columns and label, filtered in Arrow."""
    labels = batch.column(report.layer)
    present = pc.greater(pc.list_value_length(labels), 0) if multi else pc.is_valid(labels)
    kept = batch.filter(pc.fill_null(present, False))
    if kept.num_rows:
        arrays = [*(kept.column(c) for c in TEXT_COLUMNS), kept.column(report.layer)]
        rows = pa.RecordBatch.from_arrays(arrays, schema=writer.schema)
        if not report.example_is_good:
            report.offer(writer.split, writer.rows, rows.slice(0, 1).to_pylist()[0], True)
        writer.add(rows, kept.num_rows)


@dataclass(frozen=True)
class _RowSpec:
    """What one view takes from a batch of articles: a classify view's rows are filtered in Arrow;
    the others' are built by `view_rows`."""

    kind: str  # "classify", "ner" or "relations"
    layer: str
    tagging: Tagging = "BIO"
    span_layers: dict[str, Layer] = field(default_factory=dict)
    multi: bool = False  # classify: the layer takes several labels

    def columns(self) -> list[str]:
        """The article columns the view reads."""
        if self.kind == "relations":
            return [*TEXT_COLUMNS, *self.span_layers, self.layer]
        return [*TEXT_COLUMNS, self.layer]


def view_rows(specs: tuple[_RowSpec, ...], batch: pa.RecordBatch) -> list[tuple[BatchRows, Counter]]:
    """Each NER or relations view's rows of a batch of articles, with the counts the card reports;
    the batch's fields are tokenized once for every NER view."""
    fields = None
    if any(spec.kind == "ner" for spec in specs):
        fields = ner.field_batch(batch.column("title").to_pylist(), batch.column("text").to_pylist())
    made = []
    for spec in specs:
        counts: Counter = Counter()
        if spec.kind == "ner":
            rows = ner.batch_rows(batch, spec.layer, spec.tagging, counts, fields)
        else:
            rows = relations.batch_rows(batch, spec.layer, spec.span_layers, counts)
        made.append((rows, counts))
    return made


@dataclass
class ViewJob:
    """One view of the build: its report (merged from every shard's), features and row spec."""

    report: ViewReport
    features: Any
    spec: _RowSpec


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


@dataclass
class ShardViews:
    """A shard's views as written: config → files (in the shard's folder), reports and rows."""

    files: dict[str, list[str]]
    reports: dict[str, ViewReport]
    rows: dict[str, int]


class ShardViewWriter:
    """The views of one shard's articles, written by the worker that writes the shard, a batch of
    article rows at a time (each article's view rows depend on that article alone)."""

    def __init__(self, plan: ViewPlan, split: str, out: Path) -> None:
        self.plan, self.split = plan, split
        self.reports = [ViewReport(config, spec.kind, spec.layer) for config, spec in zip(plan.configs, plan.specs,
                                                                                           strict=True)]
        self.chunks = [_Chunks(ParquetSplitWriter(out / config, split, schema))
                       for config, schema in zip(plan.configs, plan.schemas, strict=True)]
        self.built = [i for i, spec in enumerate(plan.specs) if spec.kind != "classify"]

    def add(self, articles: pa.RecordBatch) -> None:
        for spec, report, chunk in zip(self.plan.specs, self.reports, self.chunks, strict=True):
            if spec.kind == "classify":
                _add_classified(report, spec.multi, chunk.writer, articles)
        made = view_rows(tuple(self.plan.specs[i] for i in self.built), articles) if self.built else []
        for i, ((rows, per_article, good), counts) in zip(self.built, made, strict=True):
            chunk, report = self.chunks[i], self.reports[i]
            report.counts.update(counts)
            rows = pa.RecordBatch.from_arrays(rows.columns, schema=chunk.writer.schema)
            _offer_example(report, self.split, chunk.writer.rows + chunk.waiting, rows, good)
            chunk.add(rows, per_article)

    def close(self) -> ShardViews:
        files, rows = {}, {}
        for spec, report, chunk in zip(self.plan.specs, self.reports, self.chunks, strict=True):
            written = chunk.close()
            rows[report.config] = chunk.writer.rows
            if spec.kind == "classify":
                report.counts["rows"] += chunk.writer.rows
            if written:
                files[report.config] = [str(p) for p in written]
        return ShardViews(files, {report.config: report for report in self.reports}, rows)


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
