"""The JSON Lines readers: compression, BOM, CRLF, blank lines, over-long lines, line numbers."""

from __future__ import annotations

import gzip

import pytest
import zstandard

from toolkit.errors import ToolkitError
from toolkit.readers import iter_lines

BODY = b'\xef\xbb\xbf{"a": 1}\r\n\r\n   \n{"b": "\xc3\xa9"}\r\n{"c": 3}'


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_formats_bom_crlf_blank_and_no_final_newline(tmp_path, suffix):
    path = tmp_path / f"x.{suffix}"
    data = BODY
    if suffix.endswith("gz"):
        data = gzip.compress(BODY)
    elif suffix.endswith("zst"):
        data = zstandard.ZstdCompressor().compress(BODY)
    path.write_bytes(data)
    lines = [(r.number, r.data) for r in iter_lines(path)]
    assert lines == [(1, b'{"a": 1}'), (4, b'{"b": "\xc3\xa9"}'), (5, b'{"c": 3}')]


def test_overlong_line_is_cut_flagged_and_reading_goes_on(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n' + b"y" * 10_000 + b"\n" + b'{"b": 2}\n')
    lines = list(iter_lines(path, max_line_bytes=100))
    assert [(r.number, r.too_long, len(r.data)) for r in lines] == [(1, False, 8), (2, True, 100), (3, False, 8)]


def test_corrupt_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-30])
    with pytest.raises(ToolkitError) as info:
        list(iter_lines(path))
    assert "x.jsonl.gz" in info.value.message


def test_progress_reports_bytes(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 20_000)
    seen: list[int] = []
    list(iter_lines(path, on_progress=seen.append))
    assert seen and seen[-1] == path.stat().st_size


def _reference(data: bytes, limit: int) -> list[tuple[int, bytes, bool]]:
    """The reader's contract, written the slow and obvious way."""
    out = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if len(line) > limit:
            out.append((number, line[:limit], True))
            continue
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        line = line[:-1] if line.endswith(b"\r") else line
        if line.strip():
            out.append((number, line, False))
    return out


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    trailing_newline=st.booleans(),
    chunk=st.integers(1, 64),
    limit=st.integers(1, 50),
)
def test_chunked_reader_matches_reference(tmp_path_factory, monkeypatch_module, lines, trailing_newline, chunk, limit):
    import toolkit.readers as readers

    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    path = tmp_path_factory.mktemp("r") / "x.jsonl"
    path.write_bytes(data)
    monkeypatch_module.setattr(readers, "_CHUNK", chunk)
    got = [(r.number, r.data, r.too_long) for r in iter_lines(path, max_line_bytes=limit)]
    assert got == _reference(data, limit)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"", b" ", b"\r", b"{}", b"x" * 30, b"\xef\xbb\xbf{}", b"\n\n\n"]), max_size=40),
    trailing_newline=st.booleans(),
    chunk=st.integers(1, 64),
    range_bytes=st.integers(1, 120),
    limit=st.integers(1, 50),
)
def test_byte_ranges_read_what_the_whole_file_reads(tmp_path_factory, monkeypatch_module, lines, trailing_newline,
                                                   chunk, range_bytes, limit):
    """Workers reading ranges (issue 9) see the same numbered lines as one reader of the whole file."""
    import toolkit.readers as readers

    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    path = tmp_path_factory.mktemp("r") / "x.jsonl"
    path.write_bytes(data)
    monkeypatch_module.setattr(readers, "_CHUNK", chunk)
    ranges = readers.plan_ranges(path, range_bytes)
    assert ranges[0].start == 0 and ranges[-1].end == len(data)
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(data[r.end - 1 : r.end] == b"\n" for r in ranges[:-1])  # ranges hold whole lines
    got = [(raw.number, raw.data, raw.too_long) for r in ranges for block in readers.iter_range(r, limit)
           for raw in readers.block_lines(block, limit)]
    assert got == _reference(data, limit)
    columns = [readers.range_lines(r, limit) for r in ranges]
    if all(c is not None for c in columns):  # None: a line over the limit, left to the streaming reader
        as_rows = [(int(n), d, False) for c in columns for n, d in zip(c.numbers, c.data.to_pylist(), strict=True)]
        assert as_rows == got
        assert b"".join(c.joined for c in columns) == b"".join(d + b"\n" for _, d, _ in got)
    else:
        assert any(too_long for _, _, too_long in got)


def test_range_lines_with_many_indented_and_blank_lines(tmp_path):
    """Past a few hundred lines that start with a space, blank lines are found in one array pass."""
    from toolkit.readers import plan_ranges, range_lines

    lines = [b"  {}" if i % 3 else b" \t " for i in range(3000)]
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n".join(lines))
    (only,) = plan_ranges(path)
    got = range_lines(only)
    assert got.numbers.tolist() == [i + 1 for i in range(3000) if i % 3]
    assert got.data.to_pylist() == [b"  {}"] * 2000


def test_a_file_that_shrinks_after_planning_is_an_error_naming_it(tmp_path):
    from toolkit.readers import iter_range, plan_ranges

    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 100)
    last = plan_ranges(path, 100)[-1]
    path.write_bytes(b'{"a": 1}\n' * 10)
    with pytest.raises(ToolkitError, match=r"x\.jsonl: cannot read past line .*changed while it was read"):
        list(iter_range(last))
    from toolkit.readers import range_lines

    with pytest.raises(ToolkitError, match=r"x\.jsonl: cannot read past line .*changed while it was read"):
        range_lines(last)
