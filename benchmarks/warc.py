"""Benchmark `news-toolkit ingest warc` against a plain trafilatura loop on the same WARC, in one run.

    python benchmarks/warc.py [--records 3000] [--workers N] [--workdir DIR]

The WARC is built here from the real pages in `shared/realdata/news_html/` (each page repeated under
its own URL, gzip members, real HTTP headers; half the payloads gzip-encoded), cached under
--workdir. Contenders, each in its own process (wall time and its own peak RSS from `os.wait4`):
- `trafilatura loop`: warcio + `trafilatura.extract(html)` per HTML response, one core — what a
  curator writes today before news-toolkit sees a record (no records, ids or provenance);
- `news-toolkit ingest warc`: the CLI with its defaults (every core), writing the articles JSONL;
- the same with `--workers 1`.
Printed: pages per second and the ratio ours/loop (the goal: faster than the loop on all cores).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PAGES = REPO.parent / "shared" / "realdata" / "news_html"
sys.path.insert(0, str(HERE))

from run import PY, measure, table  # noqa: E402

TRAFILATURA_LOOP = r"""
import sys
import trafilatura
from warcio.archiveiterator import ArchiveIterator
pages = chars = 0
with open(sys.argv[1], "rb") as f:
    for record in ArchiveIterator(f):
        if record.rec_type == "response" and "html" in (record.http_headers.get_header("Content-Type") or ""):
            text = trafilatura.extract(record.content_stream().read(), with_metadata=True, include_comments=False)
            pages += 1
            chars += len(text or "")
print(pages, chars)
"""


def build_warc(path: Path, records: int) -> int:
    """A gzipped WARC of `records` HTML responses (plus their requests); how many pages it holds."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    entries = json.loads((PAGES / "gold.json").read_text(encoding="utf-8"))
    bodies = [(entry["url"], (PAGES / entry["file"]).read_bytes()) for entry in entries]
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with open(tmp, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i in range(records):
            url, body = bodies[i % len(bodies)]
            url = f"{url}?copy={i}"  # a distinct page each time, as in a real crawl
            compress = i % 2 == 1
            payload = gzip.compress(body, mtime=0) if compress else body
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(payload))),
                       ("Server", "nginx")] + ([("Content-Encoding", "gzip")] if compress else [])
            request = StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                          http_headers=request))
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(payload),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": f"2024-03-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"}))
    tmp.rename(path)
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3000, help="HTML response records in the WARC")
    parser.add_argument("--workers", type=int, default=0, help="news-toolkit --workers (0: its default)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "news-toolkit-bench")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    warc = args.workdir / f"news-{args.records}.warc.gz"
    if not warc.exists():
        print(f"building {warc} from {PAGES} …", flush=True)
        build_warc(warc, args.records)
    print(f"WARC: {args.records:,} HTML responses, {warc.stat().st_size / 2**20:,.0f} MiB gzipped; "
          f"{os.cpu_count()} cores\n", flush=True)
    out = args.workdir / "warc-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    workers = ["--workers", str(args.workers)] if args.workers else []
    cli = [PY, "-m", "toolkit", "ingest", "warc", str(warc)]

    loop = measure("trafilatura loop (1 core)", [PY, "-c", TRAFILATURA_LOOP, str(warc)])
    ours = measure("news-toolkit ingest warc", [*cli, "--out", str(out / "all.jsonl"), *workers])
    one = measure("news-toolkit ingest warc --workers 1", [*cli, "--out", str(out / "one.jsonl"), "--workers", "1"])

    rows = [["task", "contender", "wall s", "pages/s", "peak RSS MiB", "ratio", "goal"]]
    for run in (loop, ours, one):
        ratio = loop.seconds / run.seconds
        goal = "" if run is loop else ("> 1× " + ("met" if ratio > 1 else "NOT met")) if run is ours else ""
        rows.append(["warc", run.name, f"{run.seconds:.2f}", f"{args.records / run.seconds:,.1f}",
                     f"{run.peak_mib:,.0f}", "1.0×" if run is loop else f"{ratio:.2f}× faster", goal])
    print(table(rows))
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
