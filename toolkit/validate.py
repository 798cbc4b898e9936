"""Validation: JSON Schema per record, then the checks JSON Schema cannot express.

Records are read in a fixed order — article files in manifest order, then annotation files — and
each record's verdict is final when it is read: between two conflicting records the first one read
stands (DESIGN.md §2). Memory holds only what cross-record checks need (ids, and the offsets of
spans in layers that forbid overlap); article texts live in a disk-backed `RecordStore`.

The checks of one record alone run in batches on an engine (`toolkit.precheck`, any number of
processes or Ray); this module is the driver: it reads the lines, runs the cross-record checks in
read order, and sends any record that is not plainly valid down the careful path, which names
every problem.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from toolkit.engines import Engine, EngineOptions, open_engine
from toolkit.manifest import Layer, Manifest, load_manifest
from toolkit.precheck import BLANK, AnnotationKey, ArticleKey, CheckContext, bad_dates, precheck
from toolkit.problems import Problem, RecordKind
from toolkit.readers import DEFAULT_MAX_LINE_BYTES, Block, RawLine, clean_line, file_size, iter_blocks
from toolkit.rejects import RejectsWriter
from toolkit.schemas import fast_validator, reference_validator
from toolkit.store import RecordStore

MAX_PROBLEMS_KEPT = 100_000
FAST_PATH = True  # tests switch it off to compare both paths
_SCHEMA_ERRORS_PER_RECORD = 5
BATCH_LINES = 4096  # the reader's 1 MiB blocks are cut to this many lines at most


@dataclass
class KindCounts:
    read: int = 0
    valid: int = 0
    invalid: int = 0


@dataclass
class ValidationReport:
    """What `validate` found. `problems` keeps the first `MAX_PROBLEMS_KEPT`; `problem_counts` counts all."""

    counts: dict[str, KindCounts] = field(
        default_factory=lambda: {"articles": KindCounts(), "annotations": KindCounts()}
    )
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems_dropped: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.invalid == 0 for c in self.counts.values())

    def add(self, problem: Problem) -> None:
        self.problem_counts[problem.code] = self.problem_counts.get(problem.code, 0) + 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
        else:
            self.problems_dropped += 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON report of DESIGN.md §2 (plus per-code counts and the files read)."""
        return {
            "ok": self.ok,
            "counts": {k: vars(v) for k, v in self.counts.items()},
            "problem_counts": dict(sorted(self.problem_counts.items())),
            "problems": [p.to_dict() for p in self.problems],
            "problems_dropped": self.problems_dropped,
            "files": self.files,
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))


def _describe_schema_error(error: Any) -> tuple[str, str]:
    """(JSON pointer, sentence naming the field and keyword) for a jsonschema ValidationError."""
    pointer = "".join(f"/{p}" for p in error.absolute_path)
    where = pointer or "the record"
    if error.validator == "additionalProperties":
        return pointer or "/", f"{error.message} (keyword 'additionalProperties' at {where})"
    if error.validator in ("anyOf", "oneOf"):
        return pointer, f"{where}: {error.instance!r} matches none of the allowed forms (keyword '{error.validator}')"
    return pointer, f"{where}: {error.message} (keyword '{error.validator}')"


class _Intervals:
    """Pairwise disjoint [start, end) spans kept sorted, so an overlap test is a binary search, not a scan."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlapping(self, start: int, end: int) -> tuple[int, int] | None:
        """An interval overlapping [start, end), or None."""
        i = bisect_right(self.starts, start)
        if i and self.ends[i - 1] > start:
            return self.starts[i - 1], self.ends[i - 1]
        if i < len(self.starts) and self.starts[i] < end:
            return self.starts[i], self.ends[i]
        return None

    def try_add(self, start: int, end: int) -> bool:
        """Add [start, end) unless it overlaps one already here; whether it was added."""
        starts, ends = self.starts, self.ends
        if not starts or start >= ends[-1]:  # the usual case: spans come in text order
            starts.append(start)
            ends.append(end)
            return True
        if self.overlapping(start, end) is not None:
            return False
        self.add(start, end)
        return True

    def add(self, start: int, end: int) -> None:
        i = bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def remove(self, start: int, end: int) -> None:
        i = bisect_left(self.starts, start)
        del self.starts[i], self.ends[i]


# A change to the cross-record state that accepting an annotation makes: ("id", annotation id, owning
# article id or None), ("span", (article, layer, field), (start, end)) or ("label", (article, layer), None).
_Claim = tuple[str, Any, Any]


@dataclass
class _State:
    """Cross-record memory: ids seen and what later records may refer to."""

    # id → the id itself when valid (one string object that every annotation of the article shares,
    # which saves memory per annotation), or False when only rejected copies were read.
    article_ids: dict[str, str | bool] = field(default_factory=dict)
    annotation_ids: dict[str, str | None] = field(default_factory=dict)  # id → article id if a span
    no_overlap_spans: dict[tuple[str, str, str], _Intervals] = field(default_factory=dict)
    single_labels: set[tuple[str, str]] = field(default_factory=set)

    def spans(self, key: tuple[str, str, str]) -> _Intervals:
        found = self.no_overlap_spans.get(key)
        if found is None:
            found = self.no_overlap_spans[key] = _Intervals()
        return found

    def apply(self, claim: _Claim) -> None:
        what, key, value = claim
        if what == "id":
            self.annotation_ids[key] = value
        elif what == "span":
            self.spans(key).add(*value)
        else:
            self.single_labels.add(key)

    def undo(self, claim: _Claim) -> None:
        what, key, value = claim
        if what == "id":
            self.annotation_ids.pop(key, None)
        elif what == "span":
            self.no_overlap_spans[key].remove(*value)
        else:
            self.single_labels.discard(key)


class _Validator:
    """One validation run: the manifest, the cross-record state, and where results go."""

    def __init__(self, manifest: Manifest, store: RecordStore, rejects: RejectsWriter | None,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.manifest = manifest
        self.max_line_bytes = max_line_bytes
        self.layers: dict[str, Layer] = manifest.layers
        self.label_sets = {name: frozenset(layer.labels) for name, layer in manifest.layers.items()}
        self.store = store
        self.rejects = rejects
        self.state = _State()
        self.report = ValidationReport()
        self.fast = {"article": fast_validator("article"), "annotation": fast_validator("annotation")}

    # -- one line -------------------------------------------------------------------------------

    def _problem(self, problems: list[Problem], file: str, line: int, record_id: Any, kind: RecordKind,
                 code: str, path: str, message: str) -> None:
        rid = record_id if isinstance(record_id, str) else None
        problems.append(Problem(file, line, rid, kind, code, path, message))

    def parse(self, raw: RawLine, file: str, kind: RecordKind, problems: list[Problem]) -> dict | None:
        """Decode and parse one line into a dict, or record why it cannot be."""
        if raw.too_long:
            self._problem(problems, file, raw.number, None, kind, "line-too-long", "",
                          f"line is longer than {len(raw.data)} bytes; raise --max-line-bytes if this is expected")
            return None
        try:
            record = orjson.loads(raw.data)
        except orjson.JSONDecodeError as exc:
            code, message = _classify_parse_failure(raw.data, exc)
            self._problem(problems, file, raw.number, None, kind, code, "", message)
            return None
        if not isinstance(record, dict):
            self._problem(problems, file, raw.number, None, kind, "invalid-json", "",
                          f"expected a JSON object, found {type(record).__name__}")
            return None
        return record

    def schema_problems(self, record: dict, file: str, line: int, kind: RecordKind, problems: list[Problem]) -> bool:
        """True when the record passes its JSON Schema; otherwise add explained `schema` problems."""
        if self.fast[kind].is_valid(record):
            return True
        errors = sorted(reference_validator(kind).iter_errors(record), key=lambda e: list(e.absolute_path))
        if not errors:
            return True  # engines disagree: the reference implementation decides
        for error in errors[:_SCHEMA_ERRORS_PER_RECORD]:
            pointer, message = _describe_schema_error(error)
            self._problem(problems, file, line, record.get("id"), kind, "schema", pointer, message)
        return False

    # -- semantic checks ------------------------------------------------------------------------

    def check_annotation(self, ann: dict, article_id: str, fields: tuple[str, str] | None, file: str, line: int,
                         prefix: str, problems: list[Problem], claims: list[_Claim]) -> None:
        """Checks of one schema-valid annotation whose article is `article_id` (title, text in `fields`).

        Appends problems; when there are none, appends to `claims` the state changes that make
        the annotation visible to later records (applied only if the whole record is accepted).
        """
        st = self.state
        ann_id = ann["id"]
        start_count = len(problems)

        def bad(code: str, path: str, message: str) -> None:
            self._problem(problems, file, line, ann_id, "annotation", code, prefix + path, message)

        if ann_id in st.annotation_ids:
            bad("duplicate-id", "/id", f"annotation id '{ann_id}' is already used by an earlier annotation")
        layer_name = ann["layer"]
        layer = self.layers.get(layer_name)
        if layer is None:
            declared = ", ".join(self.layers) or "none"
            bad("unknown-layer", "/layer",
                f"layer '{layer_name}' is not declared in the manifest (declared: {declared})")
            return
        label = ann["label"]
        if label not in self.label_sets[layer_name]:
            bad("unknown-label", "/label",
                f"label '{label}' is not declared for layer '{layer_name}' (declared: {', '.join(layer.labels)})")
        has_offsets = "start" in ann or "end" in ann
        if layer.kind == "span":
            self._check_span(ann, layer, article_id, fields, bad, claims)
        elif has_offsets:
            bad("unexpected-span", "/start",
                f"layer '{layer_name}' is a {layer.kind} layer; its annotations carry no start/end offsets")
        if layer.kind == "relation":
            self._check_relation(ann, article_id, bad)
        if layer.kind == "document" and not layer.multi:
            key = (article_id, layer_name)
            if key in st.single_labels:
                bad("conflicting-label", "/label",
                    f"article '{article_id}' already has a '{layer_name}' label; the layer is not declared multi: true")
            else:
                claims.append(("label", key, None))
        if len(problems) == start_count:
            claims.append(("id", ann_id, article_id if layer.kind == "span" else None))

    def _check_span(self, ann: dict, layer: Layer, article_id: str, fields: tuple[str, str] | None,
                    bad: Callable[[str, str, str], None], claims: list[_Claim]) -> None:
        start, end = ann.get("start"), ann.get("end")
        if start is None or end is None:
            bad("missing-span", "/start" if start is None else "/end",
                f"layer '{layer.name}' is a span layer: start and end offsets are required")
            return
        if fields is None:
            return  # the article is unknown or invalid; that problem is reported by the caller
        field_name = ann.get("field", "text")
        value = fields[0] if field_name == "title" else fields[1]
        if not (0 <= start < end <= len(value)):
            bad("span-out-of-bounds", "/end" if end > len(value) else "/start",
                f"span [{start}, {end}) is not inside {field_name} of article '{article_id}' "
                f"({len(value)} code points; need 0 <= start < end <= {len(value)})")
            return
        quoted = ann.get("text")
        actual = value[start:end]
        if quoted is not None and quoted != actual:
            bad("span-text-mismatch", "/text",
                f"text {_clip(quoted)!r} differs from {field_name}[{start}:{end}] = {_clip(actual)!r}"
                f"{_offset_hint(value, quoted, start)}")
            return
        if not layer.overlap:
            key = (article_id, layer.name, field_name)
            spans = self.state.no_overlap_spans.get(key)
            other = spans.overlapping(start, end) if spans is not None else None
            if other is not None:
                bad("span-overlap", "/start",
                    f"span [{start}, {end}) overlaps an earlier '{layer.name}' span [{other[0]}, {other[1]}) "
                    f"and the layer is declared overlap: false")
                return
            claims.append(("span", key, (start, end)))

    def _check_relation(self, ann: dict, article_id: str, bad: Callable[[str, str, str], None]) -> None:
        for end_name in ("head", "tail"):
            ref = ann.get(end_name)
            if ref is None:
                bad("missing-reference", f"/{end_name}", f"a relation needs both head and tail; {end_name} is missing")
                continue
            owner = self.state.annotation_ids.get(ref, False)
            if owner is False:
                bad("unknown-reference", f"/{end_name}",
                    f"{end_name} '{ref}' is not a valid annotation read before this relation")
            elif owner is None:
                bad("unknown-reference", f"/{end_name}", f"{end_name} '{ref}' is not a span annotation")
            elif owner != article_id:
                bad("unknown-reference", f"/{end_name}",
                    f"{end_name} '{ref}' belongs to article '{owner}', not '{article_id}'")

    # -- records --------------------------------------------------------------------------------

    def article(self, raw: RawLine, file: str) -> None:
        """The careful path for one article line: every check, every problem explained."""
        counts = self.report.counts
        problems: list[Problem] = []
        record = self.parse(raw, file, "article", problems)
        embedded = record.get("annotations") if record is not None else None
        n_embedded = len(embedded) if isinstance(embedded, list) else 0
        claims: list[_Claim] = []
        if record is not None and self.schema_problems(record, file, raw.number, "article", problems):
            article_id = record["id"]
            if self.state.article_ids.get(article_id):
                self._problem(problems, file, raw.number, article_id, "article", "duplicate-id", "/id",
                              f"article id '{article_id}' is already used by an earlier article")
            for name, value in bad_dates(record, "article"):
                self._problem(problems, file, raw.number, article_id, "article", "invalid-date", f"/{name}",
                              _not_a_moment(name, value))
            fields = (record["title"], record["text"])
            for i, ann in enumerate(embedded or ()):
                if "article_id" in ann and ann["article_id"] != article_id:
                    self._problem(problems, file, raw.number, ann["id"], "annotation", "unknown-article",
                                  f"/annotations/{i}/article_id",
                                  f"embedded annotation names article '{ann['article_id']}' but sits in '{article_id}'")
                    continue
                for name, value in bad_dates(ann, "annotation"):
                    self._problem(problems, file, raw.number, ann["id"], "annotation", "invalid-date",
                                  f"/annotations/{i}/{name}", _not_a_moment(name, value))
                mine: list[_Claim] = []
                before = len(problems)
                self.check_annotation(ann, article_id, fields, file, raw.number, f"/annotations/{i}", problems, mine)
                # Later embedded annotations of the same article see this one's claims (ids, spans);
                # they are undone if the article as a whole is rejected.
                if len(problems) == before:
                    for claim in mine:
                        self.state.apply(claim)
                    claims.extend(mine)
        counts["articles"].read += 1
        counts["annotations"].read += n_embedded
        if problems:
            for claim in reversed(claims):
                self.state.undo(claim)
            if record is not None and isinstance(record.get("id"), str):
                self.state.article_ids.setdefault(record["id"], False)
            self._reject(file, raw, problems)
            counts["articles"].invalid += 1
            counts["annotations"].invalid += n_embedded
            return
        self.state.article_ids[article_id] = article_id
        body = {k: v for k, v in record.items() if k != "annotations"}
        self.store.add_article(article_id, record["title"], record["text"], orjson.dumps(body))
        for ann in embedded or ():
            self.store.add_annotation(article_id, orjson.dumps({"article_id": article_id, **ann}))
        counts["articles"].valid += 1
        counts["annotations"].valid += n_embedded

    def annotation(self, raw: RawLine, file: str) -> None:
        """The careful path for one annotation line: every check, every problem explained."""
        counts = self.report.counts["annotations"]
        counts.read += 1
        problems: list[Problem] = []
        claims: list[_Claim] = []
        record = self.parse(raw, file, "annotation", problems)
        if record is not None and self.schema_problems(record, file, raw.number, "annotation", problems):
            article_id = record["article_id"]
            known = self.state.article_ids.get(article_id)
            fields = None
            if known is None:
                self._problem(problems, file, raw.number, record["id"], "annotation", "unknown-article",
                              "/article_id", f"no article has id '{article_id}'")
            elif known is False:
                self._problem(problems, file, raw.number, record["id"], "annotation", "invalid-article",
                              "/article_id", f"article '{article_id}' was rejected; fix it and this annotation is kept")
            else:
                article_id = known
                fields = self.store.fields(article_id)
            for name, value in bad_dates(record, "annotation"):
                self._problem(problems, file, raw.number, record["id"], "annotation", "invalid-date", f"/{name}",
                              _not_a_moment(name, value))
            self.check_annotation(record, article_id, fields, file, raw.number, "", problems, claims)
        if problems:
            self._reject(file, raw, problems)
            counts.invalid += 1
            return
        for claim in claims:
            self.state.apply(claim)
        self.store.add_annotation(record["article_id"], raw.data)
        counts.valid += 1

    # -- batches: the fast path ----------------------------------------------------------------
    # Most records are valid. `toolkit.precheck` has already passed every check of one record
    # alone (maybe in another process) and left a key; here the cross-record checks run, in read
    # order, in one tight loop per batch (this loop is the part no engine can share out). A
    # record is accepted here only when the careful path would accept it; any other record goes
    # to the careful path, which explains its problems. tests/test_validate_fast_path.py checks
    # that both give the same reports.

    def articles(self, file: str, block: Block, keys: list[ArticleKey | None]) -> None:
        ids = self.state.article_ids

        def accept(key: ArticleKey) -> tuple[str, ...] | None:
            if key[0] in ids:
                return None
            ids[key[0]] = key[0]
            return key

        self._batch(file, block, keys, accept, self.store.add_articles, self.article, "articles")

    def annotations(self, file: str, block: Block, keys: list[AnnotationKey | None]) -> None:
        st = self.state
        ids, articles, single_labels, layers = st.annotation_ids, st.article_ids, st.single_labels, self.layers
        no_overlap = st.no_overlap_spans

        def accept(key: AnnotationKey) -> tuple[str] | None:
            ann_id, article_id, layer_name, start, end, field_name, head, tail = key
            article_id = articles.get(article_id)
            if ann_id in ids or not article_id:
                return None
            layer = layers[layer_name]
            owner = None
            if layer.kind == "span":
                if not layer.overlap:
                    span_key = (article_id, layer_name, field_name)
                    spans = no_overlap.get(span_key)
                    if spans is None:
                        spans = no_overlap[span_key] = _Intervals()
                    if not spans.try_add(start, end):
                        return None
                owner = article_id
            elif layer.kind == "relation":
                if ids.get(head) != article_id or ids.get(tail) != article_id:
                    return None
            elif not layer.multi:
                label_key = (article_id, layer_name)
                if label_key in single_labels:
                    return None
                single_labels.add(label_key)
            ids[ann_id] = owner
            return (article_id,)

        self._batch(file, block, keys, accept, self.store.add_annotations, self.annotation, "annotations")

    def _batch(self, file: str, block: Block, keys: list[Any], accept: Callable[[Any], tuple | None],
               store: Callable[[list], None], careful: Callable[[RawLine, str], None], kind: str) -> None:
        """One batch: each line the precheck passed and `accept` takes is stored as (*accepted, bytes);
        every other non-blank line goes down the careful path, in read order."""
        accepted: list[tuple] = []
        lines, first, fast = block.lines, block.first, 0
        for i, key in enumerate(keys):
            if key is BLANK:
                continue
            if key is not None:
                row = accept(key)
                if row is not None:
                    accepted.append((*row, self._kept(lines, first, i)))
                    fast += 1
                    continue
            raw = self._raw(block, i)
            if raw is not None:
                store(accepted)  # keep the store in read order
                accepted = []
                careful(raw, file)
        store(accepted)
        self._count_valid(kind, fast)

    def _kept(self, lines: list[bytes], first: int, i: int) -> bytes:
        """The bytes to store of line i, which the precheck passed (so it is neither blank nor too long)."""
        data = lines[i]
        if data[-1:] == b"\r" or first + i == 1:  # a CR or a BOM to drop
            return clean_line(data, first + i, self.max_line_bytes).data  # type: ignore[union-attr]
        return data

    def _raw(self, block: Block, i: int) -> RawLine | None:
        """Line i of the block as the checks see it (None when blank)."""
        if block.cut:
            return RawLine(block.first, block.lines[0], True)
        return clean_line(block.lines[i], block.first + i, self.max_line_bytes)

    def _count_valid(self, kind: str, n: int) -> None:
        """Count records accepted by the fast path (the careful path counts its own)."""
        counts = self.report.counts[kind]
        counts.read += n
        counts.valid += n

    def _reject(self, file: str, raw: RawLine, problems: list[Problem]) -> None:
        for problem in problems:
            self.report.add(problem)
        if self.rejects is not None:
            self.rejects.write(file, raw, problems)


def _not_a_moment(name: str, value: str) -> str:
    return f"{name} {value!r} is not a real date/time (in years 1 to 9999, UTC)"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _offset_hint(value: str, quoted: str, start: int) -> str:
    """A hint when the quoted text occurs nearby: usually offsets counted in UTF-16 units or bytes."""
    found = value.find(quoted, max(0, start - 64))
    if found == -1 or found > start + 64:
        return ""
    return f"; the text occurs at [{found}, {found + len(quoted)}) — offsets counted in another unit?"


def _classify_parse_failure(data: bytes, exc: Exception) -> tuple[str, str]:
    """Tell bad encoding from bad JSON for a line orjson refused, with a message a person can act on."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return "invalid-encoding", f"not UTF-8: byte 0x{data[err.start]:02x} at column {err.start + 1} ({err.reason})"
    try:
        json.loads(text)
    except RecursionError:
        return "invalid-json", "JSON nested too deeply to read"
    except json.JSONDecodeError as err:
        return "invalid-json", f"not JSON: {err.msg} at column {err.colno}"
    except ValueError as err:
        return "invalid-json", f"not JSON: {err}"
    if "recursion" in str(exc).lower():
        return "invalid-json", "JSON nested deeper than 1024 levels"
    # Python's json accepts what orjson refused: a lone surrogate escape such as "\ud800".
    return "invalid-encoding", f"holds an escaped lone surrogate, which is not text ({exc})"


def _batches(blocks: Iterable[Block]) -> Iterator[Block]:
    """The reader's blocks, cut to at most `BATCH_LINES` lines (the unit of work of an engine)."""
    for block in blocks:
        if len(block.lines) <= BATCH_LINES:
            yield block
            continue
        for i in range(0, len(block.lines), BATCH_LINES):
            yield Block(block.first + i, block.lines[i : i + BATCH_LINES], block.cut)


def _prechecked(engine: Engine, context: CheckContext, blocks: Iterable[Block]) -> Iterator[tuple[Block, list[Any]]]:
    """Every batch of lines with the precheck key (None, or `BLANK`) of each, in read order, run by `engine`."""
    if not FAST_PATH:
        for batch in _batches(blocks):
            yield batch, [None] * len(batch.lines)
        return
    sent: deque[Block] = deque()

    def payloads() -> Iterator[Block]:
        for batch in _batches(blocks):
            sent.append(batch)
            yield batch

    for keys in engine.map(precheck, context, payloads()):
        yield sent.popleft(), keys


def run_validation(
    manifest: Manifest,
    store: RecordStore,
    engine: Engine,
    *,
    rejects_dir: Path | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
) -> ValidationReport:
    """Validate every record of `manifest`, keeping the valid ones in `store` (used by export).

    Per-record checks run in batches on `engine`; cross-record checks run here, in read order.
    """
    files: list[tuple[Path, RecordKind]] = [(p, "article") for p in manifest.article_files]
    files += [(p, "annotation") for p in manifest.annotation_files]
    total = manifest.input_bytes()
    done_before = 0
    rejects = RejectsWriter(rejects_dir, manifest.root) if rejects_dir is not None else None
    run = _Validator(manifest, store, rejects, max_line_bytes)
    contexts = {
        "article": CheckContext("article", manifest.layers, max_line_bytes),
        "annotation": CheckContext("annotation", manifest.layers, max_line_bytes, str(store.path)),
    }
    try:
        for i, (path, kind) in enumerate(files):
            if kind == "annotation" and (i == 0 or files[i - 1][1] == "article"):
                store.commit()  # batch workers read the articles through their own connections
            name = _display_name(path, manifest.root)
            run.report.files.append(name)
            handle = run.articles if kind == "article" else run.annotations
            progress = None
            if on_progress is not None:
                base = done_before

                def progress(done: int, base: int = base) -> None:
                    on_progress(base + done, total)

            for batch, keys in _prechecked(engine, contexts[kind], iter_blocks(path, max_line_bytes, progress)):
                handle(name, batch, keys)
            done_before += file_size(path)
    finally:
        if rejects is not None:
            rejects.close()
    store.commit()
    return run.report


def validate(
    path: Path | str,
    *,
    rejects_dir: Path | None = None,
    report_path: Path | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    on_progress: Callable[[int, int], None] | None = None,
    engine: EngineOptions | None = None,
) -> ValidationReport:
    """Validate the dataset at PATH (a folder holding `dataset.yaml`, or the manifest itself).

    Returns the report; `report.ok` is False when any record is invalid. Writes the JSON report to
    `report_path` and each invalid line, byte for byte, with its problems to `rejects_dir` when
    given. `engine` says where the per-record checks run (default: a process per core); the
    report is the same whatever runs them. Raises `ToolkitError` (exit code 2) when the dataset
    cannot be read at all.
    """
    manifest = load_manifest(path)
    with RecordStore(keep_records=False) as store, open_engine(engine, manifest.input_bytes()) as running:
        report = run_validation(
            manifest, store, running, rejects_dir=rejects_dir, max_line_bytes=max_line_bytes, on_progress=on_progress
        )
    if report_path is not None:
        report.write_json(report_path)
    return report


def _display_name(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def iter_problem_lines(problems: Iterable[Problem]) -> Iterable[str]:
    """`file:line: code: message` lines, the form compilers and editors understand."""
    for p in problems:
        rid = f" [{p.record_id}]" if p.record_id else ""
        yield f"{p.file}:{p.line}:{rid} {p.code}: {p.message}"
