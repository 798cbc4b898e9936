"""Dataset hygiene: blank texts, duplicate articles, and splits that keep related articles together.

- `text`: what one article contributes, computed in the batch stage (any engine): the blank-text
  test, the exact-text hash, the MinHash signature and its LSH band buckets, the URL and title keys;
- `components`: connected components of "shares a key" links, by label propagation in DuckDB;
- `duplicates`: duplicate clusters as set operations over the staged columns (out of core);
- `groups`: split assignment by group (union of the keys `splits.group_by` names) or by date.
"""
