"""Union-find without a Python dict over all articles: connected components by label propagation in DuckDB.

Articles are linked through keys they share (a text hash, a URL, a story id, a near-duplicate
pair). Every article starts labelled with its own read-order key; each round, a key takes the
smallest label among its articles and an article the smallest label among its keys. When no label
changes, each component is labelled by its first article read. Each round is two GROUP BYs that
DuckDB runs out of core; the rounds needed grow with the longest chain of links, not the corpus.
"""

from __future__ import annotations

from toolkit.store import StagingStore

MAX_ROUNDS = 10_000  # a chain this long would be a bug in the links, not data


def connected_components(store: StagingStore, links_sql: str, table: str) -> None:
    """Create `table` (k, root): for each article in the links `(k BIGINT, key VARCHAR)`, the smallest
    k of its component. Articles without links do not appear."""
    store.execute(f"CREATE OR REPLACE TABLE cc_links AS SELECT DISTINCT k, key FROM ({links_sql})")
    store.execute("CREATE OR REPLACE TABLE cc_label AS SELECT DISTINCT k, k AS root FROM cc_links")
    for _ in range(MAX_ROUNDS):
        store.execute("""
            CREATE OR REPLACE TABLE cc_next AS
            WITH by_key AS (SELECT l.key, min(c.root) AS root FROM cc_links l JOIN cc_label c USING (k) GROUP BY l.key)
            SELECT l.k, min(b.root) AS root FROM cc_links l JOIN by_key b USING (key) GROUP BY l.k""")
        changed = store.scalar("SELECT count(*) FROM cc_next n JOIN cc_label c USING (k) WHERE n.root < c.root")
        store.execute("DROP TABLE cc_label")
        store.execute("ALTER TABLE cc_next RENAME TO cc_label")
        if not changed:
            break
    else:
        raise AssertionError(f"connected components did not settle in {MAX_ROUNDS} rounds")
    store.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT k, root FROM cc_label")
    store.execute("DROP TABLE cc_label")
    store.execute("DROP TABLE cc_links")
