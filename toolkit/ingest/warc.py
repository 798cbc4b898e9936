"""WARC archives (`.warc`, `.warc.gz`, e.g. Common Crawl's CC-NEWS) → article records with provenance.

The archive is streamed with warcio, one record at a time, in the driver; the HTML pages go on to
`toolkit.ingest.html`'s extraction, in batches on the engine, so memory holds a few batches, never
the archive. What each record becomes:

- `response` records with an HTML payload (`text/html`, `application/xhtml+xml`, or no content type
  and a payload that starts like HTML) and a 2xx status are extracted into articles;
- every other `response` record is a problem (`not-html`, `http-status`, `empty`, `too-large`), and
  so is an HTML page that is `undecodable` or has `no-text`;
- `request`, `warcinfo`, `metadata`, `revisit`... records are counted as `skipped`.

Provenance: `url` is the record's WARC-Target-URI, `retrieved_at` its WARC-Date, and `meta` holds
`warc_record_id`, `warc_file` (the file's name, not its path: a build carries no local path) and
`warc_offset` (the byte offset of the record in the file, compressed for `.warc.gz`, as a CDX index
gives it), so every article leads back to its record. The id is a hash of the canonical URL (see
`toolkit.ingest.html.article_id`): a page crawled twice gets the same id, which `validate` reports.

A broken archive keeps what came before the break: a record whose block ends early (the file was
cut, a gzip member breaks off) is `truncated`, reported at its offset, and so are bytes at the end
that are not a complete record; a record set with `WARC-Truncated` (the crawler cut the page) is
`truncated` too, since its article would silently lack its end. After a break nothing more of that
file can be read (the next record's start is unknown); the other files still are.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from toolkit.engines import EngineOptions
from toolkit.ingest.html import (
    MAX_PAGE_BYTES,
    ExtractOptions,
    ProgressCallback,
    WebIngestResult,
    WebPage,
    WebProblem,
    check_language,
    collect,
    expand_inputs,
    schema_pattern,
)
from toolkit.readers import open_regular

WARC_SUFFIXES = (".warc", ".warc.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# HTML in a gzipped WARC is about a fifth of its size: the engine's "too small to share out"
# threshold is about the work (pages), not the compressed bytes.
GZIP_RATIO = 5
_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)", re.IGNORECASE | re.DOTALL)
_TRAILER_BYTES = 64
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)


def ingest_warc(
    paths: Sequence[Path],
    *,
    out: Path | None = None,
    language: str | None = None,
    engine: EngineOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> WebIngestResult:
    """Extract an article from every HTML response record of the WARC files `paths`, in file order.

    `paths` are files or folders (every .warc/.warc.gz below, sorted). `out`, `language`, `engine`
    and `on_progress` as for `toolkit.ingest.html.ingest_html`. A record that gives no article, and
    a file that cannot be read, is a `WebProblem` with the file and the record's byte offset;
    `counts` adds `records` (all records read) and `skipped` (records that are not responses).

    Raises `ToolkitError` for a bad option or an `out` that cannot be written.
    """
    check_language(language)
    files = list(expand_inputs(paths, WARC_SUFFIXES))
    total = sum(size for _, size, _ in files)
    work = sum(size * (GZIP_RATIO if path.name.endswith(".gz") else 1) for path, size, _ in files)
    result = WebIngestResult()

    def pages() -> Iterator[WebPage | WebProblem]:
        done = 0
        for path, size, missing in files:
            if missing:
                yield WebProblem(str(path), "unreadable", missing)
                continue
            for item in iter_warc(path, result):
                if isinstance(item, WebPage):
                    item = replace(item, position=done + item.position)
                yield item
            done += size

    collect(pages(), result, ExtractOptions(language), engine, work, _in_file_bytes(on_progress, total), out,
            inputs=[path for path, _, _ in files])
    return result


def iter_warc(path: Path, result: WebIngestResult | None = None) -> Iterator[WebPage | WebProblem]:
    """The HTML pages and the problems of one WARC file, in record order (see the module docstring).

    `result.counts` (if given) gets `records` and `skipped`. A page's `position` is the byte offset
    just past its record.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    name = path.name
    end = 0
    read = 0
    try:
        f = open_regular(path)
    except OSError as exc:
        yield WebProblem(str(path), "unreadable", f"cannot open: {exc.strerror or exc}")
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        records = ArchiveIterator(f)
        try:
            for record in records:
                item = _read_record(record, name)
                offset = records.get_record_offset()  # only once the record is read: it reads to the end
                end = offset + records.get_record_length()
                read += 1
                if result is not None:
                    result.count("records")
                    if item is None:
                        result.count("skipped")
                if item is not None:
                    yield _placed(item, offset, end)
        except (ArchiveLoadFailed, zlib.error, EOFError, ValueError) as exc:
            if not read:
                yield WebProblem(name, "unreadable", f"not a WARC file ({_reason(exc)})", 0)
                return
            yield WebProblem(name, "truncated", f"the archive breaks here ({_reason(exc)}); nothing after it in "
                                                "this file can be read", end)
            return
        if _unread_record(f, end, size):
            yield WebProblem(name, "truncated", f"the file ends inside a record ({size - end:,} bytes after the "
                                                "last complete record)", end)


def _unread_record(f: BinaryIO, end: int, size: int) -> bool:
    """Whether bytes past the last complete record are the start of another one (not just the blank
    lines that close an uncompressed WARC's last record, which warcio does not count in its length)."""
    if size - end > _TRAILER_BYTES:
        return True
    f.seek(end)
    return bool(f.read(_TRAILER_BYTES).strip(b"\r\n\0 "))


def _read_record(record: Any, name: str) -> WebPage | WebProblem | None:
    """The page a response record holds, the problem it has, or None for a record that is not a response."""
    if record.rec_type != "response":
        return None
    headers = record.rec_headers
    http = record.http_headers
    status = http.get_statuscode() if http is not None else None
    content_type = (http.get_header("Content-Type") if http is not None else None) or ""
    mime = content_type.split(";")[0].strip().lower()
    if status is None or not status.isdigit():
        return WebProblem(name, "not-html", "a response record without an HTTP response in it")
    if not status.startswith("2"):
        return WebProblem(name, "http-status", f"HTTP status {status}, not a page")
    if mime and mime not in HTML_TYPES:
        return WebProblem(name, "not-html", f"content type {mime}")
    content = record.content_stream().read(MAX_PAGE_BYTES + 1)
    if getattr(record.raw_stream, "limit", 0) > 0 and len(content) <= MAX_PAGE_BYTES:
        # The block ends before its Content-Length: the file was cut or its gzip member broke off.
        return WebProblem(name, "truncated", f"the record ends early ({record.raw_stream.limit:,} bytes missing)")
    if len(content) > MAX_PAGE_BYTES:
        return WebProblem(name, "too-large", f"an HTML page larger than {MAX_PAGE_BYTES // 2**20} MiB")
    if headers.get_header("WARC-Truncated"):
        return WebProblem(name, "truncated", f"WARC-Truncated: {headers.get_header('WARC-Truncated')} (the crawler "
                                             "cut the page)")
    if not content.strip():
        return WebProblem(name, "empty", "an HTML response with no content")
    if not mime and not _HTML_START.match(content[:4096]):
        return WebProblem(name, "not-html", "no content type, and the payload does not start like HTML")
    return WebPage(
        content, name,
        target_url=headers.get_header("WARC-Target-URI"),
        retrieved_at=_retrieved_at(headers.get_header("WARC-Date")),
        http_charset=_charset(content_type),
        meta=_provenance(headers, name),
    )


def _provenance(headers: Any, name: str) -> dict[str, str]:
    meta = {"warc_file": name}
    record_id = headers.get_header("WARC-Record-ID")
    if record_id:
        meta["warc_record_id"] = record_id
    date = headers.get_header("WARC-Date")
    if date and _retrieved_at(date) is None:
        meta["warc_date"] = date  # kept as written when it is not RFC 3339
    return meta


def _placed(item: WebPage | WebProblem, offset: int, end: int) -> WebPage | WebProblem:
    """The record's offset, known only once it has been read, set on what it gave."""
    if isinstance(item, WebProblem):
        return replace(item, offset=offset)
    return replace(item, offset=offset, position=end, meta={**item.meta, "warc_offset": str(offset)})


def _in_file_bytes(on_progress: ProgressCallback | None, total: int) -> ProgressCallback | None:
    """Progress against the files' own size, not the estimate of the work the engine was given."""
    if on_progress is None:
        return None
    return lambda done, _: on_progress(done, total)


def _retrieved_at(value: str | None) -> str | None:
    if value and re.fullmatch(schema_pattern("retrieved_at"), value):
        return value
    return None


def _charset(content_type: str) -> str | None:
    match = _CHARSET.search(content_type)
    return match.group(1) if match else None


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
