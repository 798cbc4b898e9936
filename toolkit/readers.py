"""Streaming line readers for `.jsonl`, `.jsonl.gz` and `.jsonl.zst`.

A reader yields raw lines with their line numbers and never decodes or parses them: decoding and
parsing belong to the checks, so that every bad line becomes a located problem, not an exception.

Reading never loses records without saying so and never runs without end (issue 12):

- Only regular files are opened: a FIFO blocks its reader until a writer comes, a device such as
  `/dev/zero` never ends. Anything else is refused before it is opened.
- A compressed stream that ends inside a gzip member or zstd frame, holds corrupt data or has bytes
  after its end is a `ToolkitError` naming the file and the last line read whole; the lines before
  the damage are given out first. A file cut exactly between two members or frames is a
  well-formed shorter stream that no reader can tell from the real one.
- A compressed stream that inflates beyond `MAX_RATIO` times the compressed bytes read, once past
  `RATIO_FLOOR_BYTES`, is stopped as a likely decompression bomb; `NEWS_TOOLKIT_MAX_RATIO` sets
  another ratio (`inf` turns the guard off).
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol

import numpy as np
import pyarrow as pa

from toolkit.errors import ToolkitError

DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
# Real JSON Lines compress 3-20x; 200x past 256 MiB is far beyond that, while a small file of one
# repeated record may legitimately compress better, hence the floor.
MAX_RATIO = 200.0
RATIO_FLOOR_BYTES = 256 * 1024 * 1024
RATIO_ENV = "NEWS_TOOLKIT_MAX_RATIO"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
# One zstd decompress call returns everything it decodes, and a 128 KiB block can be coded in 4 bytes
# (RLE), so feeding 1 KiB at a time keeps a call's output under 32 MiB whatever the file holds.
_ZSTD_FEED = 1 << 10
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISSOCK, "socket"),
)


class RawLine(NamedTuple):
    """One non-blank line: its 1-based number, its bytes without the line ending, and whether it was cut.

    `too_long` lines hold only their first `max_line_bytes` bytes (the rest was read and dropped) so
    memory stays bounded.
    """

    number: int
    data: bytes
    too_long: bool = False


class NotRegularFile(OSError):
    """Raised instead of opening a FIFO, device, directory or socket; its text names the kind."""


class DamagedStream(Exception):
    """A compressed stream that is empty, ends inside a zstd frame or holds data the decoder rejects."""


class ByteStream(Protocol):
    """A (decompressed) stream: `read1` gives at least one byte unless at the end, `read` all it asks."""

    def read1(self, size: int) -> bytes: ...

    def read(self, size: int) -> bytes: ...


def file_kind(mode: int) -> str:
    """What a `st_mode` is, for messages: FIFO, character device, directory, … ("special file" else)."""
    return next((name for is_kind, name in _KINDS if is_kind(mode)), "special file")


def _refuse_unless_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(f"not a regular file ({file_kind(mode)})")


def open_regular(path: Path) -> BinaryIO:
    """Open `path` for reading bytes if it is a regular file once symlinks are followed.

    Raises `NotRegularFile` (an `OSError` reading e.g. "not a regular file (FIFO)") for anything else,
    without opening it, and `OSError` when it cannot be opened.
    """
    _refuse_unless_regular(os.stat(path).st_mode)
    # Non-blocking open, then a second look at what was opened: a FIFO put in its place after the
    # check must not hold the open until a writer comes.
    fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


class _ZstdFrames:
    """A zstd stream decoded frame by frame, so that a cut inside any frame or block is seen.

    zstandard's `stream_reader(read_across_frames=True)` takes the end of the input inside a frame
    for the end of the data (a file cut at a block boundary read as valid, records missing); a
    `decompressobj` per frame tells a finished frame (`eof`) from one still waiting for bytes.
    Bytes after the last frame are decoded as a frame too, so they are an error, not ignored.
    """

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard  # only zstd inputs pay for the import

        self._raw = raw
        self._error = zstandard.ZstdError
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = self._dctx.decompressobj()
        self._in_frame = False  # some of the current frame was fed and its end not yet seen
        self._out = b""
        self._pos = 0
        self._failure: DamagedStream | None = None  # raised once the bytes decoded before it are read

    def read1(self, size: int) -> bytes:
        while self._pos >= len(self._out):
            if self._failure is not None:
                raise self._failure
            data = self._raw.read(_ZSTD_FEED)
            if not data:
                if self._in_frame:
                    raise DamagedStream("the file ends inside a zstd frame (cut short, or bytes after the end)")
                return b""
            self._out, self._pos = self._decode(data), 0
        piece = self._out[self._pos : self._pos + size]
        self._pos += len(piece)
        return piece

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        have = 0
        while (size < 0 or have < size) and (piece := self.read1(size - have if size >= 0 else _CHUNK)):
            parts.append(piece)
            have += len(piece)
        return b"".join(parts)

    def _decode(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data:
            try:
                out.append(self._frame.decompress(data))
            except self._error as exc:
                # Frames that ended earlier in this feed are whole: give them out first.
                self._failure = DamagedStream(f"corrupt zstd data ({exc})")
                break
            if not self._frame.eof:
                self._in_frame = True
                break
            # A decompressobj decodes one frame; what follows it starts the next one.
            data = self._frame.unused_data
            self._frame = self._dctx.decompressobj()
            self._in_frame = False
        return b"".join(out)


@contextmanager
def open_binary(path: Path) -> Iterator[tuple[ByteStream, BinaryIO]]:
    """Open a possibly compressed regular file for reading bytes, chosen by its suffix.

    Yields (decompressed stream, raw file): the raw file's position is the progress made on disk.
    Raises `ToolkitError` naming the file when it cannot be opened or is not a regular file. Reading
    a damaged stream raises one of `_DAMAGE`.
    """
    try:
        raw = open_regular(path)
    except NotRegularFile as exc:
        raise ToolkitError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot open ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise ToolkitError(f"{str(path)!r}: cannot open ({exc})") from None
    try:
        stream: ByteStream
        if path.name.endswith(".gz"):
            stream = gzip.GzipFile(fileobj=raw)
        elif path.name.endswith(".zst"):
            stream = _ZstdFrames(raw)
        else:
            stream = raw
        yield stream, raw
    finally:
        raw.close()


# What gzip, zlib and the zstd frames raise for a truncated or corrupt stream (BadGzipFile is an
# OSError, a bad deflate block a zlib.error), and what a failing disk raises.
_DAMAGE = (OSError, EOFError, ValueError, zlib.error, DamagedStream)


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


class _Splitter:
    """Cuts a file's bytes, fed in chunks, into `Block`s; `number` counts the lines given out so far.

    State across chunks (a line spanning reads, the head of an over-long line) is what makes it a
    class: `iter_blocks` feeds it a whole file, `iter_range` one range of it.
    """

    def __init__(self, number: int, max_line_bytes: int) -> None:
        self.number = number  # lines given out so far (the number of the line before the next one)
        self._max = max_line_bytes
        self._pending: list[bytes] = []  # pieces of the line being read, when it spans reads
        self._pending_size = 0
        self._cut: bytes | None = None  # the head of an over-long line; the rest of it is skipped

    def feed(self, chunk: bytes) -> Iterator[Block]:
        if (
            self._cut is None
            and chunk.isspace()
            and self._pending_size + len(chunk) <= self._max
            and (self._pending_size == 0 or b"".join(self._pending).isspace())
            and b"\n" in chunk
        ):
            # Only blank lines end in this read, none of them too long: count them rather
            # than hand a million empty lines one by one to the checks (a newline bomb).
            self.number += chunk.count(b"\n")
            tail = chunk[chunk.rindex(b"\n") + 1 :]
            self._pending, self._pending_size = [tail], len(tail)
            return
        pieces = chunk.split(b"\n")
        tail = pieces.pop()  # not ended by a newline (yet): carried into the next read
        if pieces:
            if self._cut is not None:  # the over-long line ends here
                self.number += 1
                yield Block(self.number, [self._cut], True)
                self._cut = None
                del pieces[0]
            elif self._pending:
                self._pending.append(pieces[0])
                pieces[0] = b"".join(self._pending)
                self._pending, self._pending_size = [], 0
            if pieces:
                yield Block(self.number + 1, pieces)
                self.number += len(pieces)
        if self._cut is None:
            self._pending.append(tail)
            self._pending_size += len(tail)
            if self._pending_size > self._max:
                self._cut = b"".join(self._pending)[: self._max]
                self._pending, self._pending_size = [], 0

    def finish(self) -> Iterator[Block]:
        """The last line, when the bytes did not end with a newline."""
        if self._cut is not None:
            yield Block(self.number + 1, [self._cut], True)
        elif self._pending:
            yield Block(self.number + 1, [b"".join(self._pending)])


def iter_blocks(
    path: Path,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Block]:
    """The file's lines in blocks of those completed by each 1 MiB read, uncleaned (see `Block`).

    Blocks depend only on the file's bytes, so anything cut along them is deterministic. Memory
    is bounded: an over-long line keeps only its first `max_line_bytes` bytes. Lines that are all
    blank may be left out of every block (the numbers of the others stay right). Raises
    `ToolkitError` naming the file when it is not a regular file, when a compressed stream is
    damaged (after the blocks of the lines read whole) or inflates past the ratio guard.
    """
    splitter = _Splitter(0, max_line_bytes)
    inflated = 0  # decompressed bytes read so far
    with open_binary(path) as (stream, raw):
        compressed = stream is not raw
        max_ratio = _max_ratio() if compressed else 0.0
        try:
            for chunk in _chunks(stream, _CHUNK):
                if on_progress is not None:
                    on_progress(raw.tell())
                if compressed:
                    inflated += len(chunk)
                    _check_ratio(path, inflated, raw.tell(), max_ratio, splitter.number)
                yield from splitter.feed(chunk)
            if compressed and raw.tell() == 0:
                # gzip and zstd write a header even for no data: an empty file was cut at byte 0.
                raise DamagedStream("the file is empty, which no compressor writes (cut short?)")
        except _DAMAGE as exc:
            raise ToolkitError(f"{path}: cannot read past line {splitter.number}: {exc}") from None
        if on_progress is not None:
            on_progress(raw.tell())
        yield from splitter.finish()


BATCH_LINES = 4096  # the unit of work of the checks: blocks are cut to this many lines at most


def cut_blocks(blocks: Iterable[Block], size: int | None = None) -> Iterator[Block]:
    """The blocks, cut to at most `size` (default `BATCH_LINES`) lines each."""
    size = size or BATCH_LINES
    for block in blocks:
        if len(block.lines) <= size:
            yield block
            continue
        for i in range(0, len(block.lines), size):
            yield Block(block.first + i, block.lines[i : i + size], block.cut)


class FileRange(NamedTuple):
    """Whole lines of an uncompressed file: bytes [start, end), the first of them numbered `first`.

    A worker reads its range itself (issue 9: no line passes through the driver); ranges depend
    only on the file's bytes and `RANGE_BYTES`, never on the number of workers.
    """

    path: str
    start: int
    end: int
    first: int


RANGE_BYTES = 8 << 20  # a worker's unit of reading: big enough that planning and task costs vanish


def can_range(path: Path) -> bool:
    """Whether the file can be cut into byte ranges: any byte offset of a compressed stream is not."""
    return not path.name.endswith((".gz", ".zst"))


def plan_ranges(path: Path, range_bytes: int | None = None) -> list[FileRange]:
    """The file cut into ranges of about `range_bytes`, each ending just after a newline (or at the end).

    The driver reads the file once without splitting it (a newline count per range gives each
    range's first line number; at memory speed). Raises `ToolkitError` like `iter_blocks`.
    """
    range_bytes = range_bytes or RANGE_BYTES
    ranges: list[FileRange] = []
    with open_binary(path) as (_, raw):
        try:
            start, first, offset, newlines = 0, 1, 0, 0
            for chunk in _chunks(raw, _CHUNK):
                offset += len(chunk)
                newlines += chunk.count(b"\n")
                if offset - start >= range_bytes and b"\n" in chunk:
                    # Cut after the chunk's last newline: the chunk's tail belongs to the next range.
                    tail = len(chunk) - chunk.rindex(b"\n") - 1
                    end = offset - tail
                    ranges.append(FileRange(str(path), start, end, first))
                    first, newlines, start = first + newlines, 0, end  # the tail holds no newline
        except _DAMAGE as exc:
            raise ToolkitError(f"{path}: cannot read: {exc}") from None
    if offset > start or not ranges:
        ranges.append(FileRange(str(path), start, offset, first))
    return ranges


def iter_range(file_range: FileRange, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Block]:
    """The blocks of one range, numbered as `iter_blocks` numbers them in the whole file."""
    path = Path(file_range.path)
    splitter = _Splitter(file_range.first - 1, max_line_bytes)
    with open_binary(path) as (_, raw):
        try:
            raw.seek(file_range.start)
            left = file_range.end - file_range.start
            while left > 0:
                chunk = raw.read(min(_CHUNK, left))
                if not chunk:
                    raise DamagedStream(f"the file ended at byte {raw.tell():,}: it changed while it was read")
                left -= len(chunk)
                yield from splitter.feed(chunk)
        except _DAMAGE as exc:
            raise ToolkitError(f"{path}: cannot read past line {splitter.number}: {exc}") from None
    yield from splitter.finish()


class RangeLines(NamedTuple):
    """The non-blank lines of a range as columns: what `iter_range` + `clean_line` give, line by line.

    `data[i]` is line `numbers[i]` as the checks see it; `joined` is those lines, each ended by a newline
    (what Arrow's JSON reader reads).
    """

    numbers: np.ndarray
    data: pa.BinaryArray
    joined: bytes


_SPACE = np.zeros(256, np.bool_)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.isspace() takes for blank
_WHOLE_RANGE_LIMIT = 4 * RANGE_BYTES  # a range this large holds a huge line: the streaming splitter reads it


def range_lines(file_range: FileRange, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> RangeLines | None:
    """The range's lines split and cleaned by array operations over its bytes (no Python per line),
    or None when a line is longer than `max_line_bytes` or the range too large to hold: `iter_range`
    reads those. Raises `ToolkitError` like `iter_range` when the file changed under it.
    """
    size = file_range.end - file_range.start
    if size > _WHOLE_RANGE_LIMIT:
        return None
    path = Path(file_range.path)
    with open_binary(path) as (_, raw):
        try:
            raw.seek(file_range.start)
            data = raw.read(size)
        except _DAMAGE as exc:
            raise ToolkitError(f"{path}: cannot read past line {file_range.first - 1}: {exc}") from None
    if len(data) < size:
        raise ToolkitError(f"{path}: cannot read past line {file_range.first - 1}: the file ended at byte "
                           f"{file_range.start + len(data):,}: it changed while it was read")
    buf = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [size]])
    if starts[-1] == size:  # the range ends with a newline: no line after it
        starts, ends = starts[:-1], ends[:-1]
    numbers = file_range.first + np.arange(len(starts), dtype=np.int64)
    if (ends - starts > max_line_bytes).any():
        return None
    plain = True
    if file_range.first == 1 and data.startswith(_BOM):
        starts[0] += 3
        plain = False
    crs = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13) if size else np.zeros(0, np.bool_)
    if crs.any():
        ends = ends - crs
        plain = False
    # A line is blank when empty or all space bytes; only lines that start with a space byte need a look.
    kept = ends > starts
    doubtful = np.flatnonzero(kept & _SPACE[buf[np.minimum(starts, max(size - 1, 0))]] if size else kept)
    if len(doubtful) > 256:  # many (say, indented lines): one pass over the bytes instead of a loop
        solid = np.concatenate([[0], np.cumsum(~_SPACE[buf], dtype=np.int64)])
        kept = solid[ends] - solid[starts] > 0
    else:
        for i in doubtful:
            kept[i] = not data[starts[i]:ends[i]].isspace()
    if not kept.all():
        starts, ends, numbers = starts[kept], ends[kept], numbers[kept]
        plain = False
    lengths = ends - starts
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    if plain:  # every line kept whole: its bytes are the range's bytes less the newlines
        values = buf[buf != 10]
        joined = data if data.endswith(b"\n") or not data else data + b"\n"
    else:
        inside = np.zeros(size + 1, np.int8)
        inside[starts] = 1
        inside[ends] = -1
        values = buf[np.cumsum(inside[:-1], dtype=np.int32) > 0]
        out = np.empty(len(values) + len(starts), np.uint8)
        breaks = offsets[1:] + np.arange(len(starts))
        fill = np.ones(len(out), np.bool_)
        fill[breaks] = False
        out[fill] = values
        out[breaks] = 10
        joined = out.tobytes()
    array = pa.Array.from_buffers(pa.binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(values)])
    return RangeLines(numbers, array, joined)


def _chunks(stream: ByteStream, size: int) -> Iterator[bytes]:
    """The stream's bytes in pieces of exactly `size` (the last one may be shorter).

    When the stream breaks, the bytes read before the damage are given out before the error is
    raised, so the lines they complete are still read and the error names the last of them.
    """
    parts: list[bytes] = []
    have = 0
    try:
        while piece := stream.read1(size - have):
            parts.append(piece)
            have += len(piece)
            if have == size:
                yield b"".join(parts)
                parts, have = [], 0
    except _DAMAGE:
        if parts:
            yield b"".join(parts)
        raise
    if parts:
        yield b"".join(parts)


def _max_ratio() -> float:
    """`MAX_RATIO`, or the ratio set in the environment variable `RATIO_ENV`."""
    value = os.environ.get(RATIO_ENV, "").strip()
    if not value:
        return MAX_RATIO
    try:
        ratio = float(value)
    except ValueError:
        ratio = 0.0
    if not ratio > 0:  # also refuses NaN
        raise ToolkitError(f"{RATIO_ENV}={value!r} is not a positive number (it caps the decompression ratio)")
    return ratio


def _check_ratio(path: Path, inflated: int, read: int, max_ratio: float, number: int) -> None:
    """Stop a stream that inflates past `max_ratio` times its compressed bytes, once past the floor."""
    if inflated > RATIO_FLOOR_BYTES and inflated > max_ratio * max(read, 1):
        raise ToolkitError(
            f"{path}: stopped at line {number}: {inflated / 2**20:,.0f} MiB came out of "
            f"{read / 2**20:,.2f} MiB on disk, more than {max_ratio:g} times (a decompression bomb "
            f"or a damaged file); if the data is real, set {RATIO_ENV} to a higher ratio or "
            "decompress the file first"
        )


def read_small_text(path: Path, max_bytes: int, hint: str = "") -> str:
    """A small UTF-8 file (a manifest, a card) read whole, or `ToolkitError` naming it: unreadable,
    larger than `max_bytes` (`hint` says what such a file should be), or not UTF-8."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise ToolkitError(f"{path}: larger than {max_bytes // 1024} KiB{hint}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolkitError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def file_size(path: Path) -> int:
    """Bytes on disk (compressed size for compressed files): the unit of progress bars."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
