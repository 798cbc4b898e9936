"""Card statistics a reviewer looks for: labels per split, text lengths, annotator agreement, two plots.

The numbers are gathered while the rows are written (`rows.BuildStats`: label × split counts and
length histograms — counts per distinct length, so memory grows with the longest text, never with
the number of articles); agreement is one query over the staging store (`hygiene.agreement`).
This module turns them into Markdown sections and PNG images (`images/labels.png`,
`images/lengths.png`) that the card shows by relative links, as the Hub renders them.

The images must not change a build's bytes from one run to the next: matplotlib's default style
(not the user's matplotlibrc), the Agg renderer, fixed sizes and DPI, and no `Software` entry in
the PNG metadata (the only text chunk Agg writes; it names the matplotlib version).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.hygiene.agreement import AgreementRow, figure, measure_agreement
from toolkit.manifest import Layer, Manifest
from toolkit.splits import SPLIT_ORDER

IMAGES = "images"
LABELS_IMAGE = f"{IMAGES}/labels.png"
LENGTHS_IMAGE = f"{IMAGES}/lengths.png"
PERCENTILES = (5, 50, 95)
MAX_PLOTTED_LABELS = 30  # per layer: beyond that a bar chart is unreadable (the table lists them all)
# A word is a run of characters that are not whitespace: RE2's \s is ASCII only, so Unicode spaces
# (no-break, em, line and paragraph separators: \p{Z}) and \v, \x85 are named too.
_WORD = r"[^\s\v\x85\p{Z}]+"
# The code points `_WORD` stops at besides ASCII \t \n \v \f \r and space, as RE2 (pyarrow 26) matches
# them, checked one by one over the whole code space; UTF-8 writes each in 2 or 3 bytes. `word_counts`
# counts words with these in numpy: RE2's scan was a fifth of the export's row building.
_WIDE_SEPARATORS = [c.encode("utf-8") for c in "\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                    + "".join(map(chr, range(0x2000, 0x200B)))]
_DPI = 100


# -- measuring, while rows are written ------------------------------------------------------------------


def text_lengths(texts: pa.Array) -> tuple[list[int], list[int]]:
    """(code points, words) of each text, counted over Arrow buffers, so both export paths count alike
    (`_WORD` itself for arrays `word_counts` does not take)."""
    plain = isinstance(texts, pa.Array) and texts.type == pa.string() and not texts.null_count
    words = word_counts(texts) if plain else None
    return (pc.utf8_length(texts).to_pylist(),
            pc.count_substring_regex(texts, _WORD).to_pylist() if words is None else words.tolist())


def word_counts(texts: pa.Array) -> np.ndarray:
    """Matches of `_WORD` in each text of a string array without nulls: the code points that are not
    separators and follow a separator or the text's start, found byte by byte in the array's UTF-8."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32, count=len(texts) + 1, offset=texts.offset * 4)
    offsets = offsets.astype(np.int64)
    data = texts.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8)[offsets[0]:offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    offsets -= offsets[0]
    separator = (data == 32) | ((data >= 9) & (data <= 13))
    leads = np.flatnonzero((data >= 0xC2) & (data <= 0xE3))  # the first bytes of `_WIDE_SEPARATORS`
    for encoded in _WIDE_SEPARATORS:  # valid UTF-8: a lead byte is followed by its continuation bytes
        at = leads[leads + len(encoded) <= len(data)]
        for i, byte in enumerate(encoded):
            at = at[data[at + i] == byte]
        for i in range(len(encoded)):
            separator[at + i] = True
    after_separator = np.ones(len(data), dtype=bool)
    after_separator[1:] = separator[:-1]
    after_separator[offsets[:-1][offsets[:-1] < offsets[1:]]] = True  # each text's first byte
    word_starts = np.flatnonzero(after_separator & ~separator)
    return np.diff(np.searchsorted(word_starts, offsets))


def percentile(counts: Counter, p: int) -> int | None:
    """The nearest-rank p-th percentile of values given as value → how many: the smallest value with
    at least p% of all values at or below it. None for no values."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, -(-p * total // 100))  # ceil(p% of total) in integers: 0.95 * 20 in floats is not 19
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")


# -- Markdown -----------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _splits(stats: Any) -> list[str]:
    return [s for s in SPLIT_ORDER if stats.articles.get(s)]


def _escape(text: Any) -> str:
    from toolkit.export.card import escape  # the card's escaping of user text (imported late: card imports us)

    return escape(text)


def label_split_table(layer: Layer, counts: Counter, splits: Sequence[str]) -> str:
    """Annotations per label (manifest order) and split, with totals."""
    rows = []
    for label in layer.labels:
        per_split = [counts.get((label, s), 0) for s in splits]
        rows.append([_escape(label), *(f"{n:,}" for n in per_split), f"{sum(per_split):,}"])
    totals = [sum(counts.get((label, s), 0) for label in layer.labels) for s in splits]
    rows.append(["**total**", *(f"{n:,}" for n in totals), f"{sum(totals):,}"])
    return _table(["label", *splits, "all"], rows)


def length_table(stats: Any, splits: Sequence[str]) -> str:
    """Text length percentiles per split, in code points and in words."""
    rows = []
    for split in splits:
        for unit, counts in (("code points", stats.lengths.get(split, Counter())),
                             ("words", stats.words.get(split, Counter()))):
            values = [percentile(counts, p) for p in PERCENTILES] + [max(counts) if counts else None]
            rows.append([split, unit, *("–" if v is None else f"{v:,}" for v in values)])
    return _table(["split", "unit", *(f"p{p}" for p in PERCENTILES), "max"], rows)


def statistics_section(manifest: Manifest, stats: Any) -> str:
    """`## Statistics`: labels × splits per layer, text lengths per split, and the two plots."""
    splits = _splits(stats)
    parts = ["## Statistics"]
    if manifest.layers:
        text = ("### Labels per split\n\nAnnotations per label and split (every annotator's; the `annotations` "
                "config holds them all).")
        for name, layer in manifest.layers.items():
            text += (f"\n\n#### `{_escape(name)}`\n\n"
                     + label_split_table(layer, stats.label_splits.get(name, Counter()), splits))
        if LABELS_IMAGE in stats.images:
            text += f"\n\n![Annotations per label and split]({LABELS_IMAGE})"
        parts.append(text)
    text = ("### Text length\n\nLength of `text` per split: nearest-rank percentiles, in Unicode code points and in "
            "words (runs of characters that are not whitespace).\n\n" + length_table(stats, splits))
    if LENGTHS_IMAGE in stats.images:
        text += f"\n\n![Text length per split]({LENGTHS_IMAGE})"
    parts.append(text)
    return "\n\n".join(parts)


_MEASURE_NAMES = {
    "f1-exact": "F1, exact spans",
    "f1-overlap": "F1, overlapping spans",
    "f1-relation": "F1, (head, tail, label)",
    "cohen-kappa": "Cohen's kappa",
    "krippendorff-alpha": "Krippendorff's alpha (nominal)",
}


def agreement_section(manifest: Manifest, stats: Any) -> str:
    """`## Annotators and agreement`: what the articles config takes from several annotators, and the table."""
    text = ("## Annotators and agreement\n\n"
            f"When several annotators annotated an article, the `articles` config keeps every annotator's spans and "
            f"relations (each item names its `annotator`) and gives a single-label document layer one label: "
            f"{_AGGREGATION[manifest.aggregate]} (`aggregate: {manifest.aggregate}` in the manifest); the "
            "`annotations` config keeps every annotator's label.")
    rows: list[AgreementRow] = stats.agreement
    if not rows:
        return text + ("\n\nNo article in this build was annotated by two or more people in the same layer, so "
                       "there is no agreement to report.")
    text += ("\n\nAgreement between people (annotators not named `model:…`) on the articles two or more of them "
             "annotated in a layer: F1 pooled over every pair of annotators (exact: same offsets and label; "
             "overlap: a span of the same label overlapping), Cohen's kappa for two annotators, Krippendorff's "
             "alpha for more; a `multi: true` layer label by label (yes/no).\n\n")
    return text + _table(
        ["layer", "measure", "label", "value", "annotators", "articles"],
        [[f"`{_escape(r.layer)}`", _MEASURE_NAMES.get(r.measure, r.measure), _escape(r.label) if r.label else "(all)",
          figure(r.value), f"{r.annotators:,}", f"{r.articles:,}"] for r in rows])


_AGGREGATION = {
    "majority": "the label most of its annotators chose, a tie going to the tied label read first",
    "first": "the label read first",
}


# -- images ---------------------------------------------------------------------------------------------


def _png(figure_: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure_)
    buffer = io.BytesIO()
    # Software is the only text chunk Agg writes (it names the matplotlib version): left out, the
    # bytes depend on the data alone.
    figure_.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def labels_png(layers: dict[str, Layer], label_splits: dict[str, Counter], splits: Sequence[str]) -> bytes | None:
    """Horizontal bars per layer: annotations per label, one bar per split. None when nothing is annotated."""
    from matplotlib.figure import Figure

    shown = [(name, layer.labels[:MAX_PLOTTED_LABELS]) for name, layer in layers.items()
             if sum(label_splits.get(name, Counter()).values())]
    if not shown or not splits:
        return None
    heights = [1.0 + 0.3 * len(labels) * len(splits) ** 0.5 for _, labels in shown]
    fig = Figure(figsize=(8, sum(heights)), layout="constrained")
    axes = fig.subplots(len(shown), 1, squeeze=False, height_ratios=heights)[:, 0]
    width = 0.8 / len(splits)
    for ax, (name, labels) in zip(axes, shown, strict=True):
        counts = label_splits[name]
        positions = np.arange(len(labels))
        for i, split in enumerate(splits):
            ax.barh(positions + i * width, [counts.get((label, split), 0) for label in labels], height=width,
                    label=split)
        ax.set_yticks(positions + width * (len(splits) - 1) / 2, labels)
        ax.invert_yaxis()
        ax.set_title(name, loc="left")
        ax.set_xlabel("annotations")
    axes[0].legend(loc="lower right")
    return _png(fig)


def lengths_png(lengths: dict[str, Counter], splits: Sequence[str]) -> bytes | None:
    """Histograms of text length in code points, one outline per split (share of the split's articles)."""
    from matplotlib.figure import Figure

    present = [s for s in splits if lengths.get(s)]
    if not present:
        return None
    shortest, longest = min(min(lengths[s]) for s in present), max(max(lengths[s]) for s in present)
    edges = np.linspace(shortest, max(longest, shortest + 1), 41)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for split in present:
        values = sorted(lengths[split])
        weights = np.array([lengths[split][v] for v in values], dtype=float)
        ax.hist(values, bins=edges, weights=weights / weights.sum(), histtype="step", linewidth=1.5, label=split)
    ax.set_xlabel("text length (code points)")
    ax.set_ylabel("share of the split's articles")
    ax.legend()
    return _png(fig)


def write_card_statistics(context: Any) -> list[Path]:
    """Measure agreement over the build's articles and write the plots into `images/`; the files written.

    Sets `stats.agreement` and `stats.images`, which the card's sections read. Runs after the data
    shards are written (the staged `plan`, the build's articles, is in the store then).
    """
    import matplotlib.style

    stats, layers = context.stats, context.manifest.layers
    # A silver build (`--annotators model`) holds no person's annotation: nothing to compare.
    if context.agreement is not None:
        stats.agreement = context.agreement  # measured over these very records by validation
    else:
        stats.agreement = [] if context.annotators == "model" else measure_agreement(
            context.store, layers, "plan")
    splits = _splits(stats)
    written: list[Path] = []
    with matplotlib.style.context("default"):  # not the user's matplotlibrc: the same bytes everywhere
        for name, image in ((LABELS_IMAGE, labels_png(layers, stats.label_splits, splits)),
                            (LENGTHS_IMAGE, lengths_png(stats.lengths, splits))):
            if image is not None:
                path = context.staging / name
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(image)
                stats.images.append(name)
                written.append(path)
    return written
