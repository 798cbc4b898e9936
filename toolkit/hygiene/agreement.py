"""Annotator agreement: where two or more people annotated the same article in a layer, how far they agree.

Only human annotators count (an `annotator` that does not start with `model:`); annotations without
an annotator are nobody's. An annotator "annotated an article in a layer" when they left at least
one annotation of that layer on it: the data cannot tell an annotator who found nothing from one
who never looked. What is measured, per layer:

- span layers: pairwise F1 between every two annotators of an article, pooled over pairs and
  articles (micro), overall and per label. `exact`: the same field, offsets and label. `overlap`:
  a span counts as matched when the other annotator has a span of the same label in the same field
  overlapping it; precision and recall are the matched shares of each side, F1 their harmonic mean.
- document layers: Cohen's kappa when exactly two annotators labelled the shared articles,
  Krippendorff's alpha (nominal, the `krippendorff` package) when more did. A `multi: true` layer
  is measured label by label, as a yes/no decision of each annotator.
- relation layers: pairwise F1 over (head span, tail span, label), spans by their field and offsets.

Two spellings, side by side as in the validator: the careful one (pure functions over one
article's annotations at a time, `agreement_rows`) and the set-based one (`_GROUPS`, `_SHARED` and
the counts over them: the same pooled counts, and kappa's and alpha's inputs, as joins and
group-bys in the staging store, which spill to disk under its memory limit). Validation and export
use the set-based counts; the careful spelling is their reference (tests/test_agreement.py compares
both on generated corpora). Python holds only counts, and for alpha one row of label counts per
shared article (what the `krippendorff` package needs).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations, groupby
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.manifest import Layer
from toolkit.store import Queries, StagingStore

Span = tuple[str, int, int]  # field, start, end
LabelledSpan = tuple[Span, str]  # a span and its label


@dataclass(frozen=True)
class AgreementRow:
    """One agreement figure: a measure of a layer (or of one label in it) over the articles shared."""

    layer: str
    measure: str
    label: str | None
    value: float | None  # None where the measure is undefined (say, kappa when one label is all anyone used)
    annotators: int  # distinct human annotators involved
    articles: int  # articles annotated by two or more of them

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- pure functions --------------------------------------------------------------------------------


def figure(value: float | None) -> str:
    """A measure as shown in tables: three decimals, or "–" where it is undefined."""
    return "–" if value is None else f"{value:.3f}"


def f1_from_counts(matched_a: int, total_a: int, matched_b: int, total_b: int) -> float | None:
    """F1 of two annotators, B judged against A: recall = matched_a / total_a, precision = matched_b / total_b.

    Symmetric in A and B. None when neither annotated anything; 0.0 when only one did.
    """
    if total_a == 0 and total_b == 0:
        return None
    if total_a == 0 or total_b == 0:
        return 0.0
    recall, precision = matched_a / total_a, matched_b / total_b
    return 0.0 if recall + precision == 0 else 2 * precision * recall / (precision + recall)


def overlap_matches_by_label(a: Sequence[LabelledSpan], b: Sequence[LabelledSpan]) -> Counter:
    """Label → how many spans of `a` overlap some span of `b` with that label in the same field."""
    # Per (field, label): b's spans sorted by start with the running maximum of their ends, so "does
    # any b span start before my end and end after my start" is one binary search.
    index: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
    for ((field, start, end), label) in sorted(b, key=lambda s: s[0][1]):
        starts, max_ends = index.setdefault((field, label), ([], []))
        starts.append(start)
        max_ends.append(max(end, max_ends[-1]) if max_ends else end)
    matched: Counter = Counter()
    for (field, start, end), label in a:
        found = index.get((field, label))
        if found is None:
            continue
        before = bisect_left(found[0], end)  # b spans starting before this one ends
        if before and found[1][before - 1] > start:
            matched[label] += 1
    return matched


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two annotators' labels on the same items: (p_o - p_e) / (1 - p_e).

    p_o is the share of items they label alike; p_e the agreement expected by chance from each
    annotator's own label shares. None without items, or when p_e is 1 (both used one same label).
    """
    return cohen_kappa_of_counts(Counter(pairs))


def cohen_kappa_of_counts(pairs: Counter) -> float | None:
    """`cohen_kappa` of (first's label, second's label) → how many items: the same figure, to the bit
    (every sum is of whole numbers, divided once)."""
    n = sum(pairs.values())
    if not n:
        return None
    observed = sum(count for (x, y), count in pairs.items() if x == y) / n
    first, second = Counter(), Counter()
    for (x, y), count in pairs.items():
        first[x] += count
        second[y] += count
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Counter]) -> float | None:
    """Krippendorff's alpha (nominal) of units given as label → how many annotators chose it.

    Units with fewer than two values carry no pairs and are left out. None when alpha is undefined:
    a single label in all the data (no disagreement is possible, nor expected).
    """
    units = [u for u in units if sum(u.values()) >= 2]  # a unit with one value carries no pairs
    labels = sorted({label for unit in units for label in unit})
    return krippendorff_alpha_of_counts(np.array([[unit.get(label, 0) for label in labels] for unit in units],
                                                 dtype=float).reshape(len(units), len(labels)))


def krippendorff_alpha_of_counts(counts: np.ndarray) -> float | None:
    """`krippendorff_alpha` of a units × labels matrix of counts, labels in sorted order, units in the
    order given (the package sums over units in floating point: the same order gives the same bits).

    Units with fewer than two values and labels nobody chose are left out, as `krippendorff_alpha` does.
    """
    import krippendorff

    counts = counts[counts.sum(axis=1) >= 2]
    counts = counts[:, counts.sum(axis=0) > 0]
    if counts.shape[1] < 2:
        return None
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


# -- per layer, from one article at a time -----------------------------------------------------------


class _Pooled:
    """Match counts per (measure, label) summed over annotator pairs and articles: (matched_a, total_a,
    matched_b, total_b). A match needs the same label, so a layer's counts are the sum of its labels'."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}

    def pair(self, measure: str, matched_a: Counter, total_a: Counter, matched_b: Counter, total_b: Counter) -> None:
        """Add one annotator pair's per-label counts (the hot loop: plain dict and list operations)."""
        counts = self.counts
        for label in total_a.keys() | total_b.keys():
            pooled = counts.get((measure, label))
            if pooled is None:
                pooled = counts[(measure, label)] = [0, 0, 0, 0]
            pooled[0] += matched_a[label]
            pooled[1] += total_a[label]
            pooled[2] += matched_b[label]
            pooled[3] += total_b[label]

    def f1(self, measure: str, label: str | None) -> float | None:
        """Pooled F1 of one label, or of every label together (None)."""
        found = [c for (m, name), c in self.counts.items() if m == measure and (label is None or name == label)]
        return f1_from_counts(*(sum(c[i] for c in found) for i in range(4))) if found else None

    def has(self, measure: str, label: str | None) -> bool:
        return any(m == measure and (label is None or name == label) for m, name in self.counts)


def _by_label(items: Iterable[tuple], label_at: int) -> Counter:
    return Counter(item[label_at] for item in items)


def shared_by_label(a: Sequence[tuple], b: Sequence[tuple], label_at: int) -> Counter:
    """Exact matches per label: the items both sides have, as multisets (a span marked twice by both
    counts twice), so each side has as many matched as the other."""
    shared = Counter(a) & Counter(b)
    counts: Counter = Counter()
    for item, n in shared.items():
        counts[item[label_at]] += n
    return counts


@dataclass
class _LayerTally:
    """What one layer's shared articles add up to, fed one article at a time."""

    layer: Layer
    annotators: set[str]
    articles: int = 0

    def __post_init__(self) -> None:
        self.pooled = _Pooled()
        self.units: list[dict[str, frozenset[str]]] = []  # document layers: annotator → labels, per article

    def add_article(self, by_annotator: dict[str, list[tuple]]) -> None:
        """One article's annotations of the layer, per annotator (two or more annotators)."""
        self.articles += 1
        self.annotators.update(by_annotator)
        kind = self.layer.kind
        if kind == "document":
            self.units.append({who: frozenset(label for label, *_ in items) for who, items in by_annotator.items()})
            return
        # Each annotator's items once (not once per pair they are in).
        if kind == "span":
            items = {who: [(span, label) for label, span, _, _ in mine] for who, mine in by_annotator.items()}
        else:
            items = {who: [(head, tail, label) for label, _, head, tail in mine] for who, mine in by_annotator.items()}
        totals = {who: _by_label(mine, -1) for who, mine in items.items()}
        for x, y in combinations(sorted(items), 2):
            shared = shared_by_label(items[x], items[y], -1)
            if kind == "span":
                self.pooled.pair("f1-exact", shared, totals[x], shared, totals[y])
                self.pooled.pair("f1-overlap", overlap_matches_by_label(items[x], items[y]), totals[x],
                                 overlap_matches_by_label(items[y], items[x]), totals[y])
            else:
                self.pooled.pair("f1-relation", shared, totals[x], shared, totals[y])

    def rows(self) -> list[AgreementRow]:
        name, n_people, n_articles = self.layer.name, len(self.annotators), self.articles
        if self.layer.kind == "document":
            return [AgreementRow(name, measure, label, value, n_people, n_articles)
                    for measure, label, value in _document_measures(self.units, self.layer, self.annotators)]
        return _f1_rows(self.layer, self.pooled, n_people, n_articles)


def _f1_rows(layer: Layer, pooled: _Pooled, annotators: int, articles: int) -> list[AgreementRow]:
    """A span or relation layer's rows: the layer as a whole, then each label with counts, in manifest order."""
    measures = ("f1-exact", "f1-overlap") if layer.kind == "span" else ("f1-relation",)
    rows = []
    for label in (None, *layer.labels):
        for measure in measures:
            if pooled.has(measure, label):
                rows.append(AgreementRow(layer.name, measure, label, pooled.f1(measure, label), annotators, articles))
    return rows


def _document_measures(units: list[dict[str, frozenset[str]]], layer: Layer, annotators: set[str]
                       ) -> list[tuple[str, str | None, float | None]]:
    """Kappa (two annotators in all) or alpha (more), for the layer or, when `multi`, per label as yes/no."""
    if layer.multi:  # each label a yes/no decision of every annotator of the article
        decisions = [(label, [{who: frozenset(["yes" if label in labels else "no"]) for who, labels in unit.items()}
                              for unit in units]) for label in layer.labels]
    else:
        decisions = [(None, units)]
    measured = []
    for label, label_units in decisions:
        if len(annotators) == 2:
            first, second = sorted(annotators)
            pairs = [(next(iter(u[first])), next(iter(u[second]))) for u in label_units]
            measured.append(("cohen-kappa", label, cohen_kappa(pairs)))
        else:
            counted = [Counter(next(iter(labels)) for labels in unit.values()) for unit in label_units]
            measured.append(("krippendorff-alpha", label, krippendorff_alpha(counted)))
    return measured


def agreement_rows(layers: dict[str, Layer], annotations: Iterable[tuple]) -> list[AgreementRow]:
    """Agreement rows from (layer, article, annotator, label, span, head span, tail span) tuples sorted by
    (layer, article), human annotators only, of articles two or more of them annotated in the layer."""
    tallies: dict[str, _LayerTally] = {}
    for (layer_name, _article), rows in groupby(annotations, key=lambda r: (r[0], r[1])):
        by_annotator: dict[str, list[tuple]] = {}
        for _, _, annotator, label, span, head, tail in rows:
            by_annotator.setdefault(annotator, []).append((label, span, head, tail))
        tally = tallies.get(layer_name)
        if tally is None:
            tally = tallies[layer_name] = _LayerTally(layers[layer_name], set())
        tally.add_article(by_annotator)
    return [row for name in layers if name in tallies for row in tallies[name].rows()]


# -- the query layer ------------------------------------------------------------------------------------

# The accepted annotations with the columns agreement reads. The staged columns carry them, so no
# record is parsed again; only the rare records the resolver accepted although their line did not
# pass the fast checks (no staged columns) are read from their JSON.
_ACCEPTED = """
    SELECT article_id, k, sub, id, layer, annotator, label, field, start, "end", head, tail FROM clean_annk
    UNION ALL
    SELECT a.article_id, a.k, a.sub, a.id, a.layer, a.annotator, a.label, a.field, a.start, a."end", a.head, a.tail
    FROM annk a SEMI JOIN acc_ann c ON c.k = a.k AND c.sub = a.sub WHERE a.ok
    UNION ALL
    SELECT article_id, k, sub, v[1], v[2], v[3], v[4], v[5], CAST(v[6] AS BIGINT), CAST(v[7] AS BIGINT), v[8], v[9]
    FROM (SELECT c.article_id, c.k, c.sub, json_extract_string(decode(c.data),
                 ['$.id', '$.layer', '$.annotator', '$.label', '$.field', '$.start', '$.end', '$.head', '$.tail']) AS v
          FROM acc_ann c ANTI JOIN (SELECT k, sub FROM annk WHERE ok) a ON c.k = a.k AND c.sub = a.sub)"""
_HUMAN = "annotator <> '' AND NOT starts_with(annotator, 'model:')"

# The careful spelling's items, one row per annotation: human annotations of the accepted articles
# in {articles}, on articles two or more human annotators annotated in the layer, with the offsets
# of a relation's ends.
_ITEMS = """
WITH accepted AS (""" + _ACCEPTED + """),
mine_articles AS (SELECT a.* FROM accepted a SEMI JOIN {articles} s ON s.id = a.article_id),
human AS (
    SELECT article_id, k, sub, layer, annotator, label, coalesce(field, 'text') AS field, start, "end", head, tail
    FROM mine_articles WHERE """ + _HUMAN + """),
shared AS (
    SELECT article_id, layer FROM human GROUP BY article_id, layer HAVING count(DISTINCT annotator) >= 2),
mine AS (
    SELECT h.* FROM human h SEMI JOIN shared s ON s.article_id = h.article_id AND s.layer = h.layer),
-- A relation's ends may be anyone's spans (a model's, an unnamed one): looked up among all the
-- annotations of the shared articles.
ends AS (
    SELECT a.article_id, [a.id, a.field, CAST(a.start AS VARCHAR), CAST(a."end" AS VARCHAR)] AS v
    FROM mine_articles a SEMI JOIN (SELECT DISTINCT article_id FROM shared) s ON s.article_id = a.article_id)
SELECT m.layer, m.article_id, m.annotator, m.label, m.k, m.sub, m.field, m.start, m."end",
       coalesce(hs.v[2], 'text') AS head_field, CAST(hs.v[3] AS BIGINT) AS head_start,
       CAST(hs.v[4] AS BIGINT) AS head_end, coalesce(ts.v[2], 'text') AS tail_field,
       CAST(ts.v[3] AS BIGINT) AS tail_start, CAST(ts.v[4] AS BIGINT) AS tail_end
FROM mine m
LEFT JOIN ends hs ON hs.v[1] = m.head AND hs.article_id = m.article_id
LEFT JOIN ends ts ON ts.v[1] = m.tail AND ts.article_id = m.article_id
"""

# The set-based spelling, in two narrow tables, so that the wide work (joins of every annotation)
# happens once, on a few narrow columns, and only inside the groups that can agree.
#
# `agreement_groups`: the (article, layer) groups of the accepted articles in {articles} that two or
# more human annotators annotated, numbered `g` (the narrow key every later join uses), with `l` the
# layer's place in the manifest ({layers}, from 1: an integer where a name would be copied into
# every row). Grouped once, by (article, layer): min < max says "two or more" without a DISTINCT
# aggregate or a list of names (either cost more than the rest of the grouping at 100k articles);
# the articles are chosen after grouping, among a fifth as many rows.
_GROUPS = """
SELECT row_number() OVER () AS g, article_id, layer, list_position([{layers}], layer) AS l FROM (
    SELECT article_id, layer FROM (""" + _ACCEPTED + """)
    WHERE """ + _HUMAN + """ GROUP BY article_id, layer HAVING min(annotator) < max(annotator)) a
SEMI JOIN {articles} s ON s.id = a.article_id
"""

# `agreement_shared`: one row per human annotation of a group: `g`, `l`, annotator, label, field and
# offsets (-1 for none, so keys compare with =), and for a relation `head` and `tail`, a number
# standing for the field and offsets of each end: 0 for none (nor any found, nor an end without
# offsets), else equal numbers for equal ends (a dense rank), so the exact key stays narrow.
# A relation's ends may be anyone's spans (a model's, an unnamed one): looked up among the accepted
# annotations that the groups' relations name (finding those first cost less than numbering the
# ends every relation names, at 100k articles).
_SHARED = """
WITH accepted AS NOT MATERIALIZED (""" + _ACCEPTED + """),
related AS (
    SELECT a.article_id, a.head, a.tail FROM accepted a
    JOIN agreement_groups s ON s.article_id = a.article_id AND s.layer = a.layer
    WHERE (a.head IS NOT NULL OR a.tail IS NOT NULL) AND """ + _HUMAN + """),
named AS (SELECT article_id, head AS id FROM related WHERE head IS NOT NULL
          UNION SELECT article_id, tail FROM related WHERE tail IS NOT NULL),
ends AS (
    SELECT a.article_id, a.id, coalesce(a.field, 'text') AS field, coalesce(a.start, -1) AS s,
           coalesce(a."end", -1) AS e
    FROM accepted a SEMI JOIN named n ON n.id = a.id AND n.article_id = a.article_id),
numbered AS (
    SELECT article_id, id, CASE WHEN field = 'text' AND s = -1 AND e = -1 THEN 0
                                ELSE dense_rank() OVER (ORDER BY field, s, e) END AS n
    FROM ends)
SELECT s.g, s.l, a.annotator, a.label, coalesce(a.field, 'text') AS field, coalesce(a.start, -1) AS s,
       coalesce(a."end", -1) AS e, coalesce(h.n, 0) AS head, coalesce(t.n, 0) AS tail
FROM accepted a
JOIN agreement_groups s ON s.article_id = a.article_id AND s.layer = a.layer
LEFT JOIN numbered h ON h.id = a.head AND h.article_id = a.article_id
LEFT JOIN numbered t ON t.id = a.tail AND t.article_id = a.article_id
WHERE """ + _HUMAN + """
"""

# Per (layer, label) of the span and relation layers, pooled over every annotator pair (a < b) of
# every group: the totals of a and of b. An annotator ranked r of m in their group is a in the m - r
# pairs with someone after them, b in the r - 1 with someone before: no pairs to join.
_TOTALS = """
WITH people AS (
    SELECT g, annotator, row_number() OVER (PARTITION BY g ORDER BY annotator) AS r, count(*) OVER (PARTITION BY g) AS m
    FROM (SELECT DISTINCT g, annotator FROM agreement_shared WHERE {layers}))
SELECT x.l, x.label, sum(p.m - p.r) AS total_a, sum(p.r - 1) AS total_b
FROM agreement_shared x JOIN people p ON p.g = x.g AND p.annotator = x.annotator WHERE {layers} GROUP BY ALL
"""

# Exact matches (the same label, field, offsets and ends), counted as multisets: per pair and key,
# the smaller of the two counts — the join of the two sides' copies of a key has n_a × n_b rows,
# whose distinct row ids on each side are n_a and n_b. Only keys held twice or more in a group can
# match: a hash of group and key finds them in one narrow grouping (a collision only lets a key
# through to the join on the whole key), so the join's sides stay small. Row ids: the table's own
# (`rowid`, of the table, not of its view), where a numbering column spilled at 100k articles.
_EXACT = """
WITH hashed AS NOT MATERIALIZED (
    SELECT rowid AS i, g, l, annotator, label, field, s, e, head, tail, hash(g, label, field, s, e, head, tail) AS h
    FROM scratch.agreement_shared WHERE {layers}),
items AS (SELECT x.* FROM hashed x SEMI JOIN (SELECT h FROM hashed GROUP BY h HAVING count(*) > 1) c ON c.h = x.h)
SELECT l, label, sum(n) FROM (
    SELECT x.l, x.label, least(count(DISTINCT x.i), count(DISTINCT y.i)) AS n FROM items x
    JOIN items y ON y.g = x.g AND y.label = x.label AND y.field = x.field AND y.s = x.s AND y.e = x.e
        AND y.head = x.head AND y.tail = x.tail AND x.annotator < y.annotator
    GROUP BY x.g, x.annotator, y.annotator, x.l, x.label, x.field, x.s, x.e, x.head, x.tail)
GROUP BY ALL
"""

# Overlap (span layers): per span, the annotators of its group with a same-label span in the same
# field overlapping it — those after its own annotator count for side a of their pair, those before
# for side b. The join stays inside one group, label and field; row ids tell apart two annotations
# with the same key (each counts).
_OVERLAP = """
WITH spans AS (
    SELECT rowid AS i, g, l, annotator, label, field, s, e FROM scratch.agreement_shared
    WHERE {layers} AND s <> -1),
hits AS (
    SELECT DISTINCT x.i, y.annotator, x.l, x.label, x.annotator < y.annotator AS before FROM spans x
    JOIN spans y ON y.g = x.g AND y.label = x.label AND y.field = x.field
    WHERE y.annotator <> x.annotator AND y.s < x.e AND y.e > x.s)
SELECT l, label, count(*) FILTER (WHERE before) AS a, count(*) FILTER (WHERE NOT before) AS b FROM hits GROUP BY ALL
"""

# Per layer: the human annotators involved and the articles they share.
_PEOPLE = """
SELECT l, p.annotators, g.articles
FROM (SELECT l, list(DISTINCT annotator) AS annotators FROM agreement_shared GROUP BY l) p
JOIN (SELECT l, count(*) AS articles FROM agreement_groups GROUP BY l) g USING (l)
"""

# Document layers. Two annotators in all: kappa's (first's label, second's label) pairs, counted. In
# a multi layer, per label, whether each of them chose it (the articles neither did are the rest).
_KAPPA_PAIRS = """
SELECT x.label, y.label, count(*) FROM agreement_shared x
JOIN agreement_shared y ON y.g = x.g AND x.annotator < y.annotator WHERE x.l = {layer} GROUP BY ALL
"""
_KAPPA_MULTI = """
WITH mine AS (SELECT g, annotator, label FROM agreement_shared WHERE l = {layer}),
first AS (SELECT min(annotator) AS name FROM mine)
SELECT label, chose_first, chose_second, count(*) FROM (
    SELECT g, label, bool_or(annotator = f.name) AS chose_first, bool_or(annotator <> f.name) AS chose_second
    FROM mine, first f GROUP BY g, label)
GROUP BY ALL
"""
# More annotators: alpha's units, one per shared article (numbered in article order, the order the
# careful spelling reads them in, once every partition's are together: `_units`): per label, how
# many annotators chose it, and how many annotated it.
_ALPHA_UNITS = """
WITH mine AS (SELECT g, l, annotator, label FROM agreement_shared WHERE {layers}),
sizes AS (SELECT g, count(DISTINCT annotator) AS m FROM mine GROUP BY g)
SELECT x.l, s.article_id, x.label, count(DISTINCT x.annotator) AS chose, any_value(z.m) AS m
FROM mine x JOIN sizes z ON z.g = x.g JOIN agreement_groups s ON s.g = x.g
GROUP BY x.l, s.article_id, x.label
"""
UNIT_COLUMNS = pa.schema([("l", pa.int32()), ("article_id", pa.string()), ("label", pa.string()),
                           ("chose", pa.int64()), ("m", pa.int64())])


@dataclass
class AgreementCounts:
    """The set-based spelling's sums over the articles measured, per layer (by number, its place in the
    manifest from 1): what a partition of the corpus sends back, added up by the driver. Human
    annotators in the layer's shared groups and how many articles; pooled F1 counts per (layer,
    measure, label); for document layers, kappa's label pairs and, for multi layers, who chose each
    label, each group's annotators taken in name order (what kappa reads when two people annotated
    the layer in all: then every group has both, in the same order everywhere)."""

    people: dict[int, set[str]] = dataclasses.field(default_factory=dict)
    articles: Counter = dataclasses.field(default_factory=Counter)
    pooled: dict[tuple[int, str, str], list[int]] = dataclasses.field(default_factory=dict)
    pairs: dict[int, Counter] = dataclasses.field(default_factory=dict)
    chosen: dict[int, Counter] = dataclasses.field(default_factory=dict)

    def add(self, other: AgreementCounts) -> None:
        for number, names in other.people.items():
            self.people.setdefault(number, set()).update(names)
        self.articles.update(other.articles)
        for key, counts in other.pooled.items():
            mine = self.pooled.setdefault(key, [0, 0, 0, 0])
            for i, count in enumerate(counts):
                mine[i] += count
        for tables, theirs in ((self.pairs, other.pairs), (self.chosen, other.chosen)):
            for number, counter in theirs.items():
                tables.setdefault(number, Counter()).update(counter)

    def needing_alpha(self, layers: dict[str, Layer]) -> frozenset[int]:
        """The document layers measured by alpha: more than two annotators in all."""
        return frozenset(number for number, layer in enumerate(layers.values(), 1)
                         if layer.kind == "document" and len(self.people.get(number, ())) > 2)


def _items(store: StagingStore, where: str, order: str = "layer, article_id, annotator, k, sub") -> Iterator[tuple]:
    """(layer, article, annotator, label, span, head span, tail span) of the agreement items, in order."""
    query = f"""SELECT layer, article_id, annotator, label, field, start, "end", head_field, head_start, head_end,
                       tail_field, tail_start, tail_end FROM agreement_items WHERE {where} ORDER BY {order}"""
    for batch in store.reader(query):
        columns = [c.to_pylist() for c in batch.columns]
        for layer, article, annotator, label, field, start, end, hf, hs, he, tf, ts, te in zip(*columns, strict=True):
            span = (field, start, end) if start is not None else None
            head = (hf, hs, he) if hs is not None else None
            tail = (tf, ts, te) if ts is not None else None
            yield layer, article, annotator, label, span, head, tail


def _quote(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _in(names: Iterable[str]) -> str:
    quoted = ", ".join(_quote(name) for name in names)
    return f"layer IN ({quoted})" if quoted else "false"


# An upper bound on "some article has two people in a layer", from the staged columns alone: most
# corpora have one annotator (or none) per article, and then the careful spelling's item query need
# not run at all. Accepted lines that did not pass the fast checks carry no staged annotator: then
# assume they might.
_MAY_SHARE = """
SELECT EXISTS (SELECT 1 FROM acc_ann c ANTI JOIN (SELECT k, sub FROM annk WHERE ok) a ON c.k = a.k AND c.sub = a.sub)
    OR EXISTS (SELECT 1 FROM annk WHERE ok AND annotator <> '' AND NOT starts_with(annotator, 'model:')
               GROUP BY article_id, layer HAVING count(DISTINCT annotator) >= 2)
"""


def measure_agreement(store: StagingStore, layers: dict[str, Layer], articles: str = "accepted_article_ids",
                      careful: bool = False) -> list[AgreementRow]:
    """Agreement rows of the accepted annotations of the articles in table or view `articles` (column `id`).

    Runs after validation (`accepted_annotations` exists). Counted in the store (set-based), or with
    `careful` one article at a time in Python instead (the reference the set-based counts must
    equal: tests/test_agreement.py).
    """
    if careful:
        if not store.scalar(_MAY_SHARE):
            return []
        store.scratch_table("agreement_items", _ITEMS.format(articles=articles))
        rows = agreement_rows(layers, _items(store, _in(layers)))
        store.drop_scratch("agreement_items")
    else:
        counts, units = agreement_inputs(store, layers, articles)
        rows = agreement_figures(layers, counts, units)
    order = {name: i for i, name in enumerate(layers)}
    return sorted(rows, key=lambda r: order[r.layer])  # stable: each layer's rows keep their order


def _numbered(layers: Iterable[int]) -> str:
    """The rows of these layers, by number (`l`, their place in the manifest from 1)."""
    numbers = ", ".join(str(number) for number in layers)
    return f"l IN ({numbers})" if numbers else "false"


def agreement_inputs(store: Queries, layers: dict[str, Layer], articles: str = "accepted_article_ids",
                     alpha: frozenset[int] | None = None) -> tuple[AgreementCounts, pa.Table]:
    """The set-based counts of the accepted annotations of the articles in `articles`, and alpha's
    units of the document layers numbered in `alpha` (None: those with more than two annotators
    here — right when `store` holds the whole corpus; a partition is told, by the driver)."""
    # No `_MAY_SHARE` first: the groups take as long to find as that bound, and are exact.
    store.scratch_table("agreement_groups", _GROUPS.format(
        articles=articles, layers=", ".join(_quote(name) for name in layers)))
    counts = AgreementCounts()
    if not store.scalar("SELECT count(*) FROM agreement_groups"):
        store.drop_scratch("agreement_groups")
        return counts, UNIT_COLUMNS.empty_table()
    store.scratch_table("agreement_shared", _SHARED)
    for number, names, shared in store.rows(_PEOPLE):
        counts.people[number] = set(names)
        counts.articles[number] = shared
    by_number = dict(enumerate(layers.values(), 1))
    _pooled_counts(store, {n: layer for n, layer in by_number.items() if layer.kind != "document"}, counts)
    for number, layer in by_number.items():
        if layer.kind != "document" or number not in counts.people:
            continue
        if layer.multi:
            counts.chosen[number] = Counter({(label, first, second): n for label, first, second, n in
                                             store.rows(_KAPPA_MULTI.format(layer=number))})
        else:
            counts.pairs[number] = Counter({(x, y): n for x, y, n in store.rows(_KAPPA_PAIRS.format(layer=number))})
    numbers = counts.needing_alpha(layers) if alpha is None else alpha
    found = [batch.cast(UNIT_COLUMNS) for batch in store.reader(_ALPHA_UNITS.format(layers=_numbered(numbers)))
             ] if numbers else []
    units = pa.Table.from_batches(found, UNIT_COLUMNS)
    store.drop_scratch("agreement_shared")
    store.drop_scratch("agreement_groups")
    return counts, units


def agreement_figures(layers: dict[str, Layer], counts: AgreementCounts, units: pa.Table) -> list[AgreementRow]:
    """The rows of every layer with shared articles, from the counts (of one store, or added up over
    partitions) and alpha's units (every partition's, in any order)."""
    rows: list[AgreementRow] = []
    for number, layer in enumerate(layers.values(), 1):
        if number not in counts.people:
            continue
        annotators, articles = len(counts.people[number]), counts.articles[number]
        if layer.kind != "document":
            pooled = _Pooled()
            pooled.counts = {(measure, label): list(c) for (n, measure, label), c in counts.pooled.items()
                             if n == number}
            rows += _f1_rows(layer, pooled, annotators, articles)
        else:
            rows += _document_rows(layer, counts, _units(units, number), number, annotators, articles)
    return rows


def _units(units: pa.Table, number: int) -> pa.Table:
    """One layer's alpha units, each numbered (`unit`) by its article's place in id order."""
    mine = units.filter(pc.equal(units.column("l"), number))
    if not mine.num_rows:
        return mine.append_column("unit", pa.array([], pa.int64()))
    mine = mine.take(pc.sort_indices(mine, [("article_id", "ascending")]))
    ids = mine.column("article_id").combine_chunks()
    changed = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1)).to_numpy(zero_copy_only=False)
    return mine.append_column("unit", pa.array(np.concatenate([[0], np.cumsum(changed)]).astype(np.int64)))


def _pooled_counts(store: Queries, layers: dict[int, Layer], counts: AgreementCounts) -> None:
    """Add the span and relation layers' pooled counts (`layers` by number) to `counts`."""
    if not layers:
        return
    where = _numbered(layers)
    exact = {(number, label): n for number, label, n in store.rows(_EXACT.format(layers=where))}
    overlap = {(number, label): (a, b) for number, label, a, b in store.rows(
        _OVERLAP.format(layers=_numbered(n for n, layer in layers.items() if layer.kind == "span")))}
    for number, label, total_a, total_b in store.rows(_TOTALS.format(layers=where)):
        matched = exact.get((number, label), 0)
        if layers[number].kind == "span":
            counts.pooled[(number, "f1-exact", label)] = [matched, total_a, matched, total_b]
            overlap_a, overlap_b = overlap.get((number, label), (0, 0))
            counts.pooled[(number, "f1-overlap", label)] = [overlap_a, total_a, overlap_b, total_b]
        else:
            counts.pooled[(number, "f1-relation", label)] = [matched, total_a, matched, total_b]


def _document_rows(layer: Layer, counts: AgreementCounts, units: pa.Table, number: int, annotators: int,
                   articles: int) -> list[AgreementRow]:
    """A document layer's rows from counts: kappa (two annotators in all) or alpha (more), for the layer
    or, when `multi`, per label as yes/no — as `_document_measures` measures them article by article."""
    labels: list[str | None] = list(layer.labels) if layer.multi else [None]
    if annotators == 2:
        if layer.multi:
            chosen = counts.chosen.get(number, Counter())
            measured = [("cohen-kappa", label, cohen_kappa_of_counts(_yes_no_pairs(chosen, label, articles)))
                        for label in labels]
        else:
            measured = [("cohen-kappa", None, cohen_kappa_of_counts(counts.pairs.get(number, Counter())))]
    else:
        # Never empty: a layer with annotators has a shared article, whose annotators are its units' values.
        measured = [("krippendorff-alpha", label, krippendorff_alpha_of_counts(_alpha_counts(units, label, articles)))
                    for label in labels]
    return [AgreementRow(layer.name, measure, label, value, annotators, articles) for measure, label, value in measured]


def _yes_no_pairs(chosen: dict[tuple[str, bool, bool], int], label: str | None, articles: int) -> Counter:
    """Kappa's pairs for one label of a multi layer: each annotator's yes or no, counted over the articles."""
    pairs = Counter({("yes" if first else "no", "yes" if second else "no"): n
                     for (name, first, second), n in chosen.items() if name == label})
    pairs[("no", "no")] += articles - sum(pairs.values())  # articles where neither chose it
    return +pairs  # a pair no article has is no item (Counter's + drops zero counts)


def _alpha_counts(units: pa.Table, label: str | None, articles: int) -> np.ndarray:
    """Alpha's units × values matrix, values in sorted order: the labels chosen, or (multi, one label)
    how many said no and yes."""
    unit, names, chose = units.column("unit").to_numpy(), units.column("label"), units.column("chose").to_numpy()
    if label is None:
        values = sorted(names.unique().to_pylist())
        counts = np.zeros((articles, len(values)))
        counts[unit, pc.index_in(names, pa.array(values, names.type)).to_numpy()] = chose
        return counts
    size, yes = np.zeros(articles), np.zeros(articles)
    size[unit] = units.column("m").to_numpy()
    mine = pc.equal(names, label).to_numpy(zero_copy_only=False)
    yes[unit[mine]] = chose[mine]
    return np.column_stack([size - yes, yes])  # "no" sorts before "yes"
