"""The rows every exporter writes: a batch of stored records → per (config, split) row batches, plus statistics.

`build_batch` (run by the engine's workers, inside `shards.write_shard`) turns a batch of accepted
articles, each with its annotation records, into Arrow record batches (Parquet) or JSON lines
(JSONL) per (config, split), and the statistics of those rows (`BuildStats`, merged in shard order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson
import pyarrow as pa

from toolkit.arrow_types import RowBuilder, RowPlan, parse_timestamp
from toolkit.export import arrow_json
from toolkit.export.statistics import text_lengths
from toolkit.manifest import Layer, Splits

BATCH_ARTICLES = 1024
CONFIGS = ("articles", "annotations")


@dataclass
class BuildStats:
    """What the card reports: sizes per split, label counts per layer, dates, sources, annotators."""

    articles: Counter = field(default_factory=Counter)  # split → articles
    annotations: Counter = field(default_factory=Counter)  # split → annotations
    labels: dict[str, Counter] = field(default_factory=dict)  # layer → label → count
    languages: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    annotators: Counter = field(default_factory=Counter)
    first_published: datetime | None = None
    last_published: datetime | None = None
    example: dict[str, Any] | None = None
    split_plan: Any = None  # hygiene.groups.SplitPlan of the whole build (set once, not merged)
    # layer → Counter of origin ("human", "model", "unnamed") and of model confidences in millionths
    # (integers: the same sum whatever the batching, so the card is byte-identical).
    origins: dict[str, Counter] = field(default_factory=dict)
    kept_annotators: str = "all"  # `export --annotators`: the card says which annotations the build holds
    # Card statistics (export/statistics.py): layer → (label, split) → annotations; split → length → articles,
    # in code points and in words (counts per distinct length: bounded by the longest text, not the corpus).
    label_splits: dict[str, Counter] = field(default_factory=dict)
    lengths: dict[str, Counter] = field(default_factory=dict)
    words: dict[str, Counter] = field(default_factory=dict)
    agreement: list[Any] = field(default_factory=list)  # hygiene.agreement.AgreementRow, set once for the card
    images: list[str] = field(default_factory=list)  # plots written into the build, relative paths

    def add_texts(self, splits: list[str], texts: pa.Array) -> None:
        """Count the lengths of a batch's article texts (one split per text) in code points and words."""
        code_points, words = text_lengths(texts)
        for histograms, values in ((self.lengths, code_points), (self.words, words)):
            for (split, value), count in Counter(zip(splits, values, strict=True)).items():
                histograms.setdefault(split, Counter())[value] += count

    def add_origin(self, layer: str, annotator: Any, confidence: Any) -> None:
        """Count one annotation as gold (a named person), silver (`model:…`) or unnamed."""
        counts = self.origins.setdefault(layer, Counter())
        if isinstance(annotator, str) and annotator.startswith("model:"):
            counts["model"] += 1
            if isinstance(confidence, int | float) and not isinstance(confidence, bool):
                counts["confidence_n"] += 1
                counts["confidence_micro"] += round(confidence * 1_000_000)
        else:
            counts["human" if annotator else "unnamed"] += 1

    def add(self, split: str, article: dict[str, Any], annotations: list[dict[str, Any]]) -> None:
        self.articles[split] += 1
        self.annotations[split] += len(annotations)
        self.languages[article.get("language")] += 1
        source = (article.get("source") or {}).get("name") or (article.get("source") or {}).get("domain")
        if source:
            self.sources[source] += 1
        if article.get("published_at"):
            when = parse_timestamp(article["published_at"])
            self._dates(when, when)
        labels, annotators = self.labels, self.annotators
        for ann in annotations:
            layer = ann["layer"]
            if layer not in labels:
                labels[layer] = Counter()
            labels[layer][ann["label"]] += 1
            self.label_splits.setdefault(layer, Counter())[(ann["label"], split)] += 1
            annotator = ann.get("annotator")
            if annotator:
                annotators[annotator] += 1
            self.add_origin(layer, annotator, ann.get("confidence"))
        if self.example is None and split == "train":
            self.example = {"article": article, "annotations": annotations[:5]}

    def _dates(self, first: datetime | None, last: datetime | None) -> None:
        if first is not None and (self.first_published is None or first < self.first_published):
            self.first_published = first
        if last is not None and (self.last_published is None or last > self.last_published):
            self.last_published = last

    def merge(self, later: BuildStats) -> None:
        """Add the statistics of rows that come after ours (the example stays the first one)."""
        for mine, theirs in (
            (self.articles, later.articles),
            (self.annotations, later.annotations),
            (self.languages, later.languages),
            (self.sources, later.sources),
            (self.annotators, later.annotators),
        ):
            mine.update(theirs)
        for layer, counts in later.labels.items():
            self.labels.setdefault(layer, Counter()).update(counts)
        for layer, counts in later.origins.items():
            self.origins.setdefault(layer, Counter()).update(counts)
        for mine_by_key, theirs_by_key in ((self.label_splits, later.label_splits), (self.lengths, later.lengths),
                                           (self.words, later.words)):
            for key, counts in theirs_by_key.items():
                mine_by_key.setdefault(key, Counter()).update(counts)
        self._dates(later.first_published, later.last_published)
        if self.example is None:
            self.example = later.example


Row = dict[str, Any]
StoredArticle = tuple[str, bytes, list[bytes], str]  # id, record, annotation records, split
Annotators = Literal["all", "human", "model"]
ANNOTATORS: tuple[Annotators, ...] = ("all", "human", "model")


@dataclass(frozen=True)
class RowContext:
    """What `build_batch` needs: the row plan, the splits, and the output form."""

    plan: RowPlan
    splits: Splits
    output: Literal["arrow", "jsonl"]
    schemas: dict[str, pa.Schema] | None = None  # config → Arrow schema, for "arrow"
    annotators: Annotators = "all"  # which annotations the build keeps: gold (human), silver (model) or all


@dataclass(frozen=True)
class BuiltBatch:
    """One batch's output: per (config, split) an Arrow record batch or JSON lines, with row counts."""

    parts: dict[tuple[str, str], tuple[Any, int]]
    stats: BuildStats


def build_batch(context: RowContext, batch: list[StoredArticle]) -> BuiltBatch:
    """Rows of a batch of stored articles, grouped by (config, split), in read order."""
    if context.annotators != "all":
        batch = [keep_annotators(stored, context.annotators) for stored in batch]
    if context.output == "arrow":
        assert context.schemas is not None
        stats = BuildStats()
        try:
            return BuiltBatch(arrow_json.build(context.plan, context.schemas, context.splits, batch, stats), stats)
        except pa.ArrowException:
            pass  # records Arrow's reader does not take as they are: build this batch from dicts
    return _build_from_dicts(context, batch)


def annotation_origin(annotation: dict[str, Any]) -> str:
    """"model" for `annotator: model:…` (silver), "human" for a named person (gold), else "unnamed"."""
    annotator = annotation.get("annotator")
    if isinstance(annotator, str) and annotator.startswith("model:"):
        return "model"
    return "human" if annotator else "unnamed"


def keep_annotators(stored: StoredArticle, origin: Annotators) -> StoredArticle:
    """The article with only the annotations of `origin`; a relation goes when either of its ends went."""
    article_id, record, annotation_records, split = stored
    parsed = [(data, orjson.loads(data)) for data in annotation_records]
    kept = [(data, ann) for data, ann in parsed if annotation_origin(ann) == origin]
    ids = {ann["id"] for _, ann in kept}
    kept = [(data, ann) for data, ann in kept
            if ann.get("head") is None or (ann["head"] in ids and ann.get("tail") in ids)]
    return article_id, record, [data for data, _ in kept], split


def _build_from_dicts(context: RowContext, batch: list[StoredArticle]) -> BuiltBatch:
    """The same parts and statistics as `arrow_json.build`, from one dict per row (and JSON Lines)."""
    stats = BuildStats()
    builder = RowBuilder(context.plan, encode_labels=context.output == "arrow")
    by_split: dict[str, tuple[list[Row], list[Row]]] = {}  # split → (article rows, annotation rows)
    texts: list[str] = []
    for _article_id, record, annotation_records, split in batch:
        article = orjson.loads(record)
        texts.append(article["text"])
        annotations = [orjson.loads(a) for a in annotation_records]
        stats.add(split, article, annotations)
        article_rows, annotation_rows = by_split.setdefault(split, ([], []))
        article_rows.append(builder.article_row(article, row_annotations(annotations, context.plan.layers)))
        annotation_rows.extend(builder.annotation_row(a) for a in annotations)
    stats.add_texts([split for *_, split in batch], pa.array(texts, pa.string()))
    parts: dict[tuple[str, str], tuple[Any, int]] = {}
    for split, (article_rows, annotation_rows) in by_split.items():
        for config, rows in (("articles", article_rows), ("annotations", annotation_rows)):
            if rows:
                parts[(config, split)] = (_encode(context, config, rows), len(rows))
    return BuiltBatch(parts, stats)


def row_annotations(annotations: list[dict[str, Any]], layers: dict[str, Layer]) -> list[dict[str, Any]]:
    """The annotations an article row is built from: of a single-label document layer only the one
    `pick_label` chooses among several annotators' labels; every span and relation (each names its annotator)."""
    chosen: dict[str, str] = {}
    for name, layer in layers.items():
        if layer.kind == "document" and not layer.multi:
            labels = [a["label"] for a in annotations if a["layer"] == name]
            if len(labels) > 1:
                chosen[name] = arrow_json.pick_label(labels, layer.aggregate)
    if not chosen:
        return annotations
    kept, taken = [], set()
    for ann in annotations:
        layer = ann["layer"]
        if layer in chosen:
            if layer in taken or ann["label"] != chosen[layer]:
                continue
            taken.add(layer)
        kept.append(ann)
    return kept


def _encode(context: RowContext, config: str, rows: list[Row]) -> Any:
    if context.output == "arrow":
        assert context.schemas is not None
        return pa.RecordBatch.from_pylist(rows, schema=context.schemas[config])
    # OPT_UTC_Z: "…Z", which readers (pyarrow, datasets) type as a UTC timestamp; "+00:00" lost the zone.
    return b"".join(orjson.dumps(row, default=_iso, option=orjson.OPT_UTC_Z) + b"\n" for row in rows)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class SplitWriter(Protocol):
    def add(self, part: Any, rows: int) -> None: ...

    def close(self) -> list[Path]: ...
