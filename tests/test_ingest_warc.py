"""`ingest warc`: the real pages in a WARC written here → the same articles, with provenance; broken archives."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED
from test_ingest_html import write_dataset

from toolkit.engines import EngineOptions
from toolkit.ingest.html import PROBLEM_CODES, ingest_html
from toolkit.ingest.warc import ingest_warc

PAGES = SHARED / "realdata" / "news_html"
COMPARED = ("id", "title", "subtitle", "text", "published_at", "authors", "language", "source", "tags", "section")

pytestmark = pytest.mark.skipif(not (PAGES / "gold.json").is_file(), reason="shared/realdata/news_html is not here")


def gold() -> list[dict]:
    return json.loads((PAGES / "gold.json").read_text(encoding="utf-8"))


def crawl_date(i: int) -> str:
    return f"2024-03-{i + 1:02d}T08:{i:02d}:17Z"


def http_response(body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK",
                  compress: bool = False) -> tuple[bytes, object]:
    """A payload and the HTTP headers a news server sends with it (gzip-encoded when `compress`)."""
    from warcio.statusandheaders import StatusAndHeaders

    payload = gzip.compress(body, mtime=0) if compress else body
    headers = [("Date", "Sun, 03 Mar 2024 08:00:00 GMT"), ("Server", "nginx"), ("Content-Type", content_type),
               ("Content-Length", str(len(payload))), ("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")]
    if compress:
        headers.append(("Content-Encoding", "gzip"))
    return payload, StatusAndHeaders(status, headers, protocol="HTTP/1.1")


def write_warc(path: Path, responses: list[tuple[str, bytes, object, str]], compress: bool = True) -> list[str]:
    """A WARC like a crawler's: warcinfo, then a request and a response per page; the response record ids."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    ids = []
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=compress)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test-crawler/1.0"}))
        for url, payload, http_headers, date in responses:
            request = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2]), ("Accept-Encoding", "gzip")],
                                       is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                          http_headers=request, warc_headers_dict={"WARC-Date": date}))
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http_headers,
                                               warc_headers_dict={"WARC-Date": date})
            writer.write_record(record)
            ids.append(record.rec_headers.get_header("WARC-Record-ID"))
    return ids


def real_responses() -> list[tuple[str, bytes, object, str]]:
    responses = []
    for i, entry in enumerate(gold()):
        payload, headers = http_response((PAGES / entry["file"]).read_bytes(), compress=i % 2 == 1)
        responses.append((entry["url"], payload, headers, crawl_date(i)))
    return responses


@pytest.fixture(scope="module")
def warc(tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("warc") / "CC-NEWS-test-00000.warc.gz"
    return path, write_warc(path, real_responses())


@pytest.fixture(scope="module")
def from_html() -> dict[str, dict]:
    result = ingest_html([PAGES / entry["file"] for entry in gold()])
    return {record["id"]: record for record in result.articles}


def record_at(path: Path, offset: int):
    """The record that starts at `offset` in `path` (how a CDX index is used to fetch it)."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as f:
        f.seek(offset)
        return next(iter(ArchiveIterator(f))).rec_headers


def test_warc_gives_the_same_articles_as_the_pages_with_provenance(warc, from_html):
    path, record_ids = warc
    result = ingest_warc([path])
    assert result.problems == []
    assert result.counts == {"records": 21, "skipped": 11, "articles": 10}
    for i, (entry, record) in enumerate(zip(gold(), result.articles, strict=True)):
        html_record = from_html[record["id"]]
        assert {k: record.get(k) for k in COMPARED} == {k: html_record.get(k) for k in COMPARED}
        assert record["url"] == entry["url"]
        assert record["retrieved_at"] == crawl_date(i)
        assert record["meta"]["warc_file"] == path.name
        assert record["meta"]["warc_record_id"] == record_ids[i]
        headers = record_at(path, int(record["meta"]["warc_offset"]))
        assert headers.get_header("WARC-Record-ID") == record_ids[i]


def test_uncompressed_warc_and_http_charset(tmp_path, from_html):
    page = (PAGES / "spiegel.de.albtraum.html").read_bytes().decode("utf-8")
    latin = page.encode("cp1252", errors="xmlcharrefreplace")  # a server that sends windows-1252 and says so
    payload, headers = http_response(latin, content_type="text/html; charset=windows-1252")
    path = tmp_path / "one.warc"
    write_warc(path, [("https://www.spiegel.de/spiegel/print/d-161500790.html", payload, headers, crawl_date(0))],
               compress=False)
    result = ingest_warc([path])
    assert result.problems == []
    [record] = result.articles
    assert record["text"] == from_html[record["id"]]["text"]


def test_truncated_copy_keeps_the_records_before_the_break(warc, tmp_path):
    path, _ = warc
    whole = ingest_warc([path]).articles
    fifth = int(whole[4]["meta"]["warc_offset"])
    data = path.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: fifth + 3000])  # inside the fifth response's gzip member
    result = ingest_warc([cut])
    assert [a["id"] for a in result.articles] == [a["id"] for a in whole[:4]]
    assert [(p.code, p.offset) for p in result.problems] == [("truncated", fifth)]

    cut.write_bytes(data[: fifth] + data[fifth: fifth + 10])  # a member cut inside its gzip header
    result = ingest_warc([cut])
    assert len(result.articles) == 4
    assert [(p.code, p.offset) for p in result.problems] == [("truncated", fifth)]


def test_corrupt_gzip_member_keeps_what_came_before(warc, tmp_path):
    path, _ = warc
    whole = ingest_warc([path]).articles
    third = int(whole[2]["meta"]["warc_offset"])
    data = bytearray(path.read_bytes())
    data[third + 200: third + 260] = b"\x00" * 60  # garbage inside the third response's deflate stream
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(data))
    result = ingest_warc([broken])
    assert [a["id"] for a in result.articles] == [a["id"] for a in whole[:2]]
    assert [(p.code, p.offset) for p in result.problems] == [("truncated", third)]


def test_non_html_undecodable_empty_and_error_records_are_reported(tmp_path):
    page = (PAGES / "heise.de.lithium.html").read_bytes()
    good = http_response(page)
    png = http_response(b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png")
    undecodable = http_response(b"<html><head><title>T</title></head><body><p>Gr\xfc\xdfe</p></body></html>")
    empty = http_response(b"")
    missing = http_response(b"<html><body>Not found</body></html>", status="404 Not Found")
    responses = [("https://www.heise.de/a", *good, crawl_date(0)), ("https://www.heise.de/logo.png", *png, crawl_date(1)),
                 ("https://www.heise.de/b", *undecodable, crawl_date(2)), ("https://www.heise.de/c", *empty, crawl_date(3)),
                 ("https://www.heise.de/d", *missing, crawl_date(4)), ("https://www.heise.de/e", *good, crawl_date(5))]
    path = tmp_path / "mixed.warc.gz"
    write_warc(path, responses)
    result = ingest_warc([path])
    assert len(result.articles) == 2
    assert [p.code for p in result.problems] == ["not-html", "undecodable", "empty", "http-status"]
    assert all(p.code in PROBLEM_CODES and p.message for p in result.problems)
    assert all(p.file == path.name and p.offset for p in result.problems)
    assert record_at(path, result.problems[0].offset).get_header("WARC-Target-URI") == "https://www.heise.de/logo.png"
    assert "0xFC" in result.problems[1].message
    # The same article fetched twice (two URLs, one canonical link): one id, which validate reports.
    assert result.articles[0]["id"] == result.articles[1]["id"]


def test_not_a_warc_is_unreadable(tmp_path):
    fake = tmp_path / "fake.warc.gz"
    fake.write_bytes(gzip.compress(b"hello, not a WARC\n"))
    result = ingest_warc([fake, tmp_path / "missing.warc"])
    assert [(p.code, p.offset) for p in result.problems] == [("unreadable", 0), ("unreadable", None)]


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_truncated_warc_exits_1_naming_file_and_offset(warc, tmp_path):
    path, _ = warc
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[:-500])
    out = tmp_path / "articles.jsonl"
    result = run_cli("ingest", "warc", str(cut), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "cut.warc.gz:" in result.stderr and ": truncated:" in result.stderr and "Traceback" not in result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 9


def test_end_to_end_warc_to_hugging_face_build(warc, tmp_path):
    from datasets import load_dataset

    path, _ = warc
    dataset = write_dataset(tmp_path / "cc-news", [])
    ingest = run_cli("ingest", "warc", str(path), "--out", str(dataset / "articles.jsonl"), "--workers", "2")
    assert ingest.returncode == 0, ingest.stderr
    validate = run_cli("validate", str(dataset))
    assert validate.returncode == 0, validate.stdout + validate.stderr
    export = run_cli("export", str(dataset), "--format", "hf", "--out", str(tmp_path / "dist"))
    assert export.returncode == 0, export.stdout + export.stderr
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    build = load_dataset(str(tmp_path / "dist" / "web-news"), cache_dir=str(tmp_path / "cache"))
    rows = [row for split in build.values() for row in split]
    assert len(rows) == 10
    by_url = {row["url"]: row for row in rows}
    first = by_url[gold()[0]["url"]]
    assert first["retrieved_at"].isoformat().startswith("2024-03-01T08:00:17")
    assert json.loads(first["meta"])["warc_file"] == path.name


def test_every_engine_gives_the_same_articles(warc):
    pytest.importorskip("ray")
    path, _ = warc
    one = ingest_warc([path], engine=EngineOptions(workers=1)).articles
    assert ingest_warc([path], engine=EngineOptions(workers=2)).articles == one
    assert ingest_warc([path], engine=EngineOptions(engine="ray")).articles == one
