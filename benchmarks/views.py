"""The `ner-` and `relations-` views: the batch path (numpy, Arrow columns) against the article-by-article one.

Backs the figures in CHANGELOG: the same generated articles, exported once; both spellings write
every view from the same `articles` shards in the same process. Prints seconds, µs per article and
the ratio, and whether the two wrote the same bytes (exit 1 if not).

    .venv/bin/python benchmarks/views.py --articles 5000
"""

from __future__ import annotations

import argparse
import filecmp
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402

from toolkit.export import export, ner, relations, views  # noqa: E402
from toolkit.export.parquet import ParquetSplitWriter  # noqa: E402
from toolkit.manifest import Manifest, load_manifest  # noqa: E402


def article_by_article(staging: Path, manifest: Manifest, article_shards: dict[str, list[Path]]) -> None:
    """The views as first written: Python rows per article, `from_pylist` every `FLUSH_ROWS` rows."""
    span_layers = {name: layer for name, layer in manifest.layers.items() if layer.kind == "span"}
    tagging = manifest.views.tagging
    for name, layer in span_layers.items():
        def ner_rows(article: dict[str, Any], counts: Counter, name: str = name) -> list[dict[str, Any]]:
            return ner.article_rows(article, article.get(name) or [], tagging, counts)

        _write_rows(staging, ner.ner_config(name), ner.ner_features(layer, tagging).arrow_schema, article_shards,
                    [*views.TEXT_COLUMNS, name], ner_rows)
    for name, layer in manifest.layers.items():
        if layer.kind == "relation":
            def relation_rows(article: dict[str, Any], counts: Counter, name: str = name) -> list[dict[str, Any]]:
                return relations.article_rows(article, article.get(name) or [], span_layers, counts)

            _write_rows(staging, relations.relations_config(name), relations.relations_features(layer).arrow_schema,
                        article_shards, [*views.TEXT_COLUMNS, *span_layers, name], relation_rows)


def _write_rows(staging: Path, config: str, schema: pa.Schema, article_shards: dict[str, list[Path]],
                columns: list[str], rows_of: Callable[[dict[str, Any], Counter], list[dict[str, Any]]]) -> None:
    counts: Counter = Counter()
    for split, files in article_shards.items():
        writer = ParquetSplitWriter(staging / "data" / config, split, schema)
        pending: list[dict[str, Any]] = []
        for batch in _article_batches(files, columns):
            for article in batch.to_pylist():
                pending += rows_of(article, counts)
                if len(pending) >= views.FLUSH_ROWS:
                    writer.add(pa.RecordBatch.from_pylist(pending, schema=schema), len(pending))
                    pending = []
        if pending:
            writer.add(pa.RecordBatch.from_pylist(pending, schema=schema), len(pending))
        writer.close()


def _article_batches(files: list[Path], columns: list[str]) -> Iterator[pa.RecordBatch]:
    for path in files:
        yield from pq.ParquetFile(path).iter_batches(batch_size=1024, columns=columns)


def batch_path(staging: Path, manifest: Manifest, article_shards: dict[str, list[Path]]) -> None:
    """The views as a shard's worker writes them now (classify views off: both sides time the same views)."""
    plan = views.view_plan(views.view_jobs(replace(manifest, views=replace(manifest.views, classify=False))))
    for split, files in article_shards.items():
        writer = views.ShardViewWriter(plan, split, staging / "data")
        for batch in _article_batches(files, list(pq.ParquetFile(files[0]).schema_arrow.names)):
            writer.add(batch)
        writer.close()


def timed(work: Callable[[Path], None], runs: int, into: Path) -> float:
    best = float("inf")
    for run in range(runs):
        target = into / str(run)
        started = time.perf_counter()
        work(target)
        best = min(best, time.perf_counter() - started)
    return best


def same_files(left: Path, right: Path) -> bool:
    files = sorted(p.relative_to(left) for p in left.rglob("*.parquet"))
    return files == sorted(p.relative_to(right) for p in right.rglob("*.parquet")) and all(
        filecmp.cmp(left / f, right / f, shallow=False) for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs per contender")
    parser.add_argument("--tagging", choices=["BIO", "BIOES"], default="BIO")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="news-toolkit-bench-views-") as tmp:
        root = Path(tmp)
        generate(root / "corpus", args.articles, seed=0)
        with (root / "corpus" / "dataset.yaml").open("a", encoding="utf-8") as manifest_file:
            manifest_file.write(f"views:\n  tagging: {args.tagging}\n")
        build = export(root / "corpus", format="hf", out_dir=root / "dist").output
        shards: dict[str, list[Path]] = {}
        for path in sorted((build / "data" / "articles").glob("*.parquet")):
            shards.setdefault(path.name.split("-")[0], []).append(path)
        manifest = load_manifest(root / "corpus")
        ner.field_batch(["warm"], ["up"])  # the code point table fills once per process, on both sides' bill
        t_old = timed(lambda out: article_by_article(out, manifest, shards), args.runs, root / "old")
        t_new = timed(lambda out: batch_path(out, manifest, shards), args.runs, root / "new")
        same = same_files(root / "old" / "0", root / "new" / "0")
    n = args.articles
    print(f"ner- and relations- views of {n:,} generated articles ({args.tagging}), best of {args.runs}")
    print(f"article by article   {t_old:7.2f} s  {t_old / n * 1e6:7.1f} µs/article  1.0×")
    print(f"batch (numpy, Arrow) {t_new:7.2f} s  {t_new / n * 1e6:7.1f} µs/article  "
          f"{t_old / t_new:.1f}× faster  (same bytes: {same})")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
