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
