"""`ner-<layer>` views: conll2003-style rows (tokens, offsets, BIO or BIOES tags) for every span layer.

One row per paragraph of an article's title (its own row, `field: "title"`) and text (`field:
"text"`), in article order: `article_id`, `field`, `tokens`, `token_offsets` ([start, end) code
points into that field, so a prediction maps back onto the article) and `ner_tags`, a list of
ClassLabel whose names are `O` then, per label in manifest order, `B-X`, `I-X` (and `E-X`, `S-X`
for BIOES). Paragraphs without spans are rows too (all `O`), as in CoNLL files.

What a view cannot hold, and the rule that decides, per (article, layer) — each counted for the card:
- leading or trailing whitespace: a span is trimmed to the tokens it covers, and the round trip
  gives the trimmed span (`trimmed`); a span of whitespace only has no token (`blank`);
- overlaps (BIO cannot nest; `overlap: true` layers, or two annotators reading the same words):
  spans are taken annotator by annotator, in the order each first appears among the article's
  spans of the layer, each annotator's by earliest start, then longest, then read order; a span
  overlapping one already taken is left out (`duplicate` if it is the very span with the same
  label, else `overlapping`). Annotators who split an article's work between them all count; where
  two annotated the same words, the first annotator's reading stands.
Every other span is exactly a run of whole tokens (see `toolkit.export.tokenize`), so decoding the
tags with the offsets gives the span back.

Two spellings of these rules sit side by side: `article_rows`, article by article in Python (the
reference, and the path for data the fast one does not take: offsets outside their field), and
`batch_rows`, a whole Arrow batch of articles at once in numpy — one string for all their fields,
token bounds from code point classes, spans, cuts, tags and paragraphs by searchsorted — which
builds the Arrow columns directly. `tests/test_views_ner.py` checks they give the same rows.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.export import tokenize as tok
from toolkit.export.tokenize import Offsets, paragraphs, tokenize, trim
from toolkit.manifest import Layer, Tagging

FIELDS = ("title", "text")  # a span's `field`; the title's rows come first, as it comes first in the article
Span = tuple[int, int, int]  # start, end, label index in the layer


def ner_config(layer: str) -> str:
    return f"ner-{layer}"


def _positions(tagging: Tagging) -> tuple[str, ...]:
    return ("B", "I", "E", "S") if tagging == "BIOES" else ("B", "I")


def tag_names(labels: tuple[str, ...] | list[str], tagging: Tagging) -> list[str]:
    """The ClassLabel names of `ner_tags`: `O` (id 0), then each label's B-, I- (E-, S-) in manifest order."""
    return ["O", *(f"{position}-{label}" for label in labels for position in _positions(tagging))]


def ner_features(layer: Layer, tagging: Tagging) -> Any:
    """`datasets.Features` of a NER view."""
    import datasets

    return datasets.Features({
        "article_id": datasets.Value("string"),
        "field": datasets.Value("string"),
        "tokens": datasets.List(datasets.Value("string")),
        "token_offsets": datasets.List(datasets.List(datasets.Value("int32"), length=2)),
        "ner_tags": datasets.List(datasets.ClassLabel(names=tag_names(layer.labels, tagging))),
    })


def encode_tags(tokens: list[Offsets], spans: list[Span], tagging: Tagging) -> list[int]:
    """Tag ids of `tokens` for `spans` (sorted, not overlapping, each exactly a run of whole tokens)."""
    width = len(_positions(tagging))
    tags = [0] * len(tokens)
    starts = [start for start, _ in tokens]
    for start, end, label in spans:
        first, last = bisect_left(starts, start), bisect_left(starts, end) - 1
        if last < first:
            continue  # no token inside: the caller trims spans, so only a bug gets here
        base = 1 + width * label
        if first == last and tagging == "BIOES":
            tags[first] = base + 3
            continue
        tags[first] = base
        for i in range(first + 1, last + 1):
            tags[i] = base + 1
        if tagging == "BIOES":
            tags[last] = base + 2
    return tags


def select_spans(text: str, items: list[dict[str, Any]], counts: Counter) -> list[Span]:
    """The spans of one field a view tags: trimmed, blank ones out, then a non-overlapping subset.

    `items` are span structs (start, end, label id, annotator) in read order. They are taken
    annotator by annotator, in the order each annotator first appears in `items` (several
    annotators who split an article's work all count; where two read the same words, the first
    one's reading stands), and within an annotator by earliest start, then longest, then read
    order. A span overlapping one already taken is left out: as a `duplicate` if it is the same
    span with the same label (nothing is lost), else as `overlapping`. Depends on the data only.
    """
    rank: dict[Any, int] = {}
    candidates: list[tuple[int, int, int, int, int]] = []
    for order, item in enumerate(items):
        bounds = trim(text, item["start"], item["end"])
        if bounds is None:
            counts["blank"] += 1
            continue
        if bounds != (item["start"], item["end"]):
            counts["trimmed"] += 1
        who = rank.setdefault(item.get("annotator"), len(rank))
        candidates.append((who, bounds[0], -bounds[1], order, item["label"]))
    return take_non_overlapping(candidates, counts)


def take_non_overlapping(candidates: list[tuple[int, int, int, int, int]], counts: Counter) -> list[Span]:
    """The greedy choice of `select_spans` over (annotator rank, start, -end, read order, label) candidates."""
    kept: list[Span] = []  # sorted by start; never overlapping
    for _who, start, negative_end, _order, label in sorted(candidates):
        end = -negative_end
        at = bisect_left(kept, (start, end, label))
        if (at < len(kept) and kept[at][0] < end) or (at and kept[at - 1][1] > start):
            counts["duplicate" if at < len(kept) and kept[at] == (start, end, label) else "overlapping"] += 1
            continue
        kept.insert(at, (start, end, label))
    return kept


def article_rows(article: dict[str, Any], items: list[dict[str, Any]], tagging: Tagging,
                 counts: Counter) -> list[dict[str, Any]]:
    """The view's rows for one article: its title, then each paragraph of its text."""
    counts["spans"] += len(items)
    rows: list[dict[str, Any]] = []
    for field in FIELDS:
        text = article.get(field) or ""
        spans = select_spans(text, [item for item in items if (item.get("field") or "text") == field], counts)
        counts["kept"] += len(spans)
        cuts = sorted({edge for start, end, _ in spans for edge in (start, end)})
        first = 0
        for begin, end in paragraphs(text, [(start, stop) for start, stop, _ in spans]):
            tokens, offsets = tokenize(text, begin, end, cuts)
            inside = first
            while inside < len(spans) and spans[inside][0] < end:
                inside += 1
            if tokens:
                rows.append({
                    "article_id": article["id"], "field": field, "tokens": tokens, "token_offsets": offsets,
                    "ner_tags": encode_tags(offsets, spans[first:inside], tagging),
                })
            first = inside
    counts["rows"] += len(rows)
    return rows


# --- the batch path ---------------------------------------------------------------------------------

GOOD_EXAMPLE_TOKENS = 40
BatchRows = tuple[pa.RecordBatch, np.ndarray, np.ndarray]  # rows, rows per article, rows fit for the card


@dataclass(frozen=True)
class FieldBatch:
    """The titles and texts of a batch of articles as one string: field `f` is article `f // 2`'s
    title (even `f`) or text (odd), at `starts[f]` in `joined`, followed by a line break so no token
    and no span crosses into the next field. Everything here is per code point, computed once and
    shared by every span layer; the per-layer work is then per token and per span only."""

    starts: np.ndarray
    lengths: np.ndarray
    solid: np.ndarray  # positions of the code points that are not whitespace (the ones tokens hold)
    breaks: np.ndarray  # positions of line breaks
    byte_at: np.ndarray  # UTF-8 offset of each code point of the joined string (and of its end)
    data: bytes  # UTF-8 of every token, in order: the joined string without its whitespace
    token_starts: np.ndarray  # tokens before any cut
    token_ends: np.ndarray


def field_batch(titles: list[str | None], texts: list[str | None]) -> FieldBatch:
    """Join a batch's fields and classify their code points once."""
    fields = [value or "" for pair in zip(titles, texts, strict=True) for value in pair]
    lengths = np.fromiter(map(len, fields), dtype=np.int64, count=len(fields))
    starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
    joined = "".join(f"{value}\n" for value in fields)
    points = tok.codepoints(joined)
    classes = tok.char_classes(points)
    solid_mask = classes < tok.SPACE
    token_starts, token_ends = tok.token_bounds(classes)
    utf8 = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)
    # A code point starts at every byte that is not a continuation byte (0b10xxxxxx).
    byte_at = np.append(np.flatnonzero((utf8 & 0xC0) != 0x80), len(utf8))
    # The UTF-8 of the code points that are not whitespace (all the tokens hold), a byte mask away.
    data = utf8[solid_mask if len(utf8) == len(points) else np.repeat(solid_mask, np.diff(byte_at))].tobytes()
    return FieldBatch(starts, lengths, np.flatnonzero(solid_mask), np.flatnonzero(classes == tok.BREAK), byte_at,
                      data, token_starts, token_ends)


@dataclass(frozen=True)
class SpanColumns:
    """One span layer's spans of a batch, flattened: field index `field` (-1: not title or text) and
    offsets in the joined string; `ok` is False when an offset lies outside its field."""

    field: np.ndarray
    start: np.ndarray
    end: np.ndarray
    label: np.ndarray
    annotator: pa.Array
    total: int
    ok: bool


def span_columns(column: pa.Array, fields: FieldBatch) -> SpanColumns:
    """Flatten a `list<struct<start, end, label, field, annotator…>>` column against `fields`."""
    flat = pc.list_flatten(column)
    article = pc.list_parent_indices(column).to_numpy(zero_copy_only=False).astype(np.int64)
    if not len(flat):
        empty = np.zeros(0, dtype=np.int64)
        return SpanColumns(empty, empty, empty, empty, pa.array([], pa.string()), 0, True)
    names = [flat.type.field(i).name for i in range(flat.type.num_fields)]
    field_name = flat.field("field") if "field" in names else pa.nulls(len(flat), pa.string())
    annotator = flat.field("annotator") if "annotator" in names else pa.nulls(len(flat), pa.string())
    parts = [flat.field(name) for name in ("start", "end", "label")]
    ok = flat.null_count == 0 and all(part.null_count == 0 for part in parts)
    start, end, label = (part.to_numpy(zero_copy_only=False).astype(np.int64) for part in parts) if ok else (
        np.zeros(len(flat), dtype=np.int64),) * 3
    # `item.get("field") or "text"`: a missing or empty field is the text.
    is_title = pc.fill_null(pc.equal(field_name, "title"), False).to_numpy(zero_copy_only=False)
    is_text = pc.or_(pc.is_null(field_name), pc.is_in(field_name, pa.array(["text", ""]))).to_numpy(
        zero_copy_only=False)
    field = np.where(is_title, 2 * article, np.where(is_text, 2 * article + 1, -1))
    used = field >= 0
    size = fields.lengths[np.maximum(field, 0)]
    ok = ok and not np.any(used & ((start < 0) | (end < start) | (end > size)))
    base = fields.starts[np.maximum(field, 0)]
    return SpanColumns(field, base + start, base + end, label, annotator, len(flat), ok)


def select_batch_spans(spans: SpanColumns, fields: FieldBatch, counts: Counter) -> tuple[np.ndarray, ...]:
    """`select_spans` for a whole batch: (start, end, label) of the kept spans, sorted by start.

    Trimming is a lookup of the nearest non-space code point; a field whose trimmed spans do not
    overlap keeps them all (the usual case), and only fields with an overlap run the greedy choice.
    """
    used = np.flatnonzero(spans.field >= 0)
    solid = fields.solid
    start, end = spans.start[used], spans.end[used]
    first = np.searchsorted(solid, start, side="left")
    last = np.searchsorted(solid, end, side="left") - 1
    first_at = solid[np.minimum(first, len(solid) - 1)] if len(solid) else start
    blank = (first >= len(solid)) | (first_at >= end) if len(solid) else np.ones(len(used), dtype=bool)
    kept_idx = used[~blank]
    trimmed_start = first_at[~blank]
    trimmed_end = solid[last[~blank]] + 1 if len(solid) else trimmed_start
    counts_add(counts, "blank", int(blank.sum()))
    counts_add(counts, "trimmed", int(np.sum((trimmed_start != start[~blank]) | (trimmed_end != end[~blank]))))
    group = spans.field[kept_idx]
    order = np.lexsort((-trimmed_end, trimmed_start, group))
    group, s, e = group[order], trimmed_start[order], trimmed_end[order]
    label, index = spans.label[kept_idx][order], kept_idx[order]
    clash = (group[1:] == group[:-1]) & (s[1:] < e[:-1])
    if not clash.any():
        return s, e, label
    crowded = np.unique(group[1:][clash])
    calm = ~np.isin(group, crowded)
    chosen = [(int(a), int(b), int(c)) for a, b, c in zip(s[calm], e[calm], label[calm], strict=True)]
    annotators = spans.annotator.to_pylist()
    for g in crowded.tolist():
        members = np.flatnonzero(group == g)
        chosen += _greedy_field(members[np.argsort(index[members], kind="stable")], s, e, label, index,
                                annotators, int(fields.starts[g]), counts)
    chosen.sort()
    kept = np.array(chosen, dtype=np.int64).reshape(-1, 3)
    return kept[:, 0], kept[:, 1], kept[:, 2]


def _greedy_field(members: np.ndarray, s: np.ndarray, e: np.ndarray, label: np.ndarray, index: np.ndarray,
                  annotators: list[str | None], offset: int, counts: Counter) -> list[Span]:
    """`take_non_overlapping` on one field's candidates (`members`, in read order); offsets stay global."""
    rank: dict[Any, int] = {}
    candidates = []
    for order, m in enumerate(members.tolist()):
        who = rank.setdefault(annotators[index[m]], len(rank))
        candidates.append((who, int(s[m]) - offset, offset - int(e[m]), order, int(label[m])))
    return [(start + offset, end + offset, lab) for start, end, lab in take_non_overlapping(candidates, counts)]


def counts_add(counts: Counter, key: str, n: int) -> None:
    """Add `n` like `counts[key] += 1` n times: a key never incremented stays absent (the card reads that)."""
    if n:
        counts[key] += n


def tag_tokens(starts: np.ndarray, span_start: np.ndarray, span_end: np.ndarray, span_label: np.ndarray,
               tagging: Tagging) -> tuple[np.ndarray, np.ndarray]:
    """`encode_tags` over a batch: tag ids, and for each token 1 + the index of the span holding it (0: none)."""
    width = len(_positions(tagging))
    first = np.searchsorted(starts, span_start, side="left")
    last = np.searchsorted(starts, span_end, side="left") - 1
    has = last >= first  # a trimmed span always has a token; only a bug gets a False here
    first, last, base = first[has], last[has], 1 + width * span_label[has]
    marks = np.zeros(len(starts) + 1, dtype=np.int64)
    np.add.at(marks, first, np.arange(1, len(first) + 1))
    np.add.at(marks, last + 1, -np.arange(1, len(first) + 1))
    holder = np.cumsum(marks[:-1])
    tags = np.where(holder > 0, np.concatenate(([0], base + 1))[holder], 0)
    tags[first] = base
    if tagging == "BIOES":
        tags[last] = base + 2
        single = first == last
        tags[first[single]] = base[single] + 3
    return tags, holder


def row_starts(fields: FieldBatch, starts: np.ndarray, field: np.ndarray, holder: np.ndarray) -> np.ndarray:
    """Indices of the tokens that open a row: a field's first token, or one after a line break that
    no kept span covers (a trimmed span covers a break exactly when it holds the tokens on both sides)."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    # A break is never inside a token, so it lies in the gap before the first token that starts after it
    # (a search per break, not two per token).
    after = np.searchsorted(starts, fields.breaks)
    gap_has_break = np.zeros(len(starts) - 1, dtype=bool)
    gap_has_break[after[(after > 0) & (after < len(starts))] - 1] = True
    covered = (holder[1:] > 0) & (holder[1:] == holder[:-1])
    opens = (field[1:] != field[:-1]) | (gap_has_break & ~covered)
    return np.concatenate(([0], np.flatnonzero(opens) + 1))


def token_strings(fields: FieldBatch, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    """The tokens as an Arrow string array: every non-space code point is in exactly one token, in
    order, so `fields.data` is the array's data buffer whatever the cuts; only the offsets differ."""
    sizes = fields.byte_at[ends] - fields.byte_at[starts]
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int32)
    return pa.StringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(fields.data))


def batch_rows(batch: pa.RecordBatch, layer: str, tagging: Tagging, counts: Counter,
               fields: FieldBatch | None = None) -> BatchRows:
    """`article_rows` for every article of `batch` (columns id, title, text and `layer`), as Arrow.

    Returns the rows, how many each article gave (in order) and which rows suit the card's example.
    `fields` may be passed in when several layers share a batch (the fields are tokenized once).
    """
    ids = batch.column("id").to_pylist()
    fields = fields or field_batch(batch.column("title").to_pylist(), batch.column("text").to_pylist())
    column = batch.column(layer)
    spans = span_columns(column, fields)
    if not spans.ok:
        return _careful_rows(batch, layer, tagging, counts)
    counts["spans"] += spans.total
    span_start, span_end, span_label = select_batch_spans(spans, fields, counts)
    counts["kept"] += len(span_start)
    starts, ends = tok.split_tokens(fields.token_starts, fields.token_ends,
                                    np.unique(np.concatenate((span_start, span_end))))
    # Each token's field, from where each field's tokens begin (a search per field, not per token).
    first = np.searchsorted(starts, fields.starts)
    field = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(starts))))
    tags, holder = tag_tokens(starts, span_start, span_end, span_label, tagging)
    opens = row_starts(fields, starts, field, holder)
    row_field = field[opens]
    per_article = np.bincount(row_field // 2, minlength=len(ids))
    counts["rows"] += len(opens)
    list_offsets = pa.array(np.concatenate((opens, [len(starts)])).astype(np.int32))
    base = fields.starts[field]
    local = np.empty((len(starts), 2), dtype=np.int32)
    local[:, 0], local[:, 1] = starts - base, ends - base
    names = ("title", "text")
    rows = pa.RecordBatch.from_arrays([
        pa.array([ids[f // 2] for f in row_field.tolist()], pa.string()),
        pa.array([names[f % 2] for f in row_field.tolist()], pa.string()),
        pa.ListArray.from_arrays(list_offsets, token_strings(fields, starts, ends)),
        pa.ListArray.from_arrays(list_offsets, pa.FixedSizeListArray.from_arrays(pa.array(local.ravel()), 2)),
        pa.ListArray.from_arrays(list_offsets, pa.array(tags.astype(np.int64))),
    ], names=["article_id", "field", "tokens", "token_offsets", "ner_tags"])
    sizes = np.diff(np.concatenate((opens, [len(starts)])))
    tagged = np.maximum.reduceat(tags, opens) > 0 if len(opens) else np.zeros(0, dtype=bool)
    return rows, per_article, tagged & (sizes <= GOOD_EXAMPLE_TOKENS)


def _careful_rows(batch: pa.RecordBatch, layer: str, tagging: Tagging, counts: Counter) -> BatchRows:
    """The batch through `article_rows`, article by article: for data the batch path does not take."""
    rows: list[dict[str, Any]] = []
    per_article = []
    for article in batch.select(["id", "title", "text", layer]).to_pylist():
        made = article_rows(article, article.get(layer) or [], tagging, counts)
        rows += made
        per_article.append(len(made))
    good = np.array([is_good_example(row) for row in rows], dtype=bool)
    schema = pa.schema([("article_id", pa.string()), ("field", pa.string()), ("tokens", pa.list_(pa.string())),
                        ("token_offsets", pa.list_(pa.list_(pa.int32(), 2))), ("ner_tags", pa.list_(pa.int64()))])
    return pa.RecordBatch.from_pylist(rows, schema=schema), np.array(per_article, dtype=np.int64), good


def is_good_example(row: dict[str, Any]) -> bool:
    """A row worth showing in the card: it tags something, and it is short enough to read."""
    return any(row["ner_tags"]) and len(row["tokens"]) <= GOOD_EXAMPLE_TOKENS


def column_descriptions(layer: str, tagging: Tagging) -> dict[str, str]:
    """What each column of `ner-<layer>` holds (the card and Croissant say it)."""
    return {
        "article_id": "Id of the article the paragraph is from.",
        "field": "The article field the paragraph is in: title or text.",
        "tokens": "The paragraph's tokens (never crossing a span edge; whitespace is not a token).",
        "token_offsets": "Each token's [start, end) offsets in the field, in Unicode code points.",
        "ner_tags": f"One {tagging} tag per token for the spans of layer '{layer}'.",
    }
