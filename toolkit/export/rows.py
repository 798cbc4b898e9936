"""The one pass every exporter shares: stored records → (split, article row, annotation rows), plus statistics.

Articles come out in the order they were read, each with its annotations in read order, so
exports are deterministic. Statistics for the dataset card are gathered on the way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from toolkit.arrow_types import RowBuilder, parse_timestamp
from toolkit.manifest import Manifest
from toolkit.splits import SPLIT_ORDER, assign_split
from toolkit.store import RecordStore

MAX_ANNOTATORS_LISTED = 50


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

    def add(self, split: str, article: dict[str, Any], annotations: list[dict[str, Any]]) -> None:
        self.articles[split] += 1
        self.annotations[split] += len(annotations)
        self.languages[article.get("language")] += 1
        source = (article.get("source") or {}).get("name") or (article.get("source") or {}).get("domain")
        if source:
            self.sources[source] += 1
        if article.get("published_at"):
            when = parse_timestamp(article["published_at"])
            if self.first_published is None or when < self.first_published:
                self.first_published = when
            if self.last_published is None or when > self.last_published:
                self.last_published = when
        for ann in annotations:
            self.labels.setdefault(ann["layer"], Counter())[ann["label"]] += 1
            if ann.get("annotator"):
                self.annotators[ann["annotator"]] += 1
        if self.example is None and split == "train":
            self.example = {"article": article, "annotations": annotations[:5]}


Row = dict[str, Any]


def iter_rows(
    manifest: Manifest,
    store: RecordStore,
    builder: RowBuilder,
    stats: BuildStats,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[str, Row, list[Row]]]:
    """(split, article row, annotation rows) for every valid article, in read order."""
    total = store.count_articles()
    for done, (article_id, record, annotation_records) in enumerate(store.iter_articles_with_annotations(), 1):
        article = orjson.loads(record)
        annotations = [orjson.loads(a) for a in annotation_records]
        split = assign_split(article_id, manifest.splits)
        stats.add(split, article, annotations)
        yield split, builder.article_row(article, annotations), [builder.annotation_row(a) for a in annotations]
        if on_progress is not None and (done % 2048 == 0 or done == total):
            on_progress(done, total)


class SplitWriter(Protocol):
    rows: int

    def add(self, row: Row) -> None: ...

    def close(self) -> list[Path]: ...


def write_splits(
    manifest: Manifest,
    store: RecordStore,
    builder: RowBuilder,
    stats: BuildStats,
    make_writer: Callable[[str, str], SplitWriter],
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, dict[str, list[Path]]]:
    """Route every row to a writer per (config, split); returns config → split → files, in split order.

    Splits without rows get no files (and no entry), so no config points at an empty glob.
    """
    writers: dict[tuple[str, str], SplitWriter] = {}

    def writer(config: str, split: str) -> SplitWriter:
        key = (config, split)
        if key not in writers:
            writers[key] = make_writer(config, split)
        return writers[key]

    for split, article_row, annotation_rows in iter_rows(manifest, store, builder, stats, on_progress):
        writer("articles", split).add(article_row)
        if annotation_rows:
            annotations = writer("annotations", split)
            for row in annotation_rows:
                annotations.add(row)
    result: dict[str, dict[str, list[Path]]] = {}
    for config in ("articles", "annotations"):
        for split in SPLIT_ORDER:
            if (config, split) in writers:
                result.setdefault(config, {})[split] = writers[(config, split)].close()
    return result
