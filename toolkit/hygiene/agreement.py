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
article's annotations at a time, `agreement_rows`) and the set-based one (`_POOLED_COUNTS`: the
same pooled counts as joins and group-bys in the staging store, which spill to disk under its
memory limit). Span and relation layers use the set-based counts; the careful spelling is their
reference (tests/test_agreement.py compares both on generated corpora). Document layers stream one
row per annotator and shared article: memory holds one article at a time, plus, for kappa and
alpha, each shared article's labels (what the `krippendorff` package needs).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations, groupby
from typing import Any

import numpy as np

from toolkit.manifest import Layer
from toolkit.store import StagingStore

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
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(x == y for x, y in pairs) / n
    first, second = Counter(x for x, _ in pairs), Counter(y for _, y in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def krippendorff_alpha(units: Sequence[Counter]) -> float | None:
    """Krippendorff's alpha (nominal) of units given as label → how many annotators chose it.

    Units with fewer than two values carry no pairs and are left out. None when alpha is undefined:
    a single label in all the data (no disagreement is possible, nor expected).
    """
    import krippendorff

    units = [u for u in units if sum(u.values()) >= 2]  # a unit with one value carries no pairs
    labels = sorted({label for unit in units for label in unit})
    if len(labels) < 2:
        return None
    counts = np.array([[unit.get(label, 0) for label in labels] for unit in units], dtype=float)
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

# The items agreement looks at, as a table: human annotations of the accepted articles in {articles},
# on articles two or more human annotators annotated in the layer, with the offsets of a relation's
# ends. The staged columns carry what is needed, so no record is parsed again; only the rare records
# the resolver accepted although their line did not pass the fast checks (no staged columns) are
# read from their JSON.
_ITEMS = """
WITH accepted AS (
    SELECT article_id, k, sub, id, layer, annotator, label, field, start, "end", head, tail FROM clean_annk
    UNION ALL
    SELECT a.article_id, a.k, a.sub, a.id, a.layer, a.annotator, a.label, a.field, a.start, a."end", a.head, a.tail
    FROM annk a SEMI JOIN acc_ann c ON c.k = a.k AND c.sub = a.sub WHERE a.ok
    UNION ALL
    SELECT article_id, k, sub, v[1], v[2], v[3], v[4], v[5], CAST(v[6] AS BIGINT), CAST(v[7] AS BIGINT), v[8], v[9]
    FROM (SELECT c.article_id, c.k, c.sub, json_extract_string(decode(c.data),
                 ['$.id', '$.layer', '$.annotator', '$.label', '$.field', '$.start', '$.end', '$.head', '$.tail']) AS v
          FROM acc_ann c ANTI JOIN (SELECT k, sub FROM annk WHERE ok) a ON c.k = a.k AND c.sub = a.sub)),
mine_articles AS (SELECT a.* FROM accepted a SEMI JOIN {articles} s ON s.id = a.article_id),
human AS (
    SELECT article_id, k, sub, layer, annotator, label, coalesce(field, 'text') AS field, start, "end", head, tail
    FROM mine_articles WHERE annotator <> '' AND NOT starts_with(annotator, 'model:')),
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

# The set-based spelling of `_LayerTally.add_article` for span and relation layers: per (layer, label)
# the match counts pooled over every annotator pair (a < b) of every shared article — matched and
# total of a, matched and total of b. An item's key: label, field and offsets of the span, or of
# the relation's two ends (-1 for none, so keys compare with =). Exact matches count as multisets.
# One side's overlap count: spans of annotator p.{mine} with a same-label span of p.{theirs} in the
# same field overlapping (both sides are this query with the roles swapped).
_OVERLAP_SIDE = """overlap_{mine} AS (
    SELECT p.layer, x.label, count(*) AS n FROM pairs p
    JOIN agreement_items x ON x.layer = p.layer AND x.article_id = p.article_id AND x.annotator = p.{mine}
    WHERE x.start IS NOT NULL AND EXISTS (
        SELECT 1 FROM agreement_items y WHERE y.layer = x.layer AND y.article_id = x.article_id
        AND y.annotator = p.{theirs} AND y.label = x.label AND y.field = x.field
        AND y.start < x."end" AND y."end" > x.start)
    GROUP BY ALL)"""

_POOLED_COUNTS = """
WITH people AS (SELECT DISTINCT layer, article_id, annotator FROM agreement_items WHERE {layers}),
pairs AS (
    SELECT x.layer, x.article_id, x.annotator AS a, y.annotator AS b
    FROM people x JOIN people y ON y.layer = x.layer AND y.article_id = x.article_id AND x.annotator < y.annotator),
keyed AS (
    SELECT layer, article_id, annotator, label, field, coalesce(start, -1) AS s, coalesce("end", -1) AS e,
           head_field, coalesce(head_start, -1) AS hs, coalesce(head_end, -1) AS he,
           tail_field, coalesce(tail_start, -1) AS ts, coalesce(tail_end, -1) AS te, count(*) AS n
    FROM agreement_items GROUP BY ALL),
totals AS (SELECT layer, article_id, annotator, label, sum(n) AS n FROM keyed GROUP BY ALL),
total_a AS (
    SELECT p.layer, t.label, sum(t.n) AS n FROM pairs p
    JOIN totals t ON t.layer = p.layer AND t.article_id = p.article_id AND t.annotator = p.a GROUP BY ALL),
total_b AS (
    SELECT p.layer, t.label, sum(t.n) AS n FROM pairs p
    JOIN totals t ON t.layer = p.layer AND t.article_id = p.article_id AND t.annotator = p.b GROUP BY ALL),
exact AS (
    SELECT p.layer, x.label, sum(least(x.n, y.n)) AS n FROM pairs p
    JOIN keyed x ON x.layer = p.layer AND x.article_id = p.article_id AND x.annotator = p.a
    JOIN keyed y ON y.layer = p.layer AND y.article_id = p.article_id AND y.annotator = p.b
        AND y.label = x.label AND y.field = x.field AND y.s = x.s AND y.e = x.e AND y.head_field = x.head_field
        AND y.hs = x.hs AND y.he = x.he AND y.tail_field = x.tail_field AND y.ts = x.ts AND y.te = x.te
    GROUP BY ALL),
-- Overlap (span layers): spans of one side with a same-label span of the other in the same field overlapping.
{overlap_a},
{overlap_b},
labels AS (SELECT layer, label FROM total_a UNION SELECT layer, label FROM total_b)
SELECT l.layer, l.label, coalesce(e.n, 0), coalesce(ta.n, 0), coalesce(tb.n, 0), coalesce(oa.n, 0), coalesce(ob.n, 0)
FROM labels l
LEFT JOIN exact e ON e.layer = l.layer AND e.label = l.label
LEFT JOIN total_a ta ON ta.layer = l.layer AND ta.label = l.label
LEFT JOIN total_b tb ON tb.layer = l.layer AND tb.label = l.label
LEFT JOIN overlap_a oa ON oa.layer = l.layer AND oa.label = l.label
LEFT JOIN overlap_b ob ON ob.layer = l.layer AND ob.label = l.label
"""


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


def _in(names: Iterable[str]) -> str:
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in names)
    return f"layer IN ({quoted})" if quoted else "false"


# An upper bound on "some article has two people in a layer", from the staged columns alone: most
# corpora have one annotator (or none) per article, and then the item queries need not run at all.
# Accepted lines that did not pass the fast checks carry no staged annotator: then assume they might.
_MAY_SHARE = """
SELECT EXISTS (SELECT 1 FROM acc_ann c ANTI JOIN (SELECT k, sub FROM annk WHERE ok) a ON c.k = a.k AND c.sub = a.sub)
    OR EXISTS (SELECT 1 FROM annk WHERE ok AND annotator <> '' AND NOT starts_with(annotator, 'model:')
               GROUP BY article_id, layer HAVING count(DISTINCT annotator) >= 2)
"""


def measure_agreement(store: StagingStore, layers: dict[str, Layer], articles: str = "accepted_article_ids",
                      careful: bool = False) -> list[AgreementRow]:
    """Agreement rows of the accepted annotations of the articles in table or view `articles` (column `id`).

    Runs after validation (`accepted_annotations` exists). Span and relation layers are counted in
    the store (set-based); `careful` counts them one article at a time in Python instead (the
    reference the set-based counts must equal: tests/test_agreement.py). Document layers are
    measured from one row per annotator and shared article.
    """
    if not store.scalar(_MAY_SHARE):
        return []
    store.scratch_table("agreement_items", _ITEMS.format(articles=articles))
    documents = [n for n, layer in layers.items() if layer.kind == "document"]
    rows = agreement_rows(layers, _items(store, _in(documents if not careful else layers)))
    if not careful:
        rows += _pooled_rows(store, {n: layer for n, layer in layers.items() if layer.kind != "document"})
    store.drop_scratch("agreement_items")
    order = {name: i for i, name in enumerate(layers)}
    return sorted(rows, key=lambda r: order[r.layer])  # stable: each layer's rows keep their order


def _pooled_rows(store: StagingStore, layers: dict[str, Layer]) -> list[AgreementRow]:
    """Span and relation rows from the set-based pooled counts."""
    if not layers:
        return []
    people = {layer: (annotators, articles) for layer, annotators, articles in store.rows(
        "SELECT layer, count(DISTINCT annotator), count(DISTINCT article_id) FROM agreement_items GROUP BY layer")}
    pooled: dict[str, _Pooled] = {}
    for layer, label, exact, total_a, total_b, overlap_a, overlap_b in store.rows(
            _POOLED_COUNTS.format(layers=_in(layers), overlap_a=_OVERLAP_SIDE.format(mine="a", theirs="b"),
                                overlap_b=_OVERLAP_SIDE.format(mine="b", theirs="a"))):
        found = pooled.setdefault(layer, _Pooled())
        kind = layers[layer].kind
        found.counts[("f1-exact" if kind == "span" else "f1-relation", label)] = [exact, total_a, exact, total_b]
        if kind == "span":
            found.counts[("f1-overlap", label)] = [overlap_a, total_a, overlap_b, total_b]
    return [row for name, found in pooled.items() for row in _f1_rows(layers[name], found, *people[name])]
