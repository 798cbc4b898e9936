"""Dataset hygiene: blank texts, duplicate articles, and splits that keep related articles together.

- `text`: what one article contributes, computed in the batch stage (any engine): the blank-text
  test, the exact-text hash, the MinHash signature and its LSH band buckets, the URL and title keys;
- `components`: connected components of "shares a key" links, by label propagation in DuckDB;
- `duplicates`: duplicate clusters as set operations over the staged columns (out of core);
- `groups`: split assignment by group (union of the keys `splits.group_by` names) or by date.
"""

import os

# rensa spreads a big batch over a Rayon thread pool. A process forked after that pool started
# (the local engine forks its workers) inherits the pool without its threads, and its first batch
# waits for them forever: validate a small corpus in-process, then a large one with workers, and
# the workers hung. Set here, before any module of this package imports rensa; one Rayon thread
# per process is also what the engines want (they run one process per core).
os.environ.setdefault("RAYON_NUM_THREADS", "1")
