"""Duplicate articles as set operations over the staged hygiene columns (DuckDB, out of core).

Compared are the *candidates*: articles that passed their own checks, the first read of each id.
Four kinds of cluster, each a set of articles:

- `exact`: the same text after NFC, whitespace folding and removal of format characters (GROUP BY hash);
- `near`: texts whose estimated Jaccard similarity of 5-word shingles reaches the threshold: LSH
  candidate pairs are a self-join of (band, bucket) rows, verified on the signatures, and joined
  into clusters by `connected_components`. One article per exact hash takes part (its copies are
  in its exact cluster), so a thousand copies of a wire story cost nothing here;
- `url`: the same URL (re-scrapes of one page); `title`: the same title within one source.

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

from toolkit.hygiene.components import connected_components
from toolkit.hygiene.minhash import similarities
from toolkit.manifest import Duplicates
from toolkit.store import StagingStore

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


def find_duplicates(store: StagingStore, policy: Duplicates) -> None:
    """Fill `cand`, `dup_members` (kind, cluster, k), `dup_similarity` (kind, cluster, similarity),
    `text_cluster` (k, root) and `policy_members` (id) from the staged hygiene columns."""
    # Working tables go in the store's in-memory scratch database: the database file writes its
    # tables out (creating an empty one there took 0.2 s at 100k articles, after `cand`).
    store.scratch_table("cand", "SELECT k, id, exact, url, title_key, published FROM hyg "
                                "WHERE k IN (SELECT min(k) FROM hyg GROUP BY id)")
    near = _near_pairs(store, policy.threshold)
    if near:
        connected_components(store, "SELECT a AS k, concat(a, '-', b) AS key FROM scratch.near_pairs "
                                    "UNION ALL SELECT b, concat(a, '-', b) FROM scratch.near_pairs", "near_cc")
    same_key = " UNION ALL ".join(f"""
        (SELECT '{kind}' AS kind, min(k) OVER w AS cluster, k FROM cand WHERE {column} IS NOT NULL
         WINDOW w AS (PARTITION BY {column}) QUALIFY count(*) OVER w > 1)"""
        for kind, column in (("exact", "exact"), ("url", "url"), ("title", "title_key")))
    store.scratch_table("dup_members", same_key + (" UNION ALL SELECT 'near', root, k FROM near_cc" if near else ""))
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
    acted_on = "" if policy.policy == "group" else "SELECT c.id FROM text_cluster t JOIN cand c USING (k)"
    store.scratch_table("policy_members", acted_on or "SELECT NULL::VARCHAR AS id LIMIT 0")


def _near_pairs(store: StagingStore, threshold: float) -> bool:
    """Fill `scratch.near_pairs` (a, b, similarity), a < b: LSH candidates among one article per exact
    hash, kept when their signatures agree on at least `threshold` of their values; whether there is any."""
    # The buckets two articles share first (a quarter faster at 100k articles than joining every
    # bucket of every representative with itself: most buckets hold one article).
    store.execute("""
        CREATE TABLE scratch.near_candidates AS
        WITH shared AS (SELECT band, bucket FROM band GROUP BY band, bucket HAVING count(*) > 1),
             rep_band AS (SELECT b.* FROM band b SEMI JOIN shared USING (band, bucket)
                          SEMI JOIN (SELECT min(k) AS k FROM cand GROUP BY exact) r USING (k))
        SELECT DISTINCT x.k AS a, y.k AS b FROM rep_band x JOIN rep_band y USING (band, bucket) WHERE x.k < y.k""")
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
        FROM dup_members m JOIN cand c USING (k)
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
    return dict(store.rows("SELECT t.k, t.root FROM text_cluster t JOIN cand c USING (k) "
                           "SEMI JOIN policy_members p ON p.id = c.id"))
