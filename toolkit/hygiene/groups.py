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

Only the articles that share a key with another are grouped on the driver (the copies, the shared
URLs and field values: none in a corpus without them, however large). Every other article is a
group of its own, whose split is a function of its id or its date: a task per partition of the
staged rows (`partition_plan`, on the cluster's nodes with Ray) decides those and writes the
export's plan — every accepted article's key, id and split — where the gathering reads it. Only
counts come back.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from toolkit.engines import Engine, InProcess
from toolkit.hygiene.components import connected_components
from toolkit.hygiene.duplicates import KINDS
from toolkit.manifest import Splits
from toolkit.splits import SPLIT_ORDER, assign_split
from toolkit.store import (
    STAGE_ROWS,
    STAGED_COLUMNS,
    PartitionJob,
    StagingStore,
    partition_job,
    staged_rows,
    write_staged,
)
from toolkit.validation.cross import partition_accepted_ids

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# splits.group_by word → the links it adds: (read-order key, shared key), among articles that passed
# their own checks (only the accepted ones are then linked: `_groups`).
_KEYWORD_LINKS = {
    "duplicates": "SELECT k, concat('d', root) AS key FROM text_cluster",
    # Articles sharing a URL, or a title within a source, are the URL and title clusters (keys only
    # one article has link nothing).
    "url": "SELECT k, concat('u', cluster) AS key FROM dup_members WHERE kind = 'url'",
    "title": "SELECT k, concat('t', cluster) AS key FROM dup_members WHERE kind = 'title'",
}
_FIELD_LINKS = "SELECT k, concat('f', key) AS key FROM glink"


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
    articles: dict[str, int] = field(default_factory=dict)  # split → its articles in the build (splits with any)


@dataclass(frozen=True)
class PlanJob:
    """What every partition's part of the export plan needs: where its rows are, how splits are
    decided for an article alone, and the groups moved to fill an empty split (root → split)."""

    where: PartitionJob
    splits: Splits
    moved: dict[int, str] = field(default_factory=dict)


@dataclass
class PlanCounts:
    """One partition's plan, counted: articles per split, articles alone per split, and the last
    read (largest keys) of those, which `_fill_empty_splits` may move."""

    articles: Counter = field(default_factory=Counter)
    alone: Counter = field(default_factory=Counter)
    last: dict[str, list[int]] = field(default_factory=dict)

    def add(self, other: PlanCounts, keep: int) -> None:
        self.articles.update(other.articles)
        self.alone.update(other.alone)
        for split, keys in other.last.items():
            _keep_last(self.last, split, keys, keep)


def _keep_last(last: dict[str, list[int]], split: str, keys: list[int], keep: int) -> None:
    """Merge `keys` into `last[split]`, the `keep` largest read-order keys of that split, largest first."""
    last[split] = heapq.nlargest(keep, [*last.get(split, []), *keys])


def plan_splits(store: StagingStore, splits: Splits, engine: Engine) -> SplitPlan:
    """Decide every accepted article's split, write them as the staged `plan` (k, id, split), cut
    into the store's partitions, and say how it was done."""
    group_by = ("duplicates", *(key for key in splits.group_by if key != "duplicates"))
    plan = SplitPlan(_strategy(splits), group_by)
    job = PlanJob(partition_job(store), splits)
    runner = engine if engine.shares_files else InProcess()
    with store.guarded():
        if splits.field_paths():
            for _ in runner.map(partition_shared_keys, job.where, range(store.partitions)):
                pass
        _groups(store, group_by, bool(splits.field_paths()))
        _group_splits(store, splits)
        counts = _plan_partitions(store, runner, job)
        if splits.by != "published_at":
            moved = _fill_empty_splits(store, splits, counts, plan)
            if moved:  # a tiny corpus (a split with no group): the partitions' plan again, with the moves
                counts = _plan_partitions(store, runner, replace(job, moved=moved))
    plan.articles = {name: counts.articles[name] for name in SPLIT_ORDER if counts.articles[name]}
    _explain(store, splits, plan, counts)
    return plan


def _strategy(splits: Splits) -> str:
    if splits.by == "published_at":
        cuts = ", ".join(f"{name} from {moment.isoformat()}" for name, moment in splits.cutoffs)
        return f"by publication date: train before the first cut-off, {cuts} (undated articles go to train)"
    ratios = ", ".join(f"{k} {v:g}" for k, v in splits.ratios().items())
    return f"by a stable hash of each group's first article id and the seed {splits.seed} (ratios {ratios})"


def partition_shared_keys(job: PartitionJob, partition: int) -> None:
    """Stage as `glink` the `splits.group_by` field values of one key partition that more than one
    article has (all of a value's rows are in this partition), with their articles."""
    with job.connect("glink", partition) as con:
        con.execute(f"CREATE VIEW gkey AS {staged_rows(job.spool, 'gkey', partition)}")
        job.stage(con, "SELECT DISTINCT k, key FROM gkey WHERE key IN "
                       "(SELECT key FROM gkey GROUP BY key HAVING count(DISTINCT k) > 1) ORDER BY k, key",
                  "glink", f"{partition:010d}")


def _groups(store: StagingStore, group_by: tuple[str, ...], fields: bool) -> None:
    """`grp` (k, id, root): the accepted articles of groups of two or more, each group labelled by
    its first article read. Over the links alone: their articles, then those accepted."""
    links = [_KEYWORD_LINKS[key] for key in group_by if key in _KEYWORD_LINKS]
    if fields:
        links.append(_FIELD_LINKS)
    store.scratch_table("links", f"SELECT DISTINCT k, key FROM ({' UNION ALL '.join(links)})")
    if not store.scalar("SELECT count(*) FROM links"):  # a corpus without copies or shared keys: no scan
        store.drop_scratch("links")
        store.scratch_table("grp", "SELECT NULL::BIGINT AS k, NULL::VARCHAR AS id, NULL::BIGINT AS root LIMIT 0")
        return
    # The linked articles that are accepted. When the links are few (the usual case) DuckDB hashes
    # them and scans the accepted ids; when most articles are linked it may hash the accepted ids
    # (it underestimates them ~10×, EXPLAIN on a 5k corpus with 3,426 links), as large as `grp` then.
    store.scratch_table("linked", "SELECT a.k, a.id FROM accepted_article_ids a "
                                  "SEMI JOIN (SELECT DISTINCT k FROM links) l USING (k)")
    connected_components(store, "SELECT l.k, l.key FROM links l SEMI JOIN linked a USING (k)", "components")
    store.scratch_table("grp", "SELECT c.k, a.id, c.root FROM components c JOIN linked a USING (k) "
                               "QUALIFY count(*) OVER (PARTITION BY c.root) > 1")
    for name in ("links", "linked"):
        store.drop_scratch(name)
    store.execute("DROP TABLE components")


def _group_splits(store: StagingStore, splits: Splits) -> None:
    """`group_split` (root, split) of the groups of two or more, and their articles staged as
    `grouped` (k, id, root, split), cut like the articles for the partitions' plan."""
    store.execute("CREATE OR REPLACE TABLE scratch.group_split (root BIGINT, split VARCHAR)")
    if splits.by == "published_at":
        store.execute(f"""
            INSERT INTO scratch.group_split
            SELECT g.root, {_date_split(splits, 'min(h.published)')} FROM grp g LEFT JOIN hyg h USING (k)
            GROUP BY g.root""")
    else:
        for batch in store.reader("SELECT root, id FROM grp WHERE k = root"):
            names = [assign_split(key, splits) for key in batch.column("id").to_pylist()]
            store.insert("scratch.group_split", pa.table({"root": batch.column("root"),
                                                         "split": pa.array(names, pa.string())}))
    store.execute("CREATE OR REPLACE VIEW group_split AS SELECT * FROM scratch.group_split")
    for batch in store.reader("SELECT g.k, g.id, g.root, s.split FROM grp g JOIN group_split s USING (root) "
                              "ORDER BY g.k"):
        store.add("grouped", batch)


def _date_split(splits: Splits, published: str) -> str:
    """SQL: the split of a publication time (µs since the epoch, UTC) against the cut-offs; null → train."""
    cases = " ".join(f"WHEN {published} >= {_micros(moment)} THEN '{name}'"
                     for name, moment in reversed(splits.cutoffs))
    return f"CASE {cases} ELSE 'train' END"


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _plan_partitions(store: StagingStore, runner: Engine, job: PlanJob) -> PlanCounts:
    counts = PlanCounts()
    for found in runner.map(partition_plan, job, range(store.partitions)):
        counts.add(found, len(job.splits.declared()))
    return counts


def partition_plan(job: PlanJob, partition: int) -> PlanCounts:
    """Write one partition's part of the export plan — each accepted article's key, id and split, in
    read order — as staged `plan` files, and count it. An article in a group takes its group's split
    (`grouped`), one alone its own: by the hash of its id, or by its date (read from `hyg`). Files
    are named by the partition: a task run again (a retry, the plan again after a move) replaces them."""
    where = job.where
    for old in (Path(where.spool) / "plan").glob(f"{partition:010d}-*.parquet"):
        old.unlink()
    by_date = job.splits.by == "published_at"
    counts = PlanCounts()
    keep = len(job.splits.declared())
    with where.connect("plan", partition) as con:
        partition_accepted_ids(con, where.spool, partition)
        for name in ("grouped", "hyg"):
            con.execute(f"CREATE VIEW {name} AS {staged_rows(where.spool, name, partition)}")
        alone = _date_split(job.splits, "h.published") if by_date else "NULL"
        query = f"""
            SELECT a.k, a.id, coalesce(g.root, a.k) AS root, g.split IS NULL AS alone,
                   coalesce(g.split, {alone}) AS split
            FROM accepted_article_ids a LEFT JOIN grouped g USING (k)
            {'LEFT JOIN hyg h USING (k)' if by_date else ''}
            ORDER BY a.k"""
        for number, batch in enumerate(con.sql(query).to_arrow_reader(STAGE_ROWS)):
            names = batch.column("split").to_pylist()
            if not by_date:
                names = [name if name is not None else assign_split(article, job.splits)
                         for name, article in zip(names, batch.column("id").to_pylist(), strict=True)]
            if job.moved:
                names = [job.moved.get(root, name) for root, name in
                         zip(batch.column("root").to_pylist(), names, strict=True)]
            split = pa.array(names, pa.string())
            _count(counts, batch, split, keep)
            rows = pa.RecordBatch.from_arrays([batch.column("k"), batch.column("id"), split],
                                              schema=STAGED_COLUMNS["plan"])
            write_staged(where.spool, "plan", rows, where.partitions, name=f"{partition:010d}-{number:010d}")
    return counts


def _count(counts: PlanCounts, batch: pa.RecordBatch, split: pa.Array, keep: int) -> None:
    """Add a batch of the plan to its partition's counts."""
    counts.articles.update(dict(zip(*_value_counts(split), strict=True)))
    alone = batch.column("alone")
    single = split.filter(alone)
    found = dict(zip(*_value_counts(single), strict=True))
    counts.alone.update(found)
    keys = batch.column("k").filter(alone)
    for name in found:  # the batch's last reads per split (a few keys, not the batch's list of them)
        theirs = keys.filter(pc.equal(single, name))
        mine = theirs.take(pc.top_k_unstable(theirs, keep)).to_pylist()
        _keep_last(counts.last, name, mine, keep)


def _value_counts(values: pa.Array) -> tuple[list, list]:
    found = pc.value_counts(values)
    return found.field("values").to_pylist(), found.field("counts").to_pylist()


def _fill_empty_splits(store: StagingStore, splits: Splits, counts: PlanCounts, plan: SplitPlan) -> dict[int, str]:
    """Move a group into each declared split the hash left empty, from a split holding several; with
    fewer groups than splits, the last splits stay empty (`_explain` says why). The moves: root → split."""
    declared = splits.declared()
    groups = Counter(counts.alone)
    last = {name: list(keys) for name, keys in counts.last.items()}
    for name, found, roots in store.rows(f"""
            SELECT split, count(*), max(root, {len(declared)}) FROM group_split GROUP BY split"""):
        groups[name] += found
        _keep_last(last, name, roots, len(declared))
    moved: dict[int, str] = {}
    for name in declared:
        if groups[name]:
            continue
        donor = max(declared, key=lambda s: (groups[s], -declared.index(s)))
        if groups[donor] < 2:
            break
        # The donor's last group read: deterministic, and the oldest articles keep their split.
        root = last[donor].pop(0)
        moved[root] = name
        _keep_last(last, name, [root], len(declared))
        groups[donor] -= 1
        groups[name] += 1
        plan.moved.append(name)
    for root, name in moved.items():  # a group of several (an article alone is not in the table)
        store.execute("UPDATE scratch.group_split SET split = ? WHERE root = ?", [name, root])
    return moved


def _explain(store: StagingStore, splits: Splits, plan: SplitPlan, counts: PlanCounts) -> None:
    """Group and cluster counts, groups across splits (checked on the written plan), and empty splits with why."""
    plan.groups, plan.grouped_articles, plan.across = store.rows("""
        SELECT count(*), coalesce(sum(n), 0), count(*) FILTER (WHERE splits > 1) FROM (
            SELECT count(*) AS n, count(DISTINCT p.split) AS splits
            FROM grp g JOIN plan p USING (k) GROUP BY g.root)""")[0]
    # Duplicate clusters of every kind as they stand in the build (copies left out do not count).
    found = {kind: (clusters, across) for kind, clusters, across in store.rows("""
        SELECT kind, count(*), count(*) FILTER (WHERE splits > 1) FROM (
            SELECT d.kind, count(DISTINCT p.split) AS splits
            FROM dup_members d JOIN plan p USING (k) GROUP BY d.kind, d.cluster HAVING count(*) > 1)
        GROUP BY kind""")}
    plan.clusters = {kind: found.get(kind, (0, 0)) for kind in KINDS}
    # The copies the policy acts on, less those in the build (the plan's side scanned, theirs hashed).
    plan.removed = store.scalar("""
        WITH acted AS (SELECT c.k FROM dup_ids c SEMI JOIN policy_members p ON p.id = c.id)
        SELECT (SELECT count(*) FROM acted) - (SELECT count(*) FROM plan SEMI JOIN acted USING (k))""")
    groups = sum(counts.alone.values()) + store.scalar("SELECT count(*) FROM group_split")
    for name in (s for s in SPLIT_ORDER if s in splits.declared() and not counts.articles[s]):
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
