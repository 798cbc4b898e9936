"""JSON Lines shards, plain, gzip or zstd; deterministic (no timestamps in the gzip header)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

Compression = Literal["none", "gz", "zst"]
SUFFIX = {"none": ".jsonl", "gz": ".jsonl.gz", "zst": ".jsonl.zst"}


@dataclass
class JsonlSplitWriter:
    """Writes rows of one config and split to `<split>-00000-of-00001.jsonl[.gz|.zst]` in `directory`
    (one shard's worth: `shards.write_shards` gives the files their final numbers)."""

    directory: Path
    split: str
    compression: Compression = "none"
    rows: int = 0
    _raw: IO[bytes] | None = None
    _out: Any = None
    _path: Path | None = None
    _closers: list[Any] = field(default_factory=list)

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path = self.directory / f"{self.split}-00000-of-00001{SUFFIX[self.compression]}"
        self._raw = open(self._path, "wb")
        if self.compression == "gz":
            self._out = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
        elif self.compression == "zst":
            import zstandard

            self._out = zstandard.ZstdCompressor(level=6, write_checksum=True).stream_writer(self._raw, closefd=False)
        else:
            self._out = self._raw

    def add(self, lines: bytes, rows: int) -> None:
        """Append `rows` rows given as JSON lines."""
        if self._out is None:
            self._open()
        self._out.write(lines)
        self.rows += rows

    def close(self) -> list[Path]:
        if self._out is None:
            return []
        if self._out is not self._raw:
            self._out.close()
        self._raw.close()  # type: ignore[union-attr]
        return [self._path]  # type: ignore[list-item]


@dataclass(frozen=True)
class JsonlWriters:
    """Makes a config's split writer in a given folder (sent to the workers that write the shards)."""

    compression: Compression = "none"

    def __call__(self, config: str, split: str, folder: Path) -> JsonlSplitWriter:
        return JsonlSplitWriter(folder, split, self.compression)


def write(context: Any) -> list[Path]:
    """`--format jsonl`: `data/<config>/<split>-NNNNN-of-NNNNN.jsonl[.gz|.zst]`, labels as strings, dates
    in UTC with a `Z`, and a README whose `configs` let `load_dataset(folder)` read it."""
    from toolkit.export.loadable import jsonl_features, write_readme
    from toolkit.export.rows import RowContext
    from toolkit.export.shards import write_shards

    rows = RowContext(context.plan, context.manifest.splits, "jsonl", annotators=context.annotators)
    shards = write_shards(context.store, rows, context.engine, context.stats, JsonlWriters(context.jsonl_compression),
                          context.staging / "data", SUFFIX[context.jsonl_compression],
                          context.manifest.input_bytes(), context.on_progress, digests=context.digests)
    files = [p for splits in shards.values() for paths in splits.values() for p in paths]
    readme = write_readme(context.staging, context.manifest, shards, "jsonl", jsonl_features(context.plan))
    return [*files, readme]
