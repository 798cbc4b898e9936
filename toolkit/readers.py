"""Streaming line readers for `.jsonl`, `.jsonl.gz` and `.jsonl.zst`.

A reader yields raw lines with their line numbers and never decodes or parses them: decoding and
parsing belong to the checks, so that every bad line becomes a located problem, not an exception.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from toolkit.errors import ToolkitError

DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


class RawLine(NamedTuple):
    """One non-blank line: its 1-based number, its bytes without the line ending, and whether it was cut.

    `too_long` lines hold only their first `max_line_bytes` bytes (the rest was read and dropped) so
    memory stays bounded.
    """

    number: int
    data: bytes
    too_long: bool = False


@contextmanager
def open_binary(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """Open a possibly compressed file for reading bytes, chosen by its suffix.

    Yields (decompressed stream, raw file): the raw file's position is the progress made on disk.
    """
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        if path.name.endswith(".gz"):
            stream: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        elif path.name.endswith(".zst"):
            import zstandard

            stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))
        else:
            stream = raw
        yield stream, raw
    finally:
        raw.close()


def iter_lines(
    path: Path,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[RawLine]:
    """Yield the non-blank lines of a JSON Lines file, in order, with 1-based line numbers.

    Accepts a UTF-8 BOM, CRLF line endings and a missing final newline. A damaged compressed
    stream raises `ToolkitError` naming the file and the line reached (the lines before it were
    yielded). `on_progress` is called now and then with the bytes of the file read so far.
    """
    for block in iter_blocks(path, max_line_bytes, on_progress):
        yield from block_lines(block, max_line_bytes)


class Block(NamedTuple):
    """Consecutive lines of a file as read, before any cleaning; `first` is the number of `lines[0]`.

    Lines may be blank, end in CR, start with a BOM (line 1) or be longer than the limit; `cut`
    marks a block holding one over-long line that spanned reads, already cut to its head.
    `clean_line` turns a line into what the checks see.
    """

    first: int
    lines: list[bytes]
    cut: bool = False


def clean_line(line: bytes, number: int, max_line_bytes: int) -> RawLine | None:
    """The line as checks see it (no BOM, no CR, cut when too long), or None for a blank line."""
    if len(line) > max_line_bytes:
        return RawLine(number, line[:max_line_bytes], True)
    if number == 1 and line.startswith(_BOM):
        line = line[3:]
    if line[-1:] == b"\r":
        line = line[:-1]
    return RawLine(number, line) if line and not line.isspace() else None


def block_lines(block: Block, max_line_bytes: int) -> list[RawLine]:
    """The non-blank lines of a block, cleaned."""
    if block.cut:
        return [RawLine(block.first, block.lines[0], True)]
    cleaned = (clean_line(line, block.first + i, max_line_bytes) for i, line in enumerate(block.lines))
    return [raw for raw in cleaned if raw is not None]


def iter_blocks(
    path: Path,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Block]:
    """The file's lines in blocks of those completed by each 1 MiB read, uncleaned (see `Block`).

    Blocks depend only on the file's bytes, so anything cut along them is deterministic. Memory
    is bounded: an over-long line keeps only its first `max_line_bytes` bytes.
    """
    number = 0  # lines given out so far
    pending: list[bytes] = []  # pieces of the line being read, when it spans reads
    pending_size = 0
    cut: bytes | None = None  # the head of an over-long line; the rest of it is skipped
    with open_binary(path) as (stream, raw):
        try:
            while True:
                chunk = stream.read(_CHUNK)
                if on_progress is not None:
                    on_progress(raw.tell())
                if not chunk:
                    break
                pieces = chunk.split(b"\n")
                tail = pieces.pop()  # not ended by a newline (yet): carried into the next read
                if pieces:
                    if cut is not None:  # the over-long line ends here
                        number += 1
                        yield Block(number, [cut], True)
                        cut = None
                        del pieces[0]
                    elif pending:
                        pending.append(pieces[0])
                        pieces[0] = b"".join(pending)
                        pending, pending_size = [], 0
                    if pieces:
                        yield Block(number + 1, pieces)
                        number += len(pieces)
                if cut is None:
                    pending.append(tail)
                    pending_size += len(tail)
                    if pending_size > max_line_bytes:
                        cut = b"".join(pending)[:max_line_bytes]
                        pending, pending_size = [], 0
            if cut is not None:
                yield Block(number + 1, [cut], True)
            elif pending:
                yield Block(number + 1, [b"".join(pending)])
        except (OSError, EOFError, ValueError) as exc:
            # gzip/zstd raise these for truncated or corrupt streams.
            raise ToolkitError(f"{path}: cannot read past line {number}: {exc}") from None
        except Exception as exc:  # zstandard.ZstdError is not an OSError subclass
            if type(exc).__name__ == "ZstdError":
                raise ToolkitError(f"{path}: cannot read past line {number}: {exc}") from None
            raise


def file_size(path: Path) -> int:
    """Bytes on disk (compressed size for compressed files): the unit of progress bars."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
