"""Rejects: every invalid line, byte for byte, beside a file saying what is wrong with it.

For an input `articles.jsonl` the rejects folder gets `articles.jsonl.rejects` (the invalid lines,
unchanged, one per line: fix them and feed the file back) and `articles.jsonl.problems.jsonl` (one
JSON object per rejected line: its number in the input, its number in the rejects file and its
problems). Undecodable or over-long lines stay byte-exact because nothing is re-encoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import orjson

from toolkit.problems import Problem
from toolkit.readers import RawLine


class RejectsWriter:
    """Writes rejects lazily: a file appears only for an input that has invalid lines."""

    def __init__(self, directory: Path, root: Path) -> None:
        self.directory = directory
        self.root = root
        self._open: dict[str, tuple[BinaryIO, BinaryIO, list[int]]] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def _files(self, name: str) -> tuple[BinaryIO, BinaryIO, list[int]]:
        if name not in self._open:
            # Keep the input's relative folders flat but unambiguous: a/b.jsonl → a__b.jsonl.
            flat = name.replace("/", "__").replace("\\", "__")
            lines = open(self.directory / f"{flat}.rejects", "wb")
            problems = open(self.directory / f"{flat}.problems.jsonl", "wb")
            self._open[name] = (lines, problems, [0])
        return self._open[name]

    def write(self, name: str, raw: RawLine, problems: list[Problem]) -> None:
        lines, problem_file, counter = self._files(name)
        lines.write(raw.data + b"\n")
        counter[0] += 1
        entry = {
            "file": name,
            "line": raw.number,
            "rejects_line": counter[0],
            "truncated": raw.too_long,
            "problems": [{k: v for k, v in p.to_dict().items() if k not in ("file", "line")} for p in problems],
        }
        problem_file.write(orjson.dumps(entry) + b"\n")

    def close(self) -> None:
        for lines, problems, _ in self._open.values():
            lines.close()
            problems.close()
        self._open.clear()
