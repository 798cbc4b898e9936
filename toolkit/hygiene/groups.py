"""Leakage-free splits: related articles form one group, and a group goes to one split.

Articles are linked by what they share — a text cluster (exact or near copies: always, so a
duplicate never straddles splits), and whatever `splits.group_by` names (the same URL, the same
title within a source, the same value at a field path such as `meta.story_id`). The groups are
connected components computed in the store (`components.py`), so no Python dict over the corpus.

Each group then goes to one split: by a stable hash of its first article's id (`by: hash`, so an
article alone keeps the split it always had), or by its first publication date against the
cut-offs (`by: published_at`; undated groups go to train). On a small corpus a hash can leave a
declared split empty: a group then moves there when there are at least as many groups as splits;
otherwise the plan says which split is missing and why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from toolkit.hygiene.components import connected_components
from toolkit.hygiene.duplicates import KINDS
from toolkit.manifest import Splits
from toolkit.splits import SPLIT_ORDER, assign_split
from toolkit.store import StagingStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# splits.group_by word → the links it adds: (read-order key, shared key) over accepted articles.
_KEYWORD_LINKS = {
    "duplicates": "SELECT t.k, concat('d', t.root) AS key FROM text_cluster t SEMI JOIN acc USING (k)",
    # Articles sharing a URL, or a title within a source, are the URL and title clusters (keys only
    # one article has link nothing).
    "url": "SELECT d.k, concat('u', d.cluster) AS key FROM dup_members d SEMI JOIN acc USING (k) WHERE d.kind = 'url'",
    "title": "SELECT d.k, concat('t', d.cluster) AS key FROM dup_members d SEMI JOIN acc USING (k) "
             "WHERE d.kind = 'title'",
}
_FIELD_LINKS = "SELECT g.k, concat('f', g.key) AS key FROM gkey g SEMI JOIN acc USING (k)"


@dataclass
class SplitPlan:
    """How the build's articles were split: for the card and the command's output."""

    strategy: str
    group_by: tuple[str, ...]
    groups: int = 0  # groups of two or more articles
    grouped_articles: int = 0
    across: int = 0  # groups found in more than one split: 0 unless something is badly wrong
    removed: int = 0  # copies of a text left out under duplicates: drop or reject
    moved: list[str] = field(default_factory=list)  # splits that got a group moved in so as not to be empty
    missing: dict[str, str] = field(default_factory=dict)  # declared split → why it has no article
    clusters: dict[str, tuple[int, int]] = field(default_factory=dict)  # duplicate kind → (clusters, across splits)


def plan_splits(store: StagingStore, splits: Splits) -> SplitPlan:
    """Fill `article_split` (k, split) for every accepted article and say how it was done."""
    group_by = ("duplicates", *(key for key in splits.group_by if key != "duplicates"))
    store.execute("CREATE OR REPLACE TABLE acc AS SELECT k, id FROM accepted_articles")
    links = [_KEYWORD_LINKS[key] for key in group_by if key in _KEYWORD_LINKS]
    if splits.field_paths():
        links.append(_FIELD_LINKS)
    connected_components(store, " UNION ALL ".join(links), "grp")
    store.execute("""
        CREATE OR REPLACE TABLE membership AS
        SELECT a.k, coalesce(g.root, a.k) AS root FROM acc a LEFT JOIN grp g USING (k)""")
    store.execute("CREATE OR REPLACE TABLE group_split (root BIGINT, split VARCHAR)")
    plan = SplitPlan(_strategy(splits), group_by)
    if splits.by == "published_at":
        _split_by_date(store, splits)
    else:
        _split_by_hash(store, splits, plan)
    store.execute("CREATE OR REPLACE TABLE article_split AS "
                  "SELECT m.k, s.split FROM membership m JOIN group_split s USING (root)")
    _explain(store, splits, plan)
    return plan


def _strategy(splits: Splits) -> str:
    if splits.by == "published_at":
        cuts = ", ".join(f"{name} from {moment.isoformat()}" for name, moment in splits.cutoffs)
        return f"by publication date: train before the first cut-off, {cuts} (undated articles go to train)"
    ratios = ", ".join(f"{k} {v:g}" for k, v in splits.ratios().items())
    return f"by a stable hash of each group's first article id and the seed {splits.seed} (ratios {ratios})"


def _split_by_hash(store: StagingStore, splits: Splits, plan: SplitPlan) -> None:
    for batch in store.reader("""
            SELECT m.root, r.id AS key FROM (SELECT root FROM membership GROUP BY root) m
            JOIN acc r ON r.k = m.root"""):
        names = [assign_split(key, splits) for key in batch.column("key").to_pylist()]
        store.insert("group_split", pa.table({"root": batch.column("root"), "split": pa.array(names, pa.string())}))
    _fill_empty_splits(store, splits, plan)


def _fill_empty_splits(store: StagingStore, splits: Splits, plan: SplitPlan) -> None:
    """Move a group into each declared split the hash left empty, from a split holding several; with
    fewer groups than splits, the last splits stay empty (`_explain` says why)."""
    declared = splits.declared()
    counts = Counter(dict(store.rows("SELECT split, count(*) FROM group_split GROUP BY split")))
    for name in declared:
        if counts[name]:
            continue
        donor = max(declared, key=lambda s: (counts[s], -declared.index(s)))
        if counts[donor] < 2:
            break
        # The donor's last group read: deterministic, and the oldest articles keep their split.
        root = store.scalar(f"SELECT max(root) FROM group_split WHERE split = '{donor}'")
        store.execute(f"UPDATE group_split SET split = '{name}' WHERE root = {root}")
        counts[donor] -= 1
        counts[name] += 1
        plan.moved.append(name)


def _split_by_date(store: StagingStore, splits: Splits) -> None:
    cases = " ".join(f"WHEN g.first >= {_micros(moment)} THEN '{name}'" for name, moment in reversed(splits.cutoffs))
    store.execute(f"""
        INSERT INTO group_split
        SELECT g.root, CASE {cases} ELSE 'train' END FROM (
            SELECT m.root, min(c.published) AS first FROM membership m LEFT JOIN hyg c USING (k) GROUP BY m.root) g""")


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _explain(store: StagingStore, splits: Splits, plan: SplitPlan) -> None:
    """Group and cluster counts, groups across splits (checked on the result), and empty splits with why."""
    plan.groups, plan.grouped_articles, plan.across = store.rows("""
        SELECT count(*), coalesce(sum(n), 0), count(*) FILTER (WHERE splits > 1) FROM (
            SELECT count(*) AS n, count(DISTINCT s.split) AS splits
            FROM membership m JOIN article_split s USING (k) GROUP BY m.root HAVING n > 1)""")[0]
    # Duplicate clusters of every kind as they stand in the build (copies left out do not count).
    found = {kind: (clusters, across) for kind, clusters, across in store.rows("""
        SELECT kind, count(*), count(*) FILTER (WHERE splits > 1) FROM (
            SELECT d.kind, count(DISTINCT s.split) AS splits
            FROM dup_members d JOIN article_split s USING (k) GROUP BY d.kind, d.cluster HAVING count(*) > 1)
        GROUP BY kind""")}
    plan.clusters = {kind: found.get(kind, (0, 0)) for kind in KINDS}
    plan.removed = store.scalar("SELECT count(*) FROM dup_ids c SEMI JOIN policy_members p ON p.id = c.id "
                                "ANTI JOIN acc a ON a.k = c.k")
    present = {name for (name,) in store.rows("SELECT DISTINCT split FROM article_split")}
    groups = store.scalar("SELECT count(*) FROM group_split")
    for name in (s for s in SPLIT_ORDER if s in splits.declared() and s not in present):
        plan.missing[name] = _why_missing(name, splits, groups)


def _why_missing(name: str, splits: Splits, groups: int) -> str:
    if splits.by == "published_at":
        bounds = dict(splits.cutoffs)
        names = ["train", *bounds]
        after = names[names.index(name) + 1] if names.index(name) + 1 < len(names) else None
        since = f"on or after {bounds[name].isoformat()}" if name in bounds else "before the first cut-off"
        until = f" and before {bounds[after].isoformat()}" if after and name in bounds else ""
        return f"no article was published {since}{until}"
    return (f"only {groups:,} group(s) of articles for {len(splits.declared())} splits: "
            "articles that share a key stay together, so a split can only get a whole group")
