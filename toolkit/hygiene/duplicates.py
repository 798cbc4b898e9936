"""Duplicate articles as set operations over the staged hygiene columns (DuckDB, out of core).

Compared are the *candidates*: articles that passed their own checks, the first read of each id.
Four kinds of cluster, each a set of articles:

- `exact`: the same text after NFC, whitespace folding and removal of format characters (GROUP BY hash);
- `near`: texts whose estimated Jaccard similarity of 5-word shingles reaches the threshold: LSH
  candidate pairs are a self-join of (band, bucket) rows, verified on the signatures, and joined
  into clusters by `connected_components`. One article per exact hash takes part (its copies are
  in its exact cluster), so a thousand copies of a wire story cost nothing here;
- `url`: the same URL (re-scrapes of one page); `title`: the same title within one source.

Each kind needs only the articles that share its key, so the work is cut like the cross-record
checks (`find_duplicates`): the staged hygiene rows are partitioned by article id (the first read
of an id is found in its partition), the candidates' keys once more by each key, and the LSH band
rows by bucket; a task per partition does each round, on the cluster's nodes with Ray. The driver
keeps the duplicates only — a corpus without copies leaves it next to nothing however large.

Text clusters (exact and near together) are what `duplicates.policy` acts on: the table
`policy_members` names every article of such a cluster when the policy is `drop` or `reject`, so
the resolver judges them in read order (`cross.Resolver.article`); under `group` they stay together
in one split (`toolkit.hygiene.groups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from toolkit.engines import Engine, InProcess
from toolkit.hygiene.components import connected_components
from toolkit.hygiene.minhash import similarities
from toolkit.manifest import Duplicates
from toolkit.store import PartitionJob, StagingStore, partition_job, staged_rows

KINDS = ("exact", "near", "url", "title")
MAX_CLUSTERS_LISTED = 100_000  # the report lists this many clusters; the counts cover all


@dataclass(frozen=True)
class Cluster:
    """Articles that duplicate each other: their ids in read order, and how alike their texts are
    (1.0 for exact copies, the lowest estimated Jaccard similarity of a verified pair for near ones,
    None where texts were not compared: same URL, same title)."""

    kind: str
    articles: tuple[str, ...]
    similarity: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "articles": list(self.articles), "similarity": self.similarity}


# Each kind of cluster: the staged table of candidates cut by its key, and the hygiene column that key is.
_KEYS = {"exact": ("cand_exact", "exact"), "url": ("cand_url", "url"), "title": ("cand_title", "title_key")}


def find_duplicates(store: StagingStore, engine: Engine, policy: Duplicates) -> None:
    """Fill `dup_members` (kind, cluster, k), `dup_ids` (k, id of every article in a cluster),
    `dup_similarity` (kind, cluster, similarity), `text_cluster` (k, root) and `policy_members` (id):
    the partitions' search (`search_partitions`), then the near pairs verified and every kind's
    clusters put together here, over the duplicates alone."""
    search_partitions(store, engine)
    near = _near_pairs(store, policy.threshold)
    if near:
        connected_components(store, "SELECT a AS k, concat(a, '-', b) AS key FROM scratch.near_pairs "
                                    "UNION ALL SELECT b, concat(a, '-', b) FROM scratch.near_pairs", "near_cc")
    store.scratch_table("dup_members", "SELECT kind, cluster, k FROM dup_found" + (
        " UNION ALL SELECT 'near', root, k FROM near_cc" if near else ""))
    # Every clustered article's id: the exact, URL and title ones came with their clusters, the near
    # ones are looked up among the staged rows (few: the build side of the join).
    store.scratch_table("dup_ids", "SELECT DISTINCT k, id FROM dup_found" + (
        " UNION SELECT h.k, h.id FROM hyg h SEMI JOIN near_cc n USING (k)" if near else ""))
    if near:
        connected_components(store, """
            SELECT k, concat('x', cluster) AS key FROM dup_members WHERE kind = 'exact'
            UNION ALL SELECT k, concat('n', root) FROM near_cc""", "text_cluster")
    else:
        # The text clusters are the exact ones, each labelled by its first key as the connected
        # components would label them, without their dozen statements (half of this function's
        # time on a tiny corpus: the test corpora's articles are copies of one text).
        store.scratch_table("text_cluster", "SELECT k, cluster AS root FROM dup_members WHERE kind = 'exact'")
    store.scratch_table("dup_similarity", "SELECT DISTINCT 'exact' AS kind, cluster, 1.0::DOUBLE AS similarity "
                                          "FROM dup_members WHERE kind = 'exact'" + (
        " UNION ALL SELECT 'near', c.root, min(p.similarity) FROM scratch.near_pairs p JOIN near_cc c ON c.k = p.a "
        "GROUP BY c.root" if near else ""))
    acted_on = "" if policy.policy == "group" else "SELECT c.id FROM text_cluster t JOIN dup_ids c USING (k)"
    store.scratch_table("policy_members", acted_on or "SELECT NULL::VARCHAR AS id LIMIT 0")


def search_partitions(store: StagingStore, engine: Engine) -> None:
    """Three rounds of a task per partition (on `engine` where it sees the staging folder, else here),
    so that no step reads every article in one place: the candidates of each article partition,
    cut by each key they are compared on (`partition_candidates`); the exact, URL and title
    clusters of each key partition, staged as `dup_found` (`partition_clusters`); the LSH candidate
    pairs of each bucket partition, which alone come back (`partition_near_pairs`, into
    `scratch.near_found`). The articles the LSH search leaves out (second reads of an id, exact
    copies but the first) are staged as `excl` by the first two rounds."""
    job = partition_job(store)
    runner = engine if engine.shares_files else InProcess()
    partitions = range(store.partitions)
    store.execute("CREATE TABLE scratch.near_found (a BIGINT, b BIGINT)")
    with store.guarded():
        for _ in runner.map(partition_candidates, job, partitions):
            pass
        for _ in runner.map(partition_clusters, job, partitions):
            pass
        for found in runner.map(partition_near_pairs, job, partitions):
            if found.num_rows:
                store.insert("scratch.near_found", found)


def partition_candidates(job: PartitionJob, partition: int) -> None:
    """Stage one article partition's candidates — the first read of each id (all of an id's rows are
    in its partition) — once per key they are compared on, cut by that key — and the other reads
    of an id as articles the LSH search leaves out."""
    with job.connect("cand", partition) as con:
        con.execute(f"CREATE VIEW hyg AS {staged_rows(job.spool, 'hyg', partition)}")
        con.execute("CREATE TABLE firsts AS SELECT min(k) AS k FROM hyg GROUP BY id")
        for table, column in _KEYS.values():
            query = (f"SELECT h.k, h.id, h.{column} AS key FROM hyg h SEMI JOIN firsts f USING (k) "
                     f"WHERE h.{column} IS NOT NULL ORDER BY h.k")
            job.stage(con, query, table, f"{partition:010d}")
        # The other reads of an id take part in no comparison (few: each one is a conflict).
        job.stage(con, "SELECT k FROM hyg ANTI JOIN firsts USING (k) ORDER BY k", "excl", f"a{partition:010d}")


def partition_clusters(job: PartitionJob, partition: int) -> None:
    """Stage one key partition's exact, URL and title clusters as `dup_found`: (kind, cluster = its
    first read-order key, k, id) of every candidate whose key another candidate shares (all of them
    are in this partition), and the exact copies but the first as articles the LSH search leaves
    out."""
    with job.connect("clusters", partition) as con:
        con.execute("CREATE TABLE found AS " + " UNION ALL ".join(f"""
            (SELECT '{kind}' AS kind, min(k) OVER w AS cluster, k, id
             FROM ({staged_rows(job.spool, table, partition)})
             WINDOW w AS (PARTITION BY key) QUALIFY count(*) OVER w > 1)""" for kind, (table, _) in _KEYS.items()))
        job.stage(con, "SELECT k FROM found WHERE kind = 'exact' AND k <> cluster ORDER BY k", "excl",
                  f"b{partition:010d}")
        job.stage(con, "SELECT * FROM found ORDER BY kind, k", "dup_found", f"{partition:010d}")


def partition_near_pairs(job: PartitionJob, partition: int) -> pa.Table:
    """One bucket partition's LSH candidate pairs (a, b), a < b: articles sharing a bucket of a band
    (all of a bucket's rows are in this partition), among one article per exact text (the articles
    in `excl` take no part). A pair sharing buckets of several bands may come from several partitions."""
    with job.connect("near", partition) as con:
        # The buckets two articles share first (a quarter faster at 100k articles than joining every
        # bucket of every article with itself: most buckets hold one article).
        return con.sql(f"""
            WITH rows AS (SELECT * FROM ({staged_rows(job.spool, 'band', partition)})
                          ANTI JOIN ({staged_rows(job.spool, 'excl')}) USING (k)),
                 shared AS (SELECT band, bucket FROM rows GROUP BY band, bucket HAVING count(*) > 1),
                 kept AS (SELECT r.* FROM rows r SEMI JOIN shared USING (band, bucket))
            SELECT DISTINCT x.k AS a, y.k AS b FROM kept x JOIN kept y USING (band, bucket) WHERE x.k < y.k
            """).to_arrow_table()


def _near_pairs(store: StagingStore, threshold: float) -> bool:
    """Fill `scratch.near_pairs` (a, b, similarity), a < b: the LSH candidates the partitions found,
    kept when their signatures agree on at least `threshold` of their values; whether there is any."""
    store.execute("CREATE TABLE scratch.near_candidates AS SELECT DISTINCT a, b FROM scratch.near_found")
    store.execute("DROP TABLE scratch.near_found")
    store.execute("CREATE TABLE scratch.near_pairs (a BIGINT, b BIGINT, similarity DOUBLE)")
    pairs = ("SELECT p.a, p.b, x.sig AS left_sig, y.sig AS right_sig FROM scratch.near_candidates p "
             "JOIN hyg x ON x.k = p.a JOIN hyg y ON y.k = p.b")
    found_any = False
    if store.scalar("SELECT count(*) FROM scratch.near_candidates"):  # else no signature need be read
        for batch in store.reader(pairs):
            found = _verified(batch, threshold)
            if found.num_rows:
                store.insert("scratch.near_pairs", found)
                found_any = True
    store.execute("DROP TABLE scratch.near_candidates")
    return found_any


def _verified(batch: pa.RecordBatch, threshold: float) -> pa.Table:
    """The candidate pairs of `batch` whose estimated similarity reaches `threshold`."""
    def matrix(column: str) -> np.ndarray:
        values = batch.column(column)
        return np.frombuffer(b"".join(values.to_pylist()), np.uint32).reshape(len(values), -1)

    similarity = similarities(matrix("left_sig"), matrix("right_sig"))
    keep = similarity >= threshold - 1e-9  # the share is k/num_perm: a threshold of 0.8 must keep 0.8
    return pa.table({"a": batch.column("a").filter(pa.array(keep)), "b": batch.column("b").filter(pa.array(keep)),
                     "similarity": pa.array(np.round(similarity[keep], 4))})


def clusters(store: StagingStore, limit: int = MAX_CLUSTERS_LISTED) -> list[Cluster]:
    """The duplicate clusters, ordered by their first article read, then kind."""
    rows = store.reader(f"""
        SELECT m.kind, list(c.id ORDER BY m.k) AS ids, any_value(s.similarity) AS similarity
        FROM dup_members m JOIN dup_ids c USING (k)
        LEFT JOIN dup_similarity s ON s.kind = m.kind AND s.cluster = m.cluster
        GROUP BY m.kind, m.cluster
        ORDER BY m.cluster, list_position({list(KINDS)}, m.kind)
        LIMIT {limit}""")
    return [Cluster(kind, tuple(ids), similarity)
            for batch in rows
            for kind, ids, similarity in zip(*(c.to_pylist() for c in batch.columns), strict=True)]


def cluster_counts(store: StagingStore) -> dict[str, tuple[int, int]]:
    """kind → (clusters, articles in them), for every kind (zero when none)."""
    found = {kind: (clusters, articles) for kind, clusters, articles in store.rows(
        "SELECT kind, count(DISTINCT cluster), count(*) FROM dup_members GROUP BY kind")}
    return {kind: found.get(kind, (0, 0)) for kind in KINDS}


def text_roots(store: StagingStore) -> dict[int, int]:
    """Read-order key → its text cluster's first key, for the articles the policy acts on (few: the copies)."""
    return dict(store.rows("SELECT t.k, t.root FROM text_cluster t JOIN dup_ids c USING (k) "
                           "SEMI JOIN policy_members p ON p.id = c.id"))
