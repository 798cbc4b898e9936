"""Issue 12: reading input never loses records in silence and never hangs.

Each attack a reviewer found against the readers gets a test: truncated and corrupt gzip/zstd
streams, decompression bombs, runs of blank lines, FIFOs and devices given as input (to the
validator's reader and to `ingest text`). Inputs are written into `tmp_path`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard
from conftest import DatasetMaker, article
from typer.testing import CliRunner

import toolkit.ingest.text as text
import toolkit.readers as readers
from toolkit.cli import app
from toolkit.errors import ToolkitError
from toolkit.readers import RATIO_ENV, iter_blocks, iter_lines

LINES = [json.dumps({"id": f"a{i}", "title": "t" * (i % 37), "text": f"story {i}"}).encode() for i in range(2000)]
BODY = b"\n".join(LINES) + b"\n"
FRAME_BYTES = 7000  # frames of this many input bytes end inside a line, as zstd -T and pzstd cut them


def zst_frames(body: bytes, size: int, **options: Any) -> list[bytes]:
    """`body` compressed as independent zstd frames of `size` input bytes each (a multi-frame file)."""
    compressor = zstandard.ZstdCompressor(**options)
    return [compressor.compress(body[i : i + size]) for i in range(0, len(body), size)]


def boundaries(frames: list[bytes]) -> list[int]:
    """Byte offsets where one frame ends and the next begins."""
    return list(itertools.accumulate(len(f) for f in frames))[:-1]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read(path: Path) -> tuple[list[bytes], ToolkitError | None]:
    """The lines read before the reader stopped, and the error it stopped with (None: the end)."""
    got: list[bytes] = []
    try:
        for line in iter_lines(path):
            got.append(line.data)
    except ToolkitError as exc:
        return got, exc
    return got, None


def assert_damaged(path: Path) -> list[bytes]:
    """Reading PATH stops with an error naming the file and the last line read; the lines before it."""
    got, error = read(path)
    assert error is not None, f"{path.name} read to the end: {len(got)} of {len(LINES)} lines, no error"
    assert error.exit_code == 2
    assert error.message.startswith(f"{path}: cannot read past line {len(got)}: ")
    return got


def assert_stops_after_good_lines(path: Path) -> None:
    """Reading PATH yields a prefix of LINES, then an error naming the file and the last line read."""
    got = assert_damaged(path)
    assert got == LINES[: len(got)]


def within(seconds: float, work: Callable[[], Any], release: Path | None = None) -> Any:
    """WORK's result (or its exception, raised here), failing if it takes longer than SECONDS.

    A reader stuck opening the FIFO `release` is let go by opening its other end, so a failing
    test does not hang the run.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if release is not None:
            os.close(os.open(release, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"still reading after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    return path


# --- zstd: a cut inside any frame, corrupt data, bytes after the end --------------------------------


SINGLE = zstandard.ZstdCompressor().compress(BODY)
MULTI = zst_frames(BODY, FRAME_BYTES)
MULTI_DATA = b"".join(MULTI)
INSIDE_FRAMES = sorted(
    {1, 3, 4, 7, 12, len(MULTI_DATA) // 3, len(MULTI_DATA) // 2, len(MULTI_DATA) - 1}
    | {b + d for b in boundaries(MULTI) for d in (-1, 1, 4, 9)}
)


@pytest.mark.parametrize("cut", [1, 3, 4, 7, 12, 100, len(SINGLE) // 3, len(SINGLE) // 2, len(SINGLE) - 1])
def test_single_frame_zst_cut_anywhere_is_an_error(tmp_path, cut):
    assert_stops_after_good_lines(write(tmp_path, "x.jsonl.zst", SINGLE[:cut]))


@pytest.mark.parametrize("cut", INSIDE_FRAMES)
def test_multi_frame_zst_cut_inside_any_frame_is_an_error(tmp_path, cut):
    assert len(MULTI) > 5
    assert_stops_after_good_lines(write(tmp_path, "x.jsonl.zst", MULTI_DATA[:cut]))


def test_zst_cut_at_a_frame_boundary_shows_as_a_broken_last_line(tmp_path):
    # A cut between two whole frames leaves a well-formed zstd file; when frames end inside lines
    # (zstd -T, pzstd) the cut line is read as it is and fails the JSON check: never silent.
    for frames, cut in enumerate(boundaries(MULTI), 1):
        assert BODY[frames * FRAME_BYTES - 1] != ord("\n")  # the frame ends inside a line
        got, error = read(write(tmp_path, "x.jsonl.zst", MULTI_DATA[:cut]))
        assert error is None
        assert got[:-1] == LINES[: len(got) - 1]
        assert got[-1] not in LINES and LINES[len(got) - 1].startswith(got[-1])


@pytest.mark.xfail(
    strict=True,
    reason="a cut between two frames that end at line ends is a valid shorter zstd file: only a size or "
    "checksum kept elsewhere (the manifest) could tell",
)
def test_zst_cut_at_a_frame_boundary_between_lines_is_an_error(tmp_path):
    frames = [zstandard.ZstdCompressor().compress(line + b"\n") for line in LINES[:10]]
    assert_stops_after_good_lines(write(tmp_path, "x.jsonl.zst", b"".join(frames[:5])))


@pytest.mark.parametrize("trailer", [b"\x00", b"\x00\x00\x00\x00\x00", b"not zstd", b"\x28\xb5\x2f"])
def test_bytes_after_the_last_zst_frame_are_an_error(tmp_path, trailer):
    path = write(tmp_path, "x.jsonl.zst", MULTI_DATA + trailer)
    got, error = read(path)
    assert got == LINES
    assert error is not None and error.message.startswith(f"{path}: cannot read past line {len(LINES)}: ")


def test_corrupt_byte_in_a_zst_frame_is_an_error(tmp_path):
    # Without a checksum a flipped literal byte can decode to other bytes unseen; the zstd command
    # line writes one by default, and with it every flip is caught (after the frame's lines).
    data = b"".join(zst_frames(BODY, FRAME_BYTES, write_checksum=True))
    for at in (len(data) // 4, len(data) // 2, len(data) - 3):
        bad = bytearray(data)
        bad[at] ^= 0x55
        assert_damaged(write(tmp_path, "x.jsonl.zst", bytes(bad)))


def test_multi_frame_and_skippable_frames_read_whole(tmp_path):
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    path = write(tmp_path, "x.jsonl.zst", skippable + skippable.join(MULTI))
    assert read(path) == (LINES, None)


# --- gzip: a cut anywhere, corrupt data, members ----------------------------------------------------


GZ = gzip.compress(BODY[:30_000]) + gzip.compress(BODY[30_000:])  # two members


@pytest.mark.parametrize("cut", [1, 2, 5, 10, 11, 30, len(GZ) // 4, len(GZ) // 2, len(GZ) - 8, len(GZ) - 4, len(GZ) - 1])
def test_gz_cut_anywhere_is_an_error(tmp_path, cut):
    assert_stops_after_good_lines(write(tmp_path, "x.jsonl.gz", GZ[:cut]))


def test_gz_cut_inside_the_second_member_header_is_an_error(tmp_path):
    first = len(gzip.compress(BODY[:30_000]))
    for cut in (first + 1, first + 5, first + 12):
        assert_stops_after_good_lines(write(tmp_path, "x.jsonl.gz", GZ[:cut]))


@pytest.mark.parametrize("name", ["x.jsonl.gz", "x.jsonl.zst"])
def test_empty_compressed_file_is_an_error(tmp_path, name):
    assert_stops_after_good_lines(write(tmp_path, name, b""))


def test_corrupt_byte_in_gz_is_an_error(tmp_path):
    for at in (len(GZ) // 4, len(GZ) // 2, len(GZ) - 6):
        bad = bytearray(GZ)
        bad[at] ^= 0x55
        assert_damaged(write(tmp_path, "x.jsonl.gz", bytes(bad)))


def test_bytes_after_the_last_gz_member_are_an_error(tmp_path):
    path = write(tmp_path, "x.jsonl.gz", GZ + b"junk")
    got, error = read(path)
    assert got == LINES and error is not None and "Not a gzipped file" in error.message


def test_concatenated_gz_members_read_whole(tmp_path):
    assert read(write(tmp_path, "x.jsonl.gz", GZ)) == (LINES, None)


# --- decompression bombs and runs of blank lines -----------------------------------------------------


@pytest.mark.parametrize("name", ["bomb.jsonl.gz", "bomb.jsonl.zst"])
def test_ratio_guard_stops_a_bomb(tmp_path, monkeypatch, name):
    monkeypatch.setattr(readers, "RATIO_FLOOR_BYTES", 2 << 20)
    filler = b"\n" * (16 << 20)
    data = gzip.compress(filler) if name.endswith(".gz") else zstandard.ZstdCompressor().compress(filler)
    path = write(tmp_path, name, data)
    with pytest.raises(ToolkitError) as caught:
        list(iter_lines(path))
    message = caught.value.message
    assert message.startswith(f"{path}: stopped at line ") and "more than 200 times" in message
    assert RATIO_ENV in message and caught.value.exit_code == 2

    monkeypatch.setenv(RATIO_ENV, "inf")
    assert list(iter_lines(path)) == []
    monkeypatch.setenv(RATIO_ENV, "lots")
    with pytest.raises(ToolkitError, match=f"{RATIO_ENV}='lots' is not a positive number"):
        list(iter_lines(path))


def test_ratio_guard_leaves_ordinary_files_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "RATIO_FLOOR_BYTES", 1 << 10)
    assert read(write(tmp_path, "x.jsonl.gz", GZ)) == (LINES, None)


def test_runs_of_blank_lines_are_counted_not_handed_out(tmp_path):
    filler = b"\n" * (8 << 20) + b"\r\n \t\n" * (1 << 20)
    path = write(tmp_path, "x.jsonl.gz", gzip.compress(b'{"a": 1}\n' + filler + b'{"b": 2}\n'))
    numbers = [(line.number, line.data) for line in iter_lines(path)]
    assert numbers == [(1, b'{"a": 1}'), (2 + (8 << 20) + 2 * (1 << 20), b'{"b": 2}')]
    # Over 10 million blank lines; only those sharing a read with a record reach a block.
    assert sum(len(block.lines) for block in iter_blocks(path)) < 2 * (1 << 20)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_blank_runs_across_small_reads_match_the_reference(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(readers, "_CHUNK", chunk)
    data = b"\n\n{a}\n \n\r\n\n\n" + b"  " * 20 + b"\n{b}  \n\t\n\n{c}" + b" " * 30 + b"\n\n"
    got = [(line.number, line.data, line.too_long) for line in iter_lines(write(tmp_path, "x.jsonl", data), 25)]
    assert got == [(3, b"{a}", False), (8, b" " * 25, True), (9, b"{b}  ", False), (12, b"{c}" + b" " * 22, True)]


# --- only regular files ------------------------------------------------------------------------------


def test_fifo_is_refused_without_waiting_for_a_writer(fifo):
    with pytest.raises(ToolkitError) as caught:
        within(10, lambda: list(iter_lines(fifo)), release=fifo)
    assert caught.value.message == f"{fifo}: not a regular file (FIFO)"


def test_symlink_to_a_fifo_is_refused(fifo, tmp_path):
    link = tmp_path / "link.jsonl"
    link.symlink_to(fifo)
    with pytest.raises(ToolkitError, match="not a regular file \\(FIFO\\)"):
        within(10, lambda: list(iter_lines(link)), release=fifo)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_device_is_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    with pytest.raises(ToolkitError) as caught:
        within(10, lambda: list(iter_lines(Path(device))))
    assert caught.value.message == f"{device}: not a regular file (character device)"


def test_directory_is_refused(tmp_path):
    with pytest.raises(ToolkitError) as caught:
        list(iter_lines(tmp_path))
    assert caught.value.message == f"{tmp_path}: not a regular file (directory)"


def test_missing_file_is_refused_as_before(tmp_path):
    with pytest.raises(ToolkitError, match="nowhere.jsonl: cannot open \\(No such file or directory\\)"):
        list(iter_lines(tmp_path / "nowhere.jsonl"))


# --- the CLI: validate on a truncated .jsonl.zst, ingest text on a FIFO and /dev/zero ---------------


def test_validate_truncated_zst_exits_2_naming_the_file(make_dataset: DatasetMaker):
    root = make_dataset([article(id=f"a{i}", title=f"Story {i} " + "x" * (i % 50)) for i in range(3000)])
    body = (root / "articles.jsonl").read_bytes()
    frames = zst_frames(body, 50_000)
    (root / "articles.jsonl").unlink()
    (root / "articles.jsonl.zst").write_bytes(b"".join(frames)[: boundaries(frames)[2] + 10])
    (root / "dataset.yaml").write_text("name: x\narticles: [articles.jsonl.zst]\nlayers: {}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(root)])
    assert result.exit_code == 2, result.output
    assert "articles.jsonl.zst: cannot read past line " in result.output
    assert "Traceback" not in result.output


def test_ingest_text_refuses_fifo_device_and_oversized_files(fifo, tmp_path, monkeypatch):
    monkeypatch.setattr(text, "MAX_TEXT_FILE_BYTES", 1000)
    big = write(tmp_path, "big.txt", b"Title\n\n" + b"word " * 400)
    folder = tmp_path / "scrapes"
    folder.mkdir()
    os.mkfifo(folder / "pipe.txt")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    paths = [fifo, Path("/dev/zero"), big, folder]
    result = within(10, lambda: text.ingest_text(paths), release=fifo)
    reasons = {p.path: (p.code, p.message) for p in result.problems}
    assert reasons == {
        fifo: ("unreadable", "cannot read the file: not a regular file (FIFO)"),
        Path("/dev/zero"): ("unreadable", "cannot read the file: not a regular file (character device)"),
        big: ("unreadable", "cannot read the file: larger than 1,000 bytes, too large for one article"),
        folder / "pipe.txt": ("unreadable", "cannot read the file: not a regular file (FIFO)"),
        folder / "gone.txt": ("unreadable", "cannot read the file: No such file or directory"),
    }
    assert result.articles == []


def test_ingest_text_cli_on_fifo_and_dev_zero_exits_1(fifo, tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    out = tmp_path / "articles.jsonl"
    result = within(20, lambda: CliRunner().invoke(app, ["ingest", "text", str(fifo), "/dev/zero", "--out", str(out)]),
                    release=fifo)
    assert result.exit_code == 1, result.output
    assert f"{fifo}: unreadable: cannot read the file: not a regular file (FIFO)" in result.output
    assert "/dev/zero: unreadable: cannot read the file: not a regular file (character device)" in result.output
    assert "Traceback" not in result.output
