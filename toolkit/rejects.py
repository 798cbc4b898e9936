"""Rejects: every invalid line, byte for byte, beside a file saying what is wrong with it.

For an input `articles.jsonl` the rejects folder gets `articles.jsonl.rejects` (the invalid lines,
unchanged, one per line: fix them and feed the file back) and `articles.jsonl.problems.jsonl` (one
JSON object per rejected line: its number in the input, its number in the rejects file and its
problems). Undecodable lines stay byte-exact because nothing is re-encoded; a line longer than
the reader's limit (which checks only see the head of) is copied whole from its input file,
streamed, so the rejects hold all of it without holding it in memory.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import orjson

from toolkit.errors import ToolkitError
from toolkit.problems import Problem
from toolkit.publish import refuse_input
from toolkit.readers import RawLine, open_binary

_CHUNK = 1 << 20


class _LineCopier:
    """Copies whole lines of one input file, read forward once (rejects come in read order)."""

    def __init__(self, path: Path, stack: ExitStack) -> None:
        self.path = path
        self.stream, _ = stack.enter_context(open_binary(path))
        self.line = 1  # number of the line that starts at the front of `buffer`
        self.buffer = b""

    def _more(self) -> bool:
        self.buffer = self.stream.read(_CHUNK)
        return bool(self.buffer)

    def copy(self, number: int, out: BinaryIO) -> None:
        """Write line `number` (1-based), without its line ending, to `out`."""
        if number < self.line:
            raise ToolkitError(f"{self.path}: changed while being validated (line {number} read twice)")
        while self.line < number:
            newlines = self.buffer.count(b"\n")
            if self.line + newlines < number:
                self.line += newlines
                if not self._more():
                    raise ToolkitError(f"{self.path}: changed while being validated (line {number} is gone)")
                continue
            at = -1
            for _ in range(number - self.line):
                at = self.buffer.index(b"\n", at + 1)
            self.buffer = self.buffer[at + 1 :]
            self.line = number
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                out.write(self.buffer[:end])
                self.buffer = self.buffer[end + 1 :]
                break
            out.write(self.buffer)
            if not self._more():
                break
        self.line += 1


def rejects_paths(directory: Path, name: str) -> tuple[Path, Path]:
    """(rejects file, problems file) for the input named `name` (its path relative to the dataset).

    Folders are kept flat but unambiguous by percent-encoding: `a/b.jsonl` → `a%2Fb.jsonl`, which no
    other input name can give (`a__b.jsonl` stays itself; `%` is encoded too).
    """
    flat = name.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")
    return directory / f"{flat}.rejects", directory / f"{flat}.problems.jsonl"


def check_rejects_folder(directory: Path, sources: dict[str, Path]) -> None:
    """`ToolkitError` before any work when a rejects file would overwrite an input (a fed-back rejects file)."""
    inputs = list(sources.values())
    for name in sources:
        for path in rejects_paths(directory, name):
            refuse_input(path, inputs)


class RejectsWriter:
    """Writes rejects lazily: a file appears only for an input that has invalid lines.

    `sources` maps the file names problems carry to the input files, for over-long lines.
    """

    def __init__(self, directory: Path, sources: dict[str, Path], shown_as: Path | None = None) -> None:
        self.directory = directory
        self.sources = sources
        self.shown_as = shown_as  # the folder messages name (export stages rejects under a temporary name)
        self._open: dict[str, tuple[BinaryIO, BinaryIO, list[int]]] = {}
        self._copiers: dict[str, _LineCopier] = {}
        self._stack = ExitStack()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolkitError(f"{directory}: cannot create the rejects folder ({exc.strerror or exc})") from None

    def _files(self, name: str) -> tuple[BinaryIO, BinaryIO, list[int]]:
        if name not in self._open:
            lines_path, problems_path = rejects_paths(self.directory, name)
            lines = self._stack.enter_context(self._opened(lines_path))
            problems = self._stack.enter_context(self._opened(problems_path))
            self._open[name] = (lines, problems, [0])
        return self._open[name]

    @staticmethod
    def _opened(path: Path) -> BinaryIO:
        try:
            return open(path, "wb")
        except OSError as exc:
            raise ToolkitError(f"{path}: cannot write rejects ({exc.strerror or exc})") from None

    def _shown(self, name: str) -> Path:
        path = Path(name)
        if self.shown_as is not None and path.is_relative_to(self.directory):
            return self.shown_as / path.relative_to(self.directory)
        return path

    def write(self, name: str, raw: RawLine, problems: list[Problem]) -> None:
        lines, problem_file, counter = self._files(name)
        try:
            if raw.too_long and name in self.sources:
                if name not in self._copiers:
                    self._copiers[name] = _LineCopier(self.sources[name], self._stack)
                self._copiers[name].copy(raw.number, lines)
            else:
                lines.write(raw.data)
            lines.write(b"\n")
            counter[0] += 1
            entry = {
                "file": name,
                "line": raw.number,
                "rejects_line": counter[0],
                "too_long": raw.too_long,
                "problems": [{k: v for k, v in p.to_dict().items() if k not in ("file", "line")} for p in problems],
            }
            problem_file.write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            raise ToolkitError(f"{self._shown(lines.name)}: cannot write rejects ({exc.strerror or exc})") from None

    def close(self) -> None:
        """Flush and close every file; a write that fails only now (a full disk) names its file."""
        try:
            for files in self._open.values():
                for file in files[:2]:
                    try:
                        file.close()  # type: ignore[union-attr]
                    except OSError as exc:
                        raise ToolkitError(f"{self._shown(file.name)}: cannot write rejects "
                                           f"({exc.strerror or exc})") from None
        finally:
            self._stack.close()
            self._open.clear()
            self._copiers.clear()
