"""Plain-text article scrapes → article records (DESIGN.md §1), recognised by data-driven site profiles.

A site profile (YAML, see `toolkit/ingest/profiles/`) says what a site's pages look like: its tagline
lines, its date formats, its photo-caption line and its related-link line. Supporting a new site is
a new profile, not new code.

How a file is read
------------------
1. Its bytes are decoded as strict UTF-8; a leading BOM is dropped. A file that is not UTF-8 is a
   problem (`invalid-encoding`) and is skipped. Only regular files of at most `MAX_TEXT_FILE_BYTES`
   are read: a FIFO, a device or a larger file is `unreadable` (a FIFO would block, /dev/zero never
   end).
2. Line ends (CRLF, CR) become LF; every line is stripped of surrounding whitespace, and a line with
   nothing but whitespace (or zero-width characters) counts as blank.
3. Leading blank lines and leading lines that match one of the profile's `taglines` are skipped; the
   first tagline found becomes `source.tagline`.
4. The profile's `layouts` are tried in order and the first that fits wins:

   ``dated`` — the seed's layout. The next non-blank lines are the header, in the profile's `header`
   order (default: the title, then a date line that parses with one of `date_formats`). Lines right
   after the header that match `caption` become `media` images. The rest is the body.

   ``simple`` — "title line, blank line, body" (BBC, SemEval PTC). The first line is the title (at
   most `max_title_length` characters), the line after it is blank, and a body follows. There is no
   date, so `published_at` is left out.

   A layout that has recognised its header keeps the file: a file that starts with a tagline is a
   page of that site, whose pages carry a date, so it is read only as ``dated`` and a missing or
   unparseable date is reported (`no-date`); a file whose title and date were found but that has
   no body is `no-body`. Neither falls back to ``simple``, which would turn the date line or the
   caption into body text. When no layout fits, the code is that of the last layout tried.
5. Body: runs of non-blank lines separated by one or more blank lines are paragraphs (a run's own
   line breaks are kept), joined with one blank line. A line matching `related` ("READ: …") is taken
   out into `related` and ends the paragraph it is in. A file with no body paragraph is a problem.

Ids
---
The id is the file name's stem when the stem already matches the schema's id pattern
(`000_080620f4fa6d8d76`, `business_001`): readable, and it is the name the curator already uses to
find the file. Otherwise (spaces, non-ASCII, too long) it is `text-` + 16 hex digits of the SHA-256 of
the file's normalised text (after steps 1–2, blank edges trimmed), so the same content gives the same
id whatever its encoding noise (BOM, CRLF, trailing newline). If two files in one run share a stem
(`bbc/sport/001.txt`, `bbc/tech/001.txt`) the later one gets `<stem>-<10 hex digits of its hash>`;
a file whose text equals an earlier one's is skipped as a `duplicate-article`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml

from toolkit.errors import ToolkitError
from toolkit.ingest import Imported, ImportOptions
from toolkit.problems import TEXT_CODES, Problem
from toolkit.readers import open_regular

Layout = Literal["dated", "simple"]
HeaderPart = Literal["title", "date"]

LAYOUTS: tuple[Layout, ...] = ("dated", "simple")
DEFAULT_PROFILE = "default"
# A scraped article is a few KiB; a file past this is not one, and reading it whole would cost its size.
MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024

# Problem codes this reader reports: declared in the one catalogue (toolkit/problems.py).
PROBLEM_CODES = TEXT_CODES

_PROFILE_KEYS = {
    "name", "description", "source", "layouts", "header", "taglines", "date_formats",
    "caption", "related", "max_title_length",
}
_BUILTIN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
# Directives `datetime.strptime` understands; anything else in a date format is a typo in the profile.
_STRPTIME_DIRECTIVES = set("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_TIME_DIRECTIVES = set("HIMSfpXcz")
# Characters that make a line look non-empty but show nothing (a stray BOM, zero-width spaces).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


@dataclass(frozen=True)
class SiteProfile:
    """How one site's text scrapes are laid out. Build it with `load_profile` or `SiteProfile.from_dict`.

    Every pattern is matched against a whole line, stripped of surrounding whitespace.
    `caption` has the named groups `caption` and/or `credit` (optionally `url`); `related` has the
    group `title` (optionally `url`). `date_formats` are `datetime.strptime` formats, tried in order;
    a format without a time directive gives a date-only `published_at` (`YYYY-MM-DD`).
    """

    name: str
    layouts: tuple[Layout, ...] = LAYOUTS
    header: tuple[HeaderPart, ...] = ("title", "date")
    taglines: tuple[re.Pattern[str], ...] = ()
    date_formats: tuple[str, ...] = ()
    caption: re.Pattern[str] | None = None
    related: re.Pattern[str] | None = None
    max_title_length: int = 300
    source_name: str | None = None
    source_domain: str | None = None
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "<profile>") -> SiteProfile:
        """Check a profile's YAML content and compile its patterns.

        Raises `ToolkitError` naming `origin` and the offending key when the profile is malformed.
        """
        return _profile_from_mapping(data, origin)


@dataclass(frozen=True)
class TextProblem:
    """A file that was skipped: which one, why (`code`, see `PROBLEM_CODES`), and where in it if known."""

    path: Path
    code: str
    message: str
    line: int | None = None

    def as_problem(self) -> Problem:
        """The catalogue's `Problem` (printed as every command prints one)."""
        return Problem.at(str(self.path), self.line, self.code, self.message)


@dataclass(frozen=True)
class TextIngestResult:
    """The articles read (valid per `schema/article.schema.json`) and the files skipped, in input order."""

    articles: list[dict]
    problems: list[TextProblem]


# --------------------------------------------------------------------------------------------------
# Profiles


def available_profiles() -> list[str]:
    """Names of the profiles shipped with the toolkit (usable as `load_profile(name)`)."""
    folder = resources.files("toolkit.ingest").joinpath("profiles")
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_profile(name_or_path: str | os.PathLike[str]) -> SiteProfile:
    """Load a site profile: a built-in one by name (`default`, `generic`) or a YAML file by path.

    A bare name that is a built-in profile wins over a file of that name in the working directory;
    anything else is read as a path. Raises `ToolkitError` if it cannot be found, read or parsed.
    """
    if isinstance(name_or_path, str) and _BUILTIN_NAME.fullmatch(name_or_path):
        resource = resources.files("toolkit.ingest").joinpath("profiles").joinpath(f"{name_or_path}.yaml")
        if resource.is_file():
            return _parse_profile_text(resource.read_text(encoding="utf-8"), name_or_path, name_or_path)
        if not Path(name_or_path).is_file():
            builtins = ", ".join(available_profiles())
            raise ToolkitError(
                f"unknown site profile {name_or_path!r}: built-in profiles are {builtins}, "
                "or give the path of a YAML file"
            )
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ToolkitError(f"cannot read site profile {path}: {reason}") from exc
    return _parse_profile_text(text, str(path), path.stem)


def _parse_profile_text(text: str, origin: str, default_name: str) -> SiteProfile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ToolkitError(f"site profile {origin} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ToolkitError(f"site profile {origin} must be a YAML mapping of settings")
    return _profile_from_mapping({"name": default_name, **data}, origin)


def _profile_from_mapping(data: Mapping[str, Any], origin: str) -> SiteProfile:
    def fail(message: str) -> ToolkitError:
        return ToolkitError(f"site profile {origin}: {message}")

    unknown = sorted(set(data) - _PROFILE_KEYS)
    if unknown:
        raise fail(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(_PROFILE_KEYS))}")

    def strings(key: str, default: Sequence[str]) -> list[str]:
        value = data.get(key, default)
        if value is None:
            return []
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{key} must be a list of non-empty strings")
        return list(value)

    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise fail("name must be a non-empty string")

    layouts = strings("layouts", LAYOUTS)
    if not layouts or len(set(layouts)) != len(layouts) or not set(layouts) <= set(LAYOUTS):
        raise fail(f"layouts must list some of {', '.join(LAYOUTS)}, each once, in the order to try them")

    header = strings("header", ("title", "date"))
    if sorted(header) != ["date", "title"]:
        raise fail("header must be [title, date] or [date, title]")

    taglines = []
    for i, entry in enumerate(data.get("taglines") or []):
        if isinstance(entry, str) and entry.strip():
            taglines.append(re.compile(re.escape(entry.strip())))
        elif isinstance(entry, Mapping) and set(entry) == {"regex"} and isinstance(entry["regex"], str):
            taglines.append(_compile(entry["regex"], f"taglines[{i}].regex", set(), fail))
        else:
            raise fail(f"taglines[{i}] must be an exact line (a string) or {{regex: PATTERN}}")

    date_formats = strings("date_formats", ())
    for fmt in date_formats:
        bad = _bad_directive(fmt)
        if bad:
            raise fail(f"date format {fmt!r} has {bad}, which datetime.strptime does not understand")
    if "dated" in layouts and not date_formats:
        raise fail("date_formats must list at least one format when the dated layout is used")

    caption = related = None
    if data.get("caption") is not None:
        caption = _compile(data["caption"], "caption", {"caption", "credit", "url"}, fail)
        if not {"caption", "credit"} & set(caption.groupindex):
            raise fail("caption needs a named group (?P<caption>...) and/or (?P<credit>...)")
    if data.get("related") is not None:
        related = _compile(data["related"], "related", {"title", "url"}, fail)
        if "title" not in related.groupindex:
            raise fail("related needs a named group (?P<title>...)")

    max_title_length = data.get("max_title_length", 300)
    if not isinstance(max_title_length, int) or isinstance(max_title_length, bool) or max_title_length < 1:
        raise fail("max_title_length must be a positive integer")

    source = data.get("source") or {}
    if not isinstance(source, Mapping) or not set(source) <= {"name", "domain"}:
        raise fail("source must be a mapping with name and/or domain")
    for key in ("name", "domain"):
        if source.get(key) is not None and not isinstance(source[key], str):
            raise fail(f"source.{key} must be a string")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise fail("description must be a string")

    return SiteProfile(
        name=name,
        layouts=tuple(layouts),
        header=tuple(header),
        taglines=tuple(taglines),
        date_formats=tuple(date_formats),
        caption=caption,
        related=related,
        max_title_length=max_title_length,
        source_name=source.get("name") or None,
        source_domain=source.get("domain") or None,
        description=description.strip(),
    )


def _compile(pattern: Any, key: str, allowed_groups: set[str], fail) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise fail(f"{key} must be a regular expression (a non-empty string)")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise fail(f"{key} is not a valid regular expression: {exc}") from exc
    extra = set(compiled.groupindex) - allowed_groups
    if extra:
        allowed = ", ".join(sorted(allowed_groups)) or "none"
        raise fail(f"{key} has unknown named group(s) {', '.join(sorted(extra))} (allowed: {allowed})")
    return compiled


def _bad_directive(fmt: str) -> str | None:
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            if i + 1 == len(fmt):
                return "a lone % at the end"
            if fmt[i + 1] not in _STRPTIME_DIRECTIVES:
                return f"the directive %{fmt[i + 1]}"
            i += 2
        else:
            i += 1
    return None


def _resolve_profile(profile: SiteProfile | str | os.PathLike[str] | None) -> SiteProfile:
    if profile is None:
        return load_profile(DEFAULT_PROFILE)
    if isinstance(profile, SiteProfile):
        return profile
    return load_profile(profile)


# --------------------------------------------------------------------------------------------------
# Ingest


def ingest_text(
    paths: Sequence[Path],
    *,
    language: str = "en",
    timezone: str = "UTC",
    source_name: str | None = None,
    profile: SiteProfile | str | os.PathLike[str] | None = None,
) -> TextIngestResult:
    """Read plain-text article files into article records, one article per file.

    `paths` are files or folders (a folder means every `*.txt` below it, sorted); a file listed twice
    is read once. `timezone` (an IANA name) is the zone of the dates in the files, and sets the offset
    of `published_at`. `source_name` (else the profile's) fills `source.name`. `profile` is a
    `SiteProfile`, a built-in profile name or a profile file (default: the `default` profile).

    A file that cannot be read, is not UTF-8 or fits no layout of the profile becomes a `TextProblem`
    and the other files are still read. Raises `ToolkitError` for a bad option (unknown time zone,
    language that is not a BCP 47 tag, unusable profile).
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    site = _resolve_profile(profile)
    zone = _zone(timezone)
    language_pattern = _schema_pattern("language")
    if not isinstance(language, str) or not re.fullmatch(language_pattern, language):
        raise ToolkitError(f"language {language!r} is not a BCP 47 tag such as en, ar or pt-BR")
    name = source_name or site.source_name

    articles: list[dict] = []
    problems: list[TextProblem] = []
    used_ids: set[str] = set()
    seen_texts: dict[str, Path] = {}
    for path, missing in _expand(paths):
        if missing:
            problems.append(TextProblem(path, "unreadable", missing))
            continue
        try:
            raw = _read_article_file(path)
        except OSError as exc:
            problems.append(TextProblem(path, "unreadable", f"cannot read the file: {exc.strerror or exc}"))
            continue
        try:
            decoded = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            problems.append(TextProblem(
                path, "invalid-encoding",
                f"not UTF-8: byte 0x{raw[exc.start]:02X} at byte offset {exc.start}; re-encode it as UTF-8",
                line,
            ))
            continue

        lines = _lines(decoded)
        digest = hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()
        if digest in seen_texts:
            problems.append(TextProblem(
                path, "duplicate-article", f"same text as {seen_texts[digest]}, which was read first"
            ))
            continue

        parsed = _parse(lines, site, zone)
        if isinstance(parsed, _Miss):
            problems.append(TextProblem(path, parsed.code, parsed.message, parsed.line))
            continue

        article_id = _article_id(path, digest, used_ids)
        used_ids.add(article_id)
        seen_texts[digest] = path
        articles.append(_record(article_id, parsed, language, name, site.source_domain))
    return TextIngestResult(articles=articles, problems=problems)


def write_articles(result: TextIngestResult, out: Path, inputs: Sequence[Path] = ()) -> int:
    """Write `result.articles` to `out` as JSONL (UTF-8, one object per line); return how many.

    The file is written beside `out` and renamed into place, so a failed write leaves any previous
    `out` untouched. Raises `ToolkitError` naming `out` if it cannot be written or if it exists and
    is not a regular file (a device, a FIFO, `/dev/stdout`: those are never replaced) or is one of
    the `inputs` the articles were read from.
    """
    from toolkit.publish import atomic_file

    with atomic_file(Path(out), inputs) as f:
        for article in result.articles:
            f.write(orjson.dumps(article))
            f.write(b"\n")
    return len(result.articles)


def read(paths: Sequence[Path], options: ImportOptions) -> Imported:
    """The importer-registry form of `ingest_text` (default profile, UTC): articles only, no annotations."""
    result = ingest_text(paths, language=options.language)
    problems = [p.as_problem() for p in result.problems]
    return Imported(articles=result.articles, problems=problems)


def _expand(paths: Sequence[Path]) -> Iterator[tuple[Path, str | None]]:
    """Each file to read once, in order, with a reason when it cannot be read at all."""
    seen: set[Path] = set()
    for given in paths:
        given = Path(given)
        if given.is_dir():
            # Not `is_file()`: a FIFO or dangling link named *.txt is reported, not passed over in silence.
            files = sorted(p for p in given.rglob("*.txt") if not p.is_dir())
            if not files:
                yield given, "a folder with no .txt files in it"
        elif given.exists():
            files = [given]
        else:
            yield given, "no such file"
            continue
        for path in files:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield path, None


def _read_article_file(path: Path) -> bytes:
    """The bytes of one article file; `OSError` saying why when it is not a regular file or is too large."""
    too_large = OSError(errno.EFBIG, f"larger than {MAX_TEXT_FILE_BYTES:,} bytes, too large for one article")
    with open_regular(path) as f:
        if os.fstat(f.fileno()).st_size > MAX_TEXT_FILE_BYTES:
            raise too_large
        # One byte past the cap, so a file that grew since it was looked at is caught too.
        data = f.read(MAX_TEXT_FILE_BYTES + 1)
    if len(data) > MAX_TEXT_FILE_BYTES:
        raise too_large
    return data


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in text.split("\n")]
    return [line if line.translate(_INVISIBLE).strip() else "" for line in lines]


def _article_id(path: Path, digest: str, used: set[str]) -> str:
    stem = path.stem
    if re.fullmatch(_schema_pattern("id"), stem):
        return stem if stem not in used else f"{stem[:100]}-{digest[:10]}"
    return f"text-{digest[:16]}"


def _record(article_id: str, parsed: _Parsed, language: str, source_name: str | None,
            source_domain: str | None) -> dict:
    record: dict[str, Any] = {"id": article_id, "title": parsed.title}
    if parsed.published_at is not None:
        record["published_at"] = parsed.published_at
    record["language"] = language
    source = {"name": source_name, "domain": source_domain, "tagline": parsed.tagline}
    source = {key: value for key, value in source.items() if value}
    if source:
        record["source"] = source
    record["text"] = "\n\n".join(parsed.paragraphs)
    if parsed.media:
        record["media"] = parsed.media
    if parsed.related:
        record["related"] = parsed.related
    return record


# --------------------------------------------------------------------------------------------------
# Layouts


@dataclass(frozen=True)
class _Parsed:
    title: str
    published_at: str | None
    tagline: str | None
    paragraphs: list[str]
    media: list[dict]
    related: list[dict]


@dataclass(frozen=True)
class _Miss:
    code: str
    message: str
    line: int | None = None
    # The layout's header was recognised, so the file is of this layout and no other is tried.
    committed: bool = False


def _parse(lines: list[str], site: SiteProfile, zone: tzinfo) -> _Parsed | _Miss:
    start, tagline = _skip_taglines(lines, site)
    if start == len(lines):
        what = "nothing but a tagline" if tagline else "no text"
        return _Miss("no-title", f"the file has {what}, so no title")
    layouts = site.layouts
    if tagline is not None and "dated" in layouts:
        layouts = ("dated",)
    misses: list[tuple[Layout, _Miss]] = []
    for layout in layouts:
        reader = _read_dated if layout == "dated" else _read_simple
        result = reader(lines, start, tagline, site, zone)
        if isinstance(result, _Parsed):
            return result
        if result.committed:
            return _Miss(result.code, f"{result.message} [profile {site.name}]", result.line)
        misses.append((layout, result))
    # The last layout tried is the most permissive one: its reason is the code.
    last = misses[-1][1]
    if len(misses) == 1 and tagline is not None and len(site.layouts) > 1:
        reason = f"{last.message} (it starts with the site's tagline, so it must have the dated layout)"
    else:
        reason = "; ".join(f"not the {layout} layout: {miss.message}" for layout, miss in misses)
    return _Miss(last.code, f"{reason} [profile {site.name}]", last.line)


def _skip_taglines(lines: list[str], site: SiteProfile) -> tuple[int, str | None]:
    tagline = None
    i = 0
    while i < len(lines):
        if lines[i] and any(p.fullmatch(lines[i]) for p in site.taglines):
            tagline = tagline or lines[i]
        elif lines[i]:
            break
        i += 1
    return i, tagline


def _next_content(lines: list[str], i: int) -> int | None:
    while i < len(lines) and not lines[i]:
        i += 1
    return i if i < len(lines) else None


def _read_dated(lines: list[str], start: int, tagline: str | None, site: SiteProfile,
                zone: tzinfo) -> _Parsed | _Miss:
    title = published_at = None
    i = start
    for part in site.header:
        j = _next_content(lines, i)
        if j is None:
            code = "no-title" if part == "title" else "no-date"
            return _Miss(code, f"the file ends before the {part} line")
        if part == "title":
            if len(lines[j]) > site.max_title_length:
                return _Miss("no-title", f"line {j + 1} is too long for a title ({len(lines[j])} "
                                         f"characters, the profile allows {site.max_title_length})", j + 1)
            title = lines[j]
        else:
            published_at = _parse_date(lines[j], site.date_formats, zone)
            if published_at is None:
                formats = ", ".join(repr(f) for f in site.date_formats)
                return _Miss("no-date", f"line {j + 1} {_excerpt(lines[j])} is not a date in any of the "
                                        f"formats {formats}", j + 1)
        i = j + 1

    media = []
    while site.caption is not None and (j := _next_content(lines, i)) is not None:
        match = site.caption.fullmatch(lines[j])
        if not match:
            break
        media.append(_media(match))
        i = j + 1

    paragraphs, related = _body(lines, i, site)
    if not paragraphs:
        return _Miss("no-body", "there is no body paragraph after the title and date", committed=True)
    return _Parsed(title, published_at, tagline, paragraphs, media, related)


def _read_simple(lines: list[str], start: int, tagline: str | None, site: SiteProfile,
                 zone: tzinfo) -> _Parsed | _Miss:
    title = lines[start]
    if len(title) > site.max_title_length:
        return _Miss("no-title", f"line {start + 1} is too long for a title ({len(title)} characters, "
                                 f"the profile allows {site.max_title_length})", start + 1)
    if start + 1 < len(lines) and lines[start + 1]:
        return _Miss("no-title", f"line {start + 2} follows line {start + 1} without a blank line, "
                                 f"so line {start + 1} is not a title", start + 2)
    paragraphs, related = _body(lines, start + 1, site)
    if not paragraphs:
        return _Miss("no-body", "there is no body paragraph after the title")
    return _Parsed(title, None, tagline, paragraphs, [], related)


def _body(lines: list[str], i: int, site: SiteProfile) -> tuple[list[str], list[dict]]:
    paragraphs: list[str] = []
    related: list[dict] = []
    block: list[str] = []
    for line in lines[i:]:
        match = site.related.fullmatch(line) if site.related is not None and line else None
        if line and not match:
            block.append(line)
            continue
        if block:
            paragraphs.append("\n".join(block))
            block = []
        if match:
            link = {"title": match["title"].strip()}
            if "url" in match.re.groupindex and match["url"]:
                link["url"] = match["url"].strip()
            if link["title"]:
                related.append(link)
    if block:
        paragraphs.append("\n".join(block))
    return paragraphs, related


def _media(match: re.Match[str]) -> dict:
    item = {"kind": "image"}
    for key in ("caption", "credit", "url"):
        value = match.groupdict().get(key)
        if value and value.strip():
            item[key] = value.strip()
    return item


def _parse_date(line: str, formats: Sequence[str], zone: tzinfo) -> str | None:
    for fmt in formats:
        try:
            # strptime matches names and AM/PM case-insensitively, so "10:52 am" parses with %p.
            moment = datetime.strptime(line, fmt)
        except ValueError:
            continue
        if not _TIME_DIRECTIVES & set(re.findall(r"%(.)", fmt.replace("%%", ""))):
            return date(moment.year, moment.month, moment.day).isoformat()
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        offset = moment.utcoffset()
        if offset is not None and offset % timedelta(minutes=1):
            # Local mean time before ~1900 has second offsets, which RFC 3339 cannot write: use UTC.
            moment = moment.astimezone(UTC)
        return moment.isoformat()
    return None


def _zone(name: str) -> tzinfo:
    if name in ("UTC", "Etc/UTC"):
        return UTC  # needs no time-zone database
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ToolkitError(
            f"unknown time zone {name!r}: give an IANA name such as UTC or Europe/Kyiv"
        ) from exc


def _excerpt(line: str, limit: int = 60) -> str:
    return repr(line if len(line) <= limit else line[: limit - 1] + "…")


@cache
def _schema_pattern(field: str) -> str:
    """The pattern the article schema gives `field`: the schema, not this module, owns it."""
    text = resources.files("toolkit.schema").joinpath("article.schema.json").read_text(encoding="utf-8")
    return json.loads(text)["properties"][field]["pattern"].removeprefix("^").removesuffix("$")
