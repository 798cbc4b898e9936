"""News HTML pages → article records (DESIGN.md §1), extracted by trafilatura, on the engine.

One page gives at most one article. The extraction is trafilatura's (`bare_extraction`, with its
htmldate for the date): main text without navigation, comments and adverts, and the page's
metadata. It is never reimplemented here; this module only decides what of its output goes into
which field, and it is profile-free: the same options for every site. Options were chosen on the
real pages in `shared/realdata/news_html/` (see `tests/test_ingest_html.py` for the score).
Nothing is fetched: trafilatura reads only the bytes it is given.

Fields
------
- `text`: the top-level blocks trafilatura keeps (paragraphs, headings, lists, quotes, tables),
  one paragraph each, joined with a blank line; a list or a `<br>` keeps its line breaks inside its
  paragraph. A first paragraph that only repeats the title is dropped.
- `title`, `published_at` (a date), `authors`, `tags`, `section` (only when the page names exactly
  one category: several are the site's menu), `license`, `source` (`name`: the site name unless it
  is a URL; `domain`: the host of the URL without `www.`).
- `subtitle`: the page's description (standfirst), unless it only repeats the start of the body.
- `media`: the page's lead image (`og:image`), as an `image`. Captions and credits are not taken:
  trafilatura's `include_images` pulls "related articles" teasers into the body of some sites.
- `language`: the caller's, else the page's `<html lang>` / `og:locale` /
  `Content-Language`, else `und`.
- `url` and the id: see `canonical_url` and `article_id`.

Bytes to text
-------------
A byte-order mark wins; then the charset the HTTP header declares (WARC only), then the page's
`<meta charset>`, each decoded strictly. Labels browsers read as windows-1252 (`iso-8859-1`,
`us-ascii`) are read as windows-1252, as browsers do. A page that declares nothing is UTF-8, else
windows-1252 (the web's default). A page whose declared charsets and UTF-8 all fail is
`undecodable`: a stray byte is reported, not turned into U+FFFD behind the curator's back.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from toolkit.engines import EngineOptions, open_engine
from toolkit.errors import ToolkitError
from toolkit.problems import WEB_CODES, Problem
from toolkit.readers import open_regular

ProgressCallback = Callable[[int, int], None]

HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")
# A news page is well under a few MiB; a file past this is not one, and trafilatura's own
# MAX_FILE_SIZE (20 MB) would refuse it anyway, after reading it whole.
MAX_PAGE_BYTES = 20 * 1024 * 1024
# Pages per batch sent to a worker, and bytes: large enough that pickling is noise next to ~35 ms
# of extraction per page, small enough that every core is busy and that the Ray engine's window
# of batches held by the driver (sized for 1 MiB batches) stays small.
BATCH_PAGES = 16
BATCH_BYTES = 1024 * 1024
ID_PREFIX_URL = "url-"
ID_PREFIX_TEXT = "page-"
ID_HEX_DIGITS = 20  # 80 bits: no collision in practice at CC-NEWS sizes (~10^8 pages)

# Problem codes these readers report: declared in the one catalogue (toolkit/problems.py).
PROBLEM_CODES = WEB_CODES

# Query parameters that say how a reader arrived, not which article it is.
_TRACKING_PARAMS = re.compile(r"utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|ns_[a-z]+|at_[a-z]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_META_SNIFF_BYTES = 16 * 1024
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# WHATWG Encoding: these labels mean windows-1252 in every browser.
_AS_WINDOWS_1252 = {"iso8859-1", "latin-1", "ascii", "cp1252"}
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class WebPage:
    """One HTML document to extract, with where it came from.

    `source` is the file it was read from; `offset` the byte offset of its WARC record (None for an
    HTML file); `position` how many input bytes have been read once it is (for the progress bar).
    `target_url`, `retrieved_at`, `http_charset` and `meta` come from the WARC record.
    """

    content: bytes
    source: str
    offset: int | None = None
    position: int = 0
    target_url: str | None = None
    retrieved_at: str | None = None
    http_charset: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebProblem:
    """A page or record that was skipped: in which file, at which byte offset (WARC), why."""

    file: str
    code: str
    message: str
    offset: int | None = None

    def as_problem(self) -> Problem:
        """The catalogue's `Problem`: the record's byte offset stands where a line would."""
        return Problem.at(self.file, None, self.code, self.message, offset=self.offset)

    def __str__(self) -> str:
        return str(self.as_problem())


@dataclass
class WebIngestResult:
    """What an ingest read: the articles (unless they were streamed to `out`), how many, the problems.

    `counts` says what became of every page or record read: `articles` plus one entry per problem
    code, and for WARCs `records` (all records) and `skipped` (requests, metadata, warcinfo...).
    """

    articles: list[dict] = field(default_factory=list)
    written: int = 0
    problems: list[WebProblem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


@dataclass(frozen=True)
class ExtractOptions:
    """What every page of a run is extracted with (sent once per batch to the workers)."""

    language: str | None = None


# --------------------------------------------------------------------------------------------------
# The public entry points


def ingest_html(
    paths: Sequence[Path],
    *,
    out: Path | None = None,
    language: str | None = None,
    engine: EngineOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> WebIngestResult:
    """Extract one article per HTML page. `paths` are files or folders (every *.html/*.htm below, sorted).

    `language` (a BCP 47 tag) is given to every article; by default each page's own declaration is
    used, else `und`. With `out`, the articles are written there as JSON Lines while they come
    (atomically: a failed run leaves an earlier `out` as it was) and not kept in the result.
    Extraction runs in batches on `engine` (default: every core, none for small inputs).

    A page that cannot be read, decoded or extracted is a `WebProblem` and the others are still read.
    Raises `ToolkitError` for a bad option or an `out` that cannot be written.
    """
    check_language(language)
    files = list(expand_inputs(paths, HTML_SUFFIXES))
    total = sum(size for _, size, _ in files)
    result = WebIngestResult()

    def pages() -> Iterator[WebPage | WebProblem]:
        done = 0
        for path, size, missing in files:
            done += size
            if missing:
                yield WebProblem(str(path), "unreadable", missing)
                continue
            try:
                content = _read_page_file(path)
            except OSError as exc:
                yield WebProblem(str(path), "unreadable", f"cannot read the file: {exc.strerror or exc}")
                continue
            yield WebPage(content, str(path), position=done, meta={"html_file": path.name})

    collect(pages(), result, ExtractOptions(language), engine, total, on_progress, out,
            inputs=[path for path, _, _ in files])
    return result


def extract_pages(
    items: Iterable[WebPage | WebProblem],
    options: ExtractOptions,
    engine: EngineOptions | None = None,
    input_bytes: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[dict | WebProblem]:
    """Articles and problems for `items`, in their order; pages are extracted in batches on `engine`.

    A `WebProblem` among the items (found while reading) passes through in its place.
    """
    total = input_bytes or 0
    with open_engine(engine, input_bytes) as runner:
        for batch in runner.map(_extract_batch, options, _batches(items)):
            for position, outcome in batch:
                yield outcome
                if on_progress is not None and position:
                    on_progress(position, total)


def collect(
    items: Iterable[WebPage | WebProblem],
    result: WebIngestResult,
    options: ExtractOptions,
    engine: EngineOptions | None,
    input_bytes: int,
    on_progress: ProgressCallback | None,
    out: Path | None,
    inputs: Sequence[Path] = (),
) -> None:
    """Extract `items` into `result` (its articles kept, or streamed to `out` atomically when one is given).

    `out` may not be one of the `inputs` (it would be lost).
    """
    from toolkit.publish import atomic_file

    with atomic_file(Path(out), inputs) if out is not None else nullcontext() as sink:
        for outcome in extract_pages(items, options, engine, input_bytes, on_progress):
            if isinstance(outcome, WebProblem):
                result.problems.append(outcome)
                result.count(outcome.code)
                continue
            result.count("articles")
            result.written += 1
            if sink is None:
                result.articles.append(outcome)
            else:
                _write_line(sink, outcome)


def _write_line(sink: BinaryIO, article: dict) -> None:
    sink.write(orjson.dumps(article))
    sink.write(b"\n")


# --------------------------------------------------------------------------------------------------
# Batches (the work the engine runs)


def _batches(items: Iterable[WebPage | WebProblem]) -> Iterator[list[WebPage | WebProblem]]:
    batch: list[WebPage | WebProblem] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item.content) if isinstance(item, WebPage) else 0
        if len(batch) >= BATCH_PAGES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _extract_batch(options: ExtractOptions, batch: list[WebPage | WebProblem]) -> list[tuple[int, dict | WebProblem]]:
    """The engine's unit of work: every page of the batch extracted (a problem stays a problem)."""
    return [
        (item.position, extract_page(item, options)) if isinstance(item, WebPage) else (0, item)
        for item in batch
    ]


# --------------------------------------------------------------------------------------------------
# One page


def extract_page(page: WebPage, options: ExtractOptions) -> dict | WebProblem:
    """The article record of one page, or the problem that kept it from being one."""
    from trafilatura.utils import load_html

    def problem(code: str, message: str) -> WebProblem:
        return WebProblem(page.source, code, message, page.offset)

    if not page.content.strip():
        return problem("empty", "no content")
    try:
        decoded = decode_html(page.content, page.http_charset)
    except UndecodableError as exc:
        return problem("undecodable", str(exc))
    try:
        tree = load_html(decoded)
        doc = _extract(tree, page.target_url) if tree is not None else None
    except Exception as exc:
        # Arbitrary bytes from the web meet a third-party parser: one page that trips it must not
        # end a crawl of thousands. It is reported with the error's name, so it can be reported on.
        return problem("extraction-failed", f"trafilatura failed on the page ({type(exc).__name__}: {exc})")
    if tree is None:
        return problem("not-html", "no HTML parser reads it as a page")
    if doc is None or doc.body is None:
        return problem("no-text", "trafilatura found no main text")
    title = _clean(doc.title or "")
    paragraphs = _paragraphs(doc.body)
    if paragraphs and title and _words(paragraphs[0]) == _words(title):
        paragraphs = paragraphs[1:]
    if not paragraphs:
        return problem("no-text", "trafilatura found no main text")
    if not title:
        return problem("no-title", "the page has no title (no <title>, og:title or headline)")
    return _record(page, doc, title, paragraphs, options.language or _page_language(tree) or "und")


def _extract(tree: Any, url: str | None) -> Any:
    """trafilatura's extraction of the page (a `Document`, or None when it finds no main text)."""
    import trafilatura

    # Defaults where they are the right call for news, named so a later change is deliberate:
    # no comments (not the article), tables kept (election results), no links or images (both
    # pull teaser blocks into the body on some sites), recall and precision balanced (either
    # one alone loses more gold passages than it wins on the real pages), and the readability/
    # jusText fallback kept (`fast=True` is 1.6x faster but loses spiegel.de's whole body).
    return trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True,
        include_links=False, include_images=False, favor_precision=False, favor_recall=False, fast=False,
    )


def _paragraphs(body: Any) -> list[str]:
    from trafilatura.xml import xmltotxt

    paragraphs = []
    for block in body:
        text = "\n".join(line.strip() for line in xmltotxt(block, False).splitlines())
        text = re.sub(r"\n{2,}", "\n", text).strip()
        if text:
            paragraphs.append(text)
    return paragraphs


def _record(page: WebPage, doc: Any, title: str, paragraphs: list[str], language: str) -> dict:
    text = "\n\n".join(paragraphs)
    canonical = _page_url(doc.url, page.target_url)
    url = page.target_url if page.target_url and _is_web_url(page.target_url) else canonical
    record: dict[str, Any] = {"id": article_id(canonical, text), "title": title}
    subtitle = _clean(doc.description or "")
    if subtitle and not _repeats_body(subtitle, text) and subtitle != title:
        record["subtitle"] = subtitle
    authors = _authors(doc.author)
    if authors:
        record["authors"] = authors
    published = _date(doc.date)
    if published:
        record["published_at"] = published
    record["language"] = language
    if url:
        record["url"] = url
    source = _source(doc.sitename, canonical or url)
    if source:
        record["source"] = source
    tags = _tags(doc.tags)
    if tags:
        record["tags"] = tags
    if doc.categories and len(doc.categories) == 1 and _clean(doc.categories[0]):
        record["section"] = _clean(doc.categories[0])
    if doc.image and _is_web_url(doc.image):
        record["media"] = [{"kind": "image", "url": doc.image}]
    if page.retrieved_at:
        record["retrieved_at"] = page.retrieved_at
    if doc.license:
        record["license"] = _clean(doc.license)
    meta = dict(page.meta)
    if canonical and url and canonical != canonical_url(url):
        meta["canonical_url"] = canonical
    if meta:
        record["meta"] = meta
    record["text"] = text
    return record


# --------------------------------------------------------------------------------------------------
# Ids and URLs


def canonical_url(url: str) -> str:
    """`url` in the form two crawls of one article share: scheme and host lower-cased, no default port,
    no fragment, no tracking parameters (utm_*, fbclid...), no empty query."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, _DEFAULT_PORTS.get(scheme)) else None
    netloc = f"{host}:{port}" if port else host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _TRACKING_PARAMS.fullmatch(k.lower())])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def article_id(url: str | None, text: str) -> str:
    """`url-` + a hash of the canonical URL: the same article crawled twice gets the same id, so the
    validator's duplicate check sees it. A page without a URL: `page-` + a hash of its text."""
    if url:
        return ID_PREFIX_URL + hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()[:ID_HEX_DIGITS]
    return ID_PREFIX_TEXT + hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HEX_DIGITS]


def _page_url(declared: str | None, target: str | None) -> str | None:
    """The canonical URL: the page's own (canonical link, og:url) when it names an article on the
    host it was fetched from, else the fetched URL. Sites that point every page's canonical at their
    home page, or at another host, would otherwise merge unrelated articles under one id."""
    target_url = canonical_url(target) if target and _is_web_url(target) else None
    if not declared or not _is_web_url(declared):
        return target_url
    page_url = canonical_url(declared)
    if urlsplit(page_url).path in ("", "/"):
        return target_url
    if target_url and _bare_host(page_url) != _bare_host(target_url):
        return target_url
    return page_url


def _is_web_url(url: str) -> bool:
    return re.fullmatch(schema_pattern("url"), url) is not None


def _bare_host(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


# --------------------------------------------------------------------------------------------------
# Bytes to text


class UndecodableError(ValueError):
    """The page's bytes are in none of the charsets tried; the message says which and where."""


def decode_html(content: bytes, http_charset: str | None = None) -> str:
    """The page's text (see the module docstring for the order charsets are tried in).

    Raises `UndecodableError` when neither the declared charsets nor UTF-8 decode it.
    """
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            text = _strict(content[len(bom):], encoding)
            if text is None:
                raise _undecodable(content[len(bom):], encoding, "its byte-order mark")
            return text
    declared = [c for c in (_codec(http_charset), _codec(_meta_charset(content))) if c]
    for encoding in [*dict.fromkeys(declared), "utf-8"]:
        text = _strict(content, encoding)
        if text is not None:
            return text
    if not declared:
        return content.decode("cp1252", errors="replace")
    raise _undecodable(content, declared[0], "the record or page")


def _undecodable(content: bytes, encoding: str, declared_by: str) -> UndecodableError:
    try:
        content.decode(encoding)
        at = ""
    except UnicodeDecodeError as exc:
        at = f" (byte 0x{content[exc.start]:02X} at offset {exc.start} of the page)"
    nor = "" if encoding == "utf-8" else ", nor UTF-8"
    return UndecodableError(f"not {encoding} as {declared_by} declares{nor}{at}")


def _strict(content: bytes, encoding: str) -> str | None:
    try:
        return content.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("'\"")).name
    except LookupError:
        return None
    return "cp1252" if name in _AS_WINDOWS_1252 else name


def _meta_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:_META_SNIFF_BYTES])
    return match.group(1).decode("ascii", errors="replace") if match else None


# --------------------------------------------------------------------------------------------------
# Fields


def _page_language(tree: Any) -> str | None:
    candidates = [tree.get("lang"), tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iterfind(".//head/meta"):
        key = (meta.get("property") or meta.get("http-equiv") or meta.get("name") or "").lower()
        if key in ("og:locale", "content-language", "language"):
            candidates.append(meta.get("content"))
    for value in candidates:
        tag = (value or "").strip().replace("_", "-").split(",")[0].strip()
        if tag and re.fullmatch(schema_pattern("language"), tag):
            return tag
    return None


def check_language(language: str | None) -> None:
    if language is not None and not re.fullmatch(schema_pattern("language"), language):
        raise ToolkitError(f"language {language!r} is not a BCP 47 tag such as en, ar or pt-BR")


def _clean(value: str) -> str:
    return " ".join(value.split())


def _words(value: str) -> list[str]:
    return _WORD.findall(value.casefold())


def _repeats_body(subtitle: str, text: str) -> bool:
    """True when the description is the body's opening (trimmed or re-quoted), not a standfirst."""
    head = "".join(_words(subtitle))[:100]
    return bool(head) and head in "".join(_words(text[: 4 * len(subtitle) + 200]))


def _authors(value: str | None) -> list[str]:
    names = [_clean(name) for name in (value or "").split(";")]
    return list(dict.fromkeys(name for name in names if name and "://" not in name))


def _tags(values: list[str] | None) -> list[str]:
    # Sites give keywords as one comma-separated meta value or as several; both become one list.
    tags = [_clean(tag) for value in values or [] for tag in value.split(",")]
    return list(dict.fromkeys(tag for tag in tags if tag))


def _date(value: str | None) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None


def _source(sitename: str | None, url: str | None) -> dict[str, str]:
    source = {}
    name = _clean(sitename or "")
    if name and "://" not in name and not name.startswith("www."):
        source["name"] = name
    if url:
        source["domain"] = _bare_host(url)
    return {k: v for k, v in source.items() if v}


@cache
def schema_pattern(field_name: str) -> str:
    """The pattern the article schema gives `field_name`: the schema, not this module, owns it."""
    text = resources.files("toolkit.schema").joinpath("article.schema.json").read_text(encoding="utf-8")
    return json.loads(text)["properties"][field_name]["pattern"]


# --------------------------------------------------------------------------------------------------
# Files


def expand_inputs(paths: Sequence[Path], suffixes: tuple[str, ...]) -> Iterator[tuple[Path, int, str | None]]:
    """Each file to read once, in order, with its size and a reason when it cannot be read at all.

    A folder stands for every file below it whose name ends in one of `suffixes`, sorted.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    seen: set[Path] = set()
    for given in map(Path, paths):
        if given.is_dir():
            files = sorted(p for p in given.rglob("*") if p.name.lower().endswith(suffixes) and not p.is_dir())
            if not files:
                yield given, 0, f"a folder with no {'/'.join(suffixes)} files in it"
        elif given.exists():
            files = [given]
        else:
            yield given, 0, "no such file"
            continue
        for path in files:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                size = path.stat().st_size
            except OSError:
                size = 0  # reading it says why
            yield path, size, None


def _read_page_file(path: Path) -> bytes:
    too_large = OSError(errno.EFBIG, f"larger than {MAX_PAGE_BYTES // 2**20} MiB, too large for one page")
    with open_regular(path) as f:
        data = f.read(MAX_PAGE_BYTES + 1)
    if len(data) > MAX_PAGE_BYTES:
        raise too_large
    return data
