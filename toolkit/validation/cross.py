"""Checks across records: set operations over the staged columns, and a sequential resolver for conflicts.

The rule (DESIGN.md §2): records are judged in read order — article files in manifest order, then
annotation files — each against the records accepted before it; between two conflicting records
the first one read stands.

Every cross-record check except id uniqueness concerns one article. So the work is cut by article:

1. **Set-based pass** (`find_conflicts`): each rule below is a query over the staged rows that
   names the articles where the rule *could* fire if every record that passed its own checks were
   accepted. An article none of them names is clean: all of its records are accepted as they are,
   and no Python code runs for them. Id uniqueness is a rule too: an id used twice anywhere makes
   every article holding it a conflict. The staged lines are partitioned by article (an article
   by its id, an annotation by its article's; annotation ids once more by the id itself), so each
   partition is checked on its own, on a worker, in a DuckDB of its own (`partition_conflicts`);
   only the ids of articles in conflict travel back. The duplicates policy's rule spans
   partitions and stays with the driver.
2. **Sequential resolver** (`Resolver`): the records of the articles in conflict, and the lines
   that failed their own checks, go through the careful checks in read order, each rule's careful
   spelling below next to its set-based one. Clean records cannot conflict with them (their ids
   are unique and all their checks stay within their article), except as the end of a relation,
   which the resolver looks up with its read-order key.

So the verdicts are exactly those of judging every record in read order
(tests/test_validate_fast_path.py and tests/test_conflict_property.py compare both).

Several annotators on one article are data, not a conflict (DESIGN.md §5): a single-label
document layer takes one label per (article, layer, annotator), and `overlap: false` forbids
overlaps among one annotator's spans. Annotations without an annotator form one group of their own.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from toolkit.engines import Engine, InProcess
from toolkit.hygiene import agreement
from toolkit.hygiene.agreement import (
    UNIT_COLUMNS,
    AgreementCounts,
    AgreementRow,
    agreement_figures,
    agreement_inputs,
)
from toolkit.hygiene.duplicates import text_roots
from toolkit.hygiene.text import blank_fields
from toolkit.manifest import DuplicatePolicy, Layer
from toolkit.problems import Problem
from toolkit.readers import RawLine
from toolkit.rejects import RejectsWriter
from toolkit.store import (
    PartitionJob,
    StagingStore,
    TaskStore,
    memory_limit_bytes,
    partition_job,
    split_key,
    staged_rows,
)
from toolkit.validation.records import bad_dates, not_a_moment, parse, problem, schema_problems
from toolkit.validation.report import ValidationReport

# Each rule: the ids of articles where it could fire (its careful spelling is named beside it).
# Every rule reads one partition of the staged lines (`art`, `ann` and their narrow copies `artk`,
# `annk`; all the lines of an article are in one partition) except the annotation id rule, which
# reads `aid`, partitioned by the annotation id. So each partition is checked on its own, by a
# worker (`partition_conflicts`).
PARTITION_RULES: dict[str, str] = {
    # Resolver.article (duplicate-id), and lines the per-record checks did not pass.
    "article id used twice, or an article line to explain":
        "SELECT id FROM artk WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1 OR NOT bool_and(ok)",
    # Resolver.annotation / Resolver.article: an annotation (line, or inside an article) to explain.
    "annotation to explain":
        "SELECT article_id FROM annk WHERE NOT ok AND article_id IS NOT NULL",
    # Resolver.check_annotation (duplicate-id), annotation lines and annotations inside articles alike.
    "annotation id used twice": """
        SELECT a.article_id FROM aid a
        SEMI JOIN (SELECT id FROM aid GROUP BY id HAVING count(*) > 1) d ON a.id = d.id
        WHERE a.article_id IS NOT NULL""",
    # Resolver.annotation (unknown-article; invalid-article comes with the first rule).
    "annotation of no article":
        "SELECT a.article_id FROM annk a ANTI JOIN artk t ON t.id = a.article_id WHERE a.ok",
    # Resolver._check_span (span-out-of-bounds, span-text-mismatch). Offsets count code points, as
    # DuckDB's length and substring do. Both walk the text from one end, so each text's length is
    # taken once, and each quote cut from the nearer end (a negative start counts from the end):
    # 1.0 s at 100k articles, from 2.9 s when each span took its text's length and cut from the start.
    # The texts and quotes are read straight from the staged files: no other rule needs them.
    "span outside its field or quoting other text": """
        SELECT a.article_id
        FROM (SELECT article_id, start, "end", quoted, field = 'title' AS in_title
              FROM ann WHERE ok AND kind = 1) a
        JOIN (SELECT id, title, text, length(title) AS title_length, length(text) AS text_length
              FROM art WHERE ok) t ON t.id = a.article_id
        WHERE NOT (
            a.start < a."end"
            AND a."end" <= CASE WHEN a.in_title THEN t.title_length ELSE t.text_length END
            AND (a.quoted IS NULL
                 OR substring(CASE WHEN a.in_title THEN t.title ELSE t.text END,
                              CASE WHEN 2 * a.start < CASE WHEN a.in_title THEN t.title_length ELSE t.text_length END
                                   THEN a.start + 1
                                   ELSE a.start - CASE WHEN a.in_title THEN t.title_length ELSE t.text_length END END,
                              a."end" - a.start) = a.quoted))""",
    # Resolver._check_span (span-overlap): sorted by start, spans are disjoint iff each neighbour is.
    # Per annotator: two annotators marking the same name agree, they do not overlap (NULLs group together).
    "overlapping spans in an overlap: false layer": """
        SELECT article_id FROM (
            SELECT article_id, start,
                   lag("end") OVER (PARTITION BY article_id, layer, field, annotator ORDER BY start, "end")
                       AS previous_end
            FROM annk WHERE ok AND no_overlap)
        WHERE previous_end > start""",
    # Resolver.check_annotation (conflicting-label): one label per (article, layer, annotator).
    "second label in a single-label layer":
        "SELECT article_id FROM annk WHERE ok AND single GROUP BY article_id, layer, annotator HAVING count(*) > 1",
    # Resolver._check_relation (unknown-reference): each end a span of the same article read before.
    # Both ends unnested into one anti join, not a self join per end: two thirds of the time at 100k.
    "relation end that is not an earlier span of its article": """
        SELECT e.article_id
        FROM (SELECT article_id, k, sub, unnest([head, tail]) AS ref FROM annk WHERE ok AND kind = 3) e
        ANTI JOIN (SELECT id, article_id, k, sub FROM annk WHERE ok AND kind = 1) s
            ON s.id = e.ref AND s.article_id = e.article_id AND (s.k < e.k OR (s.k = e.k AND s.sub < e.sub))""",
}
# Checked by the driver over the whole corpus, after the partitions.
DRIVER_RULES: dict[str, str] = {
    # Resolver.article (duplicate-text, or left out under drop): every article of a text cluster,
    # when the duplicates policy acts on copies (hygiene/duplicates.py fills the table; its
    # clusters cross partitions). Blank texts need no rule: the per-record checks do not pass them
    # (records._stage_articles).
    "copy of a text that duplicates: drop/reject acts on":
        "SELECT id FROM policy_members",
}
# The annotations' columns go into DuckDB's storage (all but the records' bytes, and but the quotes
# and the too_long flags, which only the span rule and the resolver read, from the staged files):
# the resolver, clean_annk and agreement read them many times, and so do the rules. A row takes
# some 160 bytes there. When a partition's copy fits in a quarter of the memory limit it is made
# first, and the rules read it in one statement (a tiny corpus's rules: 29 ms instead of 50). Else
# the rules read the staged files, one statement each (a third faster than one UNION ALL at 100k
# articles), with the memory to themselves: under the copy (180 MB at 100k articles) their joins
# spilled to disk, and took a fifth longer.
_COPY_BYTES_PER_ROW = 160
_ANNK = "SELECT * EXCLUDE (data, quoted, too_long) FROM ann"

# The clean annotations' and the accepted articles' keys (no records), over `artk`, `annk`, the
# `conflicts` and `acc_art`: in the driver's store, and in a partition's task for agreement.
_KEY_VIEWS = {
    "clean_annk": "SELECT a.* FROM annk a ANTI JOIN conflicts c ON a.article_id = c.id WHERE a.ok",
    "accepted_article_ids": "SELECT a.k, a.id FROM artk a ANTI JOIN conflicts c ON a.id = c.id WHERE a.ok "
                            "UNION ALL SELECT k, id FROM acc_art",
}

# With the fast path off every article is "in conflict": the resolver then judges every record,
# which is the reference the set-based pass must equal.
_EVERY_ARTICLE = ("SELECT id FROM artk WHERE id IS NOT NULL "
                  "UNION ALL SELECT article_id FROM annk WHERE article_id IS NOT NULL")


def partition_conflicts(job: PartitionJob, partition: int) -> pa.Array:
    """The ids of the articles in conflict in one partition (`PARTITION_RULES`), checked in a DuckDB
    of its own under the memory limit: this runs on a worker, wherever the staging folder is seen."""
    with job.connect("p", partition) as con:
        for name in ("art", "ann", "aid"):
            con.execute(f"CREATE VIEW {name} AS {staged_rows(job.spool, name, partition)}")
        # The articles' ids once in DuckDB's storage: most rules join them. Not their titles and
        # texts: the span rule reads those once, from the staged files.
        con.execute("CREATE TABLE artk AS SELECT k, ok, id FROM art")
        rows = con.execute("SELECT count(*) FROM ann").fetchall()[0][0]
        copy_first = rows * _COPY_BYTES_PER_ROW <= memory_limit_bytes(con) // 4
        con.execute(f"CREATE TABLE annk AS {_ANNK}" if copy_first else
                    "CREATE VIEW annk AS SELECT * EXCLUDE (data) FROM ann")
        con.execute("CREATE TABLE conflicts (id VARCHAR)")
        rules = [f"SELECT * FROM ({sql}) AS r(id)" for sql in PARTITION_RULES.values()]
        for sql in [" UNION ALL ".join(rules)] if copy_first else rules:
            con.execute(f"INSERT INTO conflicts SELECT * FROM ({sql}) AS r(id) WHERE id IS NOT NULL")
        found = con.sql("SELECT DISTINCT id FROM conflicts").to_arrow_table()
    return found.column(0).combine_chunks() if found.num_rows else pa.array([], pa.string())


def check_partitions(store: StagingStore, engine: Engine) -> None:
    """Fill the `conflicts` table with the articles the `PARTITION_RULES` name: each of the staged
    lines' `partitions` checked by `engine` where it sees the staging folder (else here, one
    partition at a time); only the ids of articles in conflict come back."""
    job = partition_job(store)
    runner = engine if engine.shares_files else InProcess()
    with store.guarded():
        for ids in runner.map(partition_conflicts, job, range(store.partitions)):
            if len(ids):
                store.insert("scratch.conflicts", pa.table({"id": ids}))


def find_conflicts(store: StagingStore, engine: Engine, fast: bool = True) -> tuple[int, int]:
    """Fill the `conflicts` table and the views of clean records; (clean articles, clean annotations)."""
    store.execute("CREATE TABLE scratch.conflicts (id VARCHAR)")
    store.execute("CREATE VIEW conflicts AS SELECT id FROM scratch.conflicts")
    if fast:
        check_partitions(store, engine)
    if fast and store.partitions > 1:
        # The partitions' tasks did the work that reads these many times (the rules, agreement):
        # what the driver still asks of them — the clean counts, which lines the resolver judges —
        # is a few scans of narrow columns. As views over the staged files, the driver's DuckDB
        # holds no copy of every line, a copy that grew with the corpus up to the memory limit
        # (export on 2 nodes, driver peak RSS at 80k articles 508 → 413 MiB, at 200k 603 → 464).
        store.execute("CREATE VIEW artk AS SELECT k, ok, id FROM art")
        store.execute(f"CREATE VIEW annk AS {_ANNK}")
    else:
        # The working copies the resolver, the clean views and agreement read, in DuckDB's storage.
        store.scratch_table("artk", "SELECT k, ok, id FROM art")
        store.scratch_table("annk", _ANNK)
    # An id may be named by several rules; the lookups below do not mind duplicates.
    for sql in DRIVER_RULES.values() if fast else [_EVERY_ARTICLE]:
        store.execute(f"INSERT INTO scratch.conflicts SELECT * FROM ({sql}) AS r(id) WHERE id IS NOT NULL")
    store.execute("CREATE VIEW clean_art AS SELECT a.* FROM art a ANTI JOIN conflicts c ON a.id = c.id WHERE a.ok")
    store.execute("CREATE VIEW clean_ann AS "
                  "SELECT a.* FROM ann a ANTI JOIN conflicts c ON a.article_id = c.id WHERE a.ok")
    store.execute(f"CREATE VIEW clean_annk AS {_KEY_VIEWS['clean_annk']}")
    articles = store.scalar("SELECT count(*) FROM artk a ANTI JOIN conflicts c ON a.id = c.id WHERE a.ok")
    return articles, store.scalar("SELECT count(*) FROM clean_annk")


def accepted_views(store: StagingStore) -> None:
    """`accepted_articles` (k, id, data) and `accepted_annotations` (k, sub, article_id, data): what export
    reads; and the ids in conflict staged as `conf`, cut like the articles, so that a partition's task
    (agreement, the export's plan) tells its accepted articles from the rest where they are."""
    for number, batch in enumerate(store.reader("SELECT DISTINCT id FROM conflicts WHERE id IS NOT NULL")):
        store.add("conf", batch, name=f"{number:020d}")
    # Ids alone, from the staged columns: the queries that only ask "which articles" need not scan records.
    store.execute(f"CREATE VIEW accepted_article_ids AS {_KEY_VIEWS['accepted_article_ids']}")
    store.execute("CREATE VIEW accepted_articles AS SELECT k, id, coalesce(record, data) AS data FROM clean_art "
                  "UNION ALL SELECT k, id, data FROM acc_art")
    store.execute("CREATE VIEW accepted_annotations AS SELECT k, sub, article_id, data FROM clean_ann "
                  "UNION ALL SELECT k, sub, article_id, data FROM acc_ann")


def partition_accepted_ids(con: duckdb.DuckDBPyConnection, spool: str, partition: int) -> None:
    """The view `accepted_article_ids` (k, id) of one partition, in a task's own DuckDB (after
    `accepted_views` staged the ids in conflict)."""
    for name in ("art", "acc_art", "conf"):
        con.execute(f"CREATE VIEW {name} AS {staged_rows(spool, name, partition)}")
    con.execute("CREATE VIEW artk AS SELECT k, ok, id FROM art")
    con.execute("CREATE VIEW conflicts AS SELECT id FROM conf")
    con.execute(f"CREATE VIEW accepted_article_ids AS {_KEY_VIEWS['accepted_article_ids']}")


@dataclass(frozen=True)
class AgreementJob:
    """What every partition's agreement needs: where its rows are, the layers, and which document
    layers to list alpha's units of (none in the first round)."""

    where: PartitionJob
    layers: dict[str, Layer]
    alpha: frozenset[int] = frozenset()


def partition_agreement(job: AgreementJob, partition: int) -> tuple[AgreementCounts, pa.Table]:
    """One partition's agreement counts (and alpha units of `job.alpha`), over its accepted
    annotations, in a DuckDB of its own: this runs on a worker, wherever the staging folder is seen.
    An article's annotations are all in its partition, and so are the groups agreement compares."""
    where = job.where
    with where.connect("agreement", partition) as con:
        for name in ("art", "ann", "acc_art", "acc_ann", "conf"):
            con.execute(f"CREATE VIEW {name} AS {staged_rows(where.spool, name, partition)}")
        store = TaskStore(con)
        store.scratch_table("artk", "SELECT k, ok, id FROM art")
        store.scratch_table("annk", _ANNK)
        con.execute("CREATE VIEW conflicts AS SELECT id FROM conf")
        for name, sql in _KEY_VIEWS.items():
            con.execute(f"CREATE VIEW {name} AS {sql}")
        return agreement_inputs(store, job.layers, alpha=job.alpha)


def agreement_by_partition(store: StagingStore, engine: Engine, layers: dict[str, Layer]) -> list[AgreementRow]:
    """The report's agreement rows (after `accepted_views`): in the store for one partition, else
    partition by partition on `engine` where it sees the staging folder, the counts added up here
    (only counts travel; alpha's units, one row per shared article and label, only for document
    layers that more than two people annotated, in a second round once the driver knows which)."""
    partitions = store.partitions
    if partitions == 1:
        return agreement.measure_agreement(store, layers)
    job = AgreementJob(partition_job(store), layers)
    runner = engine if engine.shares_files else InProcess()
    counts = AgreementCounts()
    with store.guarded():
        for found, _ in runner.map(partition_agreement, job, range(partitions)):
            counts.add(found)
        alpha = counts.needing_alpha(layers)
        units = [found for _, found in runner.map(partition_agreement, replace(job, alpha=alpha), range(partitions))
                 ] if alpha else []
    return agreement_figures(layers, counts, pa.concat_tables(units) if units else UNIT_COLUMNS.empty_table())


# -- the careful spelling: the sequential resolver -----------------------------------------------


class Intervals:
    """Pairwise disjoint [start, end) spans kept sorted, so an overlap test is a binary search, not a scan."""

    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlapping(self, start: int, end: int) -> tuple[int, int] | None:
        """An interval overlapping [start, end), or None."""
        i = bisect_right(self.starts, start)
        if i and self.ends[i - 1] > start:
            return self.starts[i - 1], self.ends[i - 1]
        if i < len(self.starts) and self.starts[i] < end:
            return self.starts[i], self.ends[i]
        return None

    def add(self, start: int, end: int) -> None:
        i = bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def remove(self, start: int, end: int) -> None:
        i = bisect_left(self.starts, start)
        del self.starts[i], self.ends[i]


# A change to the cross-record state that accepting an annotation makes: ("id", annotation id, owning
# article id or None), ("span", (article, layer, field, annotator), (start, end)) or
# ("label", (article, layer, annotator), None); the annotator is None for annotations that name none.
Claim = tuple[str, Any, Any]
# An annotation among the clean records: (read-order key, sub-order, owning article if a span, else None).
CleanEnd = tuple[int, int, str | None]


@dataclass
class State:
    """What the resolver remembers of the records it accepted (only records of articles in conflict)."""

    # id → the id when an accepted article has it, False when only rejected copies were read.
    article_ids: dict[str, str | bool] = field(default_factory=dict)
    annotation_ids: dict[str, str | None] = field(default_factory=dict)  # id → article id if a span
    no_overlap_spans: dict[tuple[str, str, str, str | None], Intervals] = field(default_factory=dict)
    single_labels: set[tuple[str, str, str | None]] = field(default_factory=set)
    kept_texts: dict[int, str] = field(default_factory=dict)  # text cluster → id of its article accepted first

    def apply(self, claim: Claim) -> None:
        what, key, value = claim
        if what == "id":
            self.annotation_ids[key] = value
        elif what == "span":
            self.no_overlap_spans.setdefault(key, Intervals()).add(*value)
        else:
            self.single_labels.add(key)

    def undo(self, claim: Claim) -> None:
        what, key, value = claim
        if what == "id":
            self.annotation_ids.pop(key, None)
        elif what == "span":
            self.no_overlap_spans[key].remove(*value)
        else:
            self.single_labels.discard(key)


_ACCEPT_FLUSH = 4096


class Resolver:
    """Judges records one by one in read order, explaining every problem; keeps what it accepts in the store."""

    def __init__(self, layers: dict[str, Layer], store: StagingStore, report: ValidationReport,
                 rejects: RejectsWriter | None, files: list[str], duplicates: DuplicatePolicy = "group") -> None:
        self.layers = layers
        self.duplicates = duplicates
        self.text_roots: dict[int, int] = {}  # read-order key → text cluster, for the copies the policy acts on
        self.label_sets = {name: frozenset(layer.labels) for name, layer in layers.items()}
        self.store = store
        self.report = report
        self.rejects = rejects
        self.files = files
        self.state = State()
        self.clean_ends: dict[str, CleanEnd] = {}
        self._articles: list[tuple[int, str, bytes]] = []
        self._annotations: list[tuple[int, int, str, bytes]] = []
        # Valid articles left out of the build (duplicates: drop): their annotations are judged
        # against their text all the same, so the resolver must find it.
        self._dropped: list[int] = []

    def run(self) -> None:
        """Judge every staged line that is not clean, articles first, each kind in read order."""
        articles = "NOT ok OR id IN (SELECT id FROM conflicts)"
        annotations = "sub = 0 AND (NOT ok OR article_id IN (SELECT id FROM conflicts))"
        if not self.store.scalar(f"SELECT (SELECT count(*) FROM artk WHERE {articles}) "
                                 f"+ (SELECT count(*) FROM annk WHERE {annotations})"):
            return  # a clean corpus: nothing to judge one by one
        self.clean_ends = self._clean_ends()
        if self.duplicates != "group":
            self.text_roots = text_roots(self.store)
        for batch in self.store.reader(f"SELECT k, data, too_long FROM art WHERE {articles} ORDER BY k"):
            for key, data, too_long in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                self.article(key, data, too_long)
        self._flush()
        self.store.execute("CREATE TABLE scratch.dropped (k BIGINT)")
        if self._dropped:
            self.store.insert("scratch.dropped", pa.table({"k": pa.array(self._dropped, pa.int64())}))
        query = """
            SELECT a.k, a.data, a.too_long, t.title, t.text
            FROM ann a
            LEFT JOIN (SELECT art.id, art.title, art.text
                       FROM (SELECT k FROM acc_art UNION ALL SELECT k FROM scratch.dropped) j JOIN art USING (k)) t
                ON t.id = a.article_id
            WHERE a.sub = 0 AND (NOT a.ok OR a.article_id IN (SELECT id FROM conflicts))
            ORDER BY a.k"""
        for batch in self.store.reader(query):
            for key, data, too_long, title, text in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                self.annotation(key, data, too_long, None if title is None else (title, text))
        self._flush()

    def _clean_ends(self) -> dict[str, CleanEnd]:
        """Clean annotations that relations to judge name as head or tail (every such relation is wrong:
        a clean annotation's article is not theirs, so this stays as small as the mistakes)."""
        rows = self.store.reader("""
            WITH judged AS (SELECT head, tail FROM annk WHERE NOT ok OR article_id IN (SELECT id FROM conflicts)),
                 ends AS (SELECT head AS id FROM judged UNION SELECT tail FROM judged)
            SELECT c.id, c.k, c.sub, CASE WHEN c.kind = 1 THEN c.article_id END
            FROM clean_annk c SEMI JOIN ends e ON e.id = c.id""")
        found: dict[str, CleanEnd] = {}
        for batch in rows:
            for ann_id, key, sub, owner in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                found[ann_id] = (key, sub, owner)
        return found

    def _flush(self) -> None:
        self.store.accept(self._articles, self._annotations)
        self._articles, self._annotations = [], []

    def _raw(self, key: int, data: bytes, too_long: bool) -> tuple[str, RawLine]:
        file_index, line = split_key(key)
        return self.files[file_index], RawLine(line, data, too_long)

    # -- records --------------------------------------------------------------------------------

    def article(self, key: int, data: bytes, too_long: bool) -> None:
        """One article line: every check, every problem explained."""
        file, raw = self._raw(key, data, too_long)
        counts = self.report.counts
        problems: list[Problem] = []
        record = parse(raw, file, "article", problems)
        embedded = record.get("annotations") if record is not None else None
        n_embedded = len(embedded) if isinstance(embedded, list) else 0
        claims: list[Claim] = []
        kept: str | None = None  # the article accepted first among this one's text duplicates
        if record is not None and schema_problems(record, file, raw.number, "article", problems, raw.data):
            article_id = record["id"]
            if self.state.article_ids.get(article_id):
                problem(problems, file, raw.number, article_id, "article", "duplicate-id", "/id",
                        f"article id '{article_id}' is already used by an earlier article")
            for name, value in bad_dates(record, "article"):
                problem(problems, file, raw.number, article_id, "article", "invalid-date", f"/{name}",
                        not_a_moment(name, value))
            for name in blank_fields(record):
                problem(problems, file, raw.number, article_id, "article", "blank-text", f"/{name}",
                        f"{name} is empty once whitespace and invisible format characters (zero-width spaces) "
                        "are removed")
            kept = self.state.kept_texts.get(self.text_roots.get(key, -1))
            if kept is not None and self.duplicates == "reject":
                problem(problems, file, raw.number, article_id, "article", "duplicate-text", "/text",
                        f"the text duplicates article '{kept}' read earlier (duplicates: reject)")
            fields = (record["title"], record["text"])
            for i, ann in enumerate(embedded or ()):
                if "article_id" in ann and ann["article_id"] != article_id:
                    problem(problems, file, raw.number, ann["id"], "annotation", "unknown-article",
                            f"/annotations/{i}/article_id",
                            f"embedded annotation names article '{ann['article_id']}' but sits in '{article_id}'")
                    continue
                for name, value in bad_dates(ann, "annotation"):
                    problem(problems, file, raw.number, ann["id"], "annotation", "invalid-date",
                            f"/annotations/{i}/{name}", not_a_moment(name, value))
                mine: list[Claim] = []
                before = len(problems)
                self.check_annotation(ann, (key, i + 1), article_id, fields, file, raw.number, f"/annotations/{i}",
                                      problems, mine)
                # Later embedded annotations of the same article see this one's claims (ids, spans);
                # they are undone if the article as a whole is rejected.
                if len(problems) == before:
                    for claim in mine:
                        self.state.apply(claim)
                    claims.extend(mine)
        counts["articles"].read += 1
        counts["annotations"].read += n_embedded
        if problems:
            for claim in reversed(claims):
                self.state.undo(claim)
            if record is not None and isinstance(record.get("id"), str):
                self.state.article_ids.setdefault(record["id"], False)
            self._reject(file, raw, problems)
            counts["articles"].invalid += 1
            counts["annotations"].invalid += n_embedded
            return
        self.state.article_ids[article_id] = article_id
        root = self.text_roots.get(key)
        if root is not None and kept is not None:  # duplicates: drop — valid, but left out of the build
            self.report.drop(article_id, kept, file, raw.number)
            self._dropped.append(key)
        else:
            if root is not None:
                self.state.kept_texts[root] = article_id
            body = {k: v for k, v in record.items() if k != "annotations"}
            self._articles.append((key, article_id, orjson.dumps(body)))
        for i, ann in enumerate(embedded or ()):
            self._annotations.append((key, i + 1, article_id, orjson.dumps({"article_id": article_id, **ann})))
        self._count_accepted(counts["articles"], counts["annotations"], n_embedded)

    def annotation(self, key: int, data: bytes, too_long: bool, fields: tuple[str, str] | None) -> None:
        """One annotation line: every check, every problem explained. `fields` are its article's (title, text)."""
        file, raw = self._raw(key, data, too_long)
        counts = self.report.counts["annotations"]
        counts.read += 1
        problems: list[Problem] = []
        claims: list[Claim] = []
        record = parse(raw, file, "annotation", problems)
        if record is not None and schema_problems(record, file, raw.number, "annotation", problems, raw.data):
            article_id = record["article_id"]
            known = self.state.article_ids.get(article_id)
            if known is None:
                problem(problems, file, raw.number, record["id"], "annotation", "unknown-article",
                        "/article_id", f"no article has id '{article_id}'")
                fields = None
            elif known is False:
                problem(problems, file, raw.number, record["id"], "annotation", "invalid-article",
                        "/article_id", f"article '{article_id}' was rejected; fix it and this annotation is kept")
                fields = None
            for name, value in bad_dates(record, "annotation"):
                problem(problems, file, raw.number, record["id"], "annotation", "invalid-date", f"/{name}",
                        not_a_moment(name, value))
            self.check_annotation(record, (key, 0), article_id, fields, file, raw.number, "", problems, claims)
        if problems:
            self._reject(file, raw, problems)
            counts.invalid += 1
            return
        for claim in claims:
            self.state.apply(claim)
        self._annotations.append((key, 0, record["article_id"], raw.data))
        counts.valid += 1
        if len(self._annotations) >= _ACCEPT_FLUSH:
            self._flush()

    def _count_accepted(self, articles: Any, annotations: Any, n_embedded: int) -> None:
        articles.valid += 1
        annotations.valid += n_embedded
        if len(self._articles) + len(self._annotations) >= _ACCEPT_FLUSH:
            self._flush()

    # -- cross-record checks of one annotation ---------------------------------------------------

    def check_annotation(self, ann: dict, order: tuple[int, int], article_id: str, fields: tuple[str, str] | None,
                         file: str, line: int, prefix: str,
                         problems: list[Problem], claims: list[Claim]) -> None:
        """Checks of one schema-valid annotation whose article is `article_id` (title, text in `fields`).

        Appends problems; when there are none, appends to `claims` the state changes that make
        the annotation visible to later records (applied only if the whole record is accepted).
        """
        st = self.state
        ann_id = ann["id"]
        start_count = len(problems)

        def bad(code: str, path: str, message: str) -> None:
            problem(problems, file, line, ann_id, "annotation", code, prefix + path, message)

        if ann_id in st.annotation_ids:
            bad("duplicate-id", "/id", f"annotation id '{ann_id}' is already used by an earlier annotation")
        layer_name = ann["layer"]
        layer = self.layers.get(layer_name)
        if layer is None:
            declared = ", ".join(self.layers) or "none"
            bad("unknown-layer", "/layer",
                f"layer '{layer_name}' is not declared in the manifest (declared: {declared})")
            return
        label = ann["label"]
        if label not in self.label_sets[layer_name]:
            bad("unknown-label", "/label",
                f"label '{label}' is not declared for layer '{layer_name}' (declared: {', '.join(layer.labels)})")
        has_offsets = "start" in ann or "end" in ann
        if layer.kind == "span":
            self._check_span(ann, layer, article_id, fields, bad, claims)
        elif has_offsets:
            bad("unexpected-span", "/start",
                f"layer '{layer_name}' is a {layer.kind} layer; its annotations carry no start/end offsets")
        if layer.kind == "relation":
            self._check_relation(ann, order, article_id, bad)
        if layer.kind == "document" and not layer.multi:
            label_key = (article_id, layer_name, ann.get("annotator"))
            if label_key in st.single_labels:
                bad("conflicting-label", "/label",
                    f"article '{article_id}' already has a '{layer_name}' label{_by(label_key[2])}; "
                    "the layer is not declared multi: true")
            else:
                claims.append(("label", label_key, None))
        if len(problems) == start_count:
            claims.append(("id", ann_id, article_id if layer.kind == "span" else None))

    def _check_span(self, ann: dict, layer: Layer, article_id: str, fields: tuple[str, str] | None,
                    bad: Callable[[str, str, str], None], claims: list[Claim]) -> None:
        start, end = ann.get("start"), ann.get("end")
        if start is None or end is None:
            bad("missing-span", "/start" if start is None else "/end",
                f"layer '{layer.name}' is a span layer: start and end offsets are required")
            return
        if fields is None:
            return  # the article is unknown or invalid; that problem is reported by the caller
        field_name = ann.get("field", "text")
        value = fields[0] if field_name == "title" else fields[1]
        if not (0 <= start < end <= len(value)):
            bad("span-out-of-bounds", "/end" if end > len(value) else "/start",
                f"span [{start}, {end}) is not inside {field_name} of article '{article_id}' "
                f"({len(value)} code points; need 0 <= start < end <= {len(value)})")
            return
        quoted = ann.get("text")
        actual = value[start:end]
        if quoted is not None and quoted != actual:
            bad("span-text-mismatch", "/text",
                f"text {_clip(quoted)!r} differs from {field_name}[{start}:{end}] = {_clip(actual)!r}"
                f"{_offset_hint(value, quoted, start)}")
            return
        if not layer.overlap:
            span_key = (article_id, layer.name, field_name, ann.get("annotator"))
            spans = self.state.no_overlap_spans.get(span_key)
            other = spans.overlapping(start, end) if spans is not None else None
            if other is not None:
                bad("span-overlap", "/start",
                    f"span [{start}, {end}) overlaps an earlier '{layer.name}' span [{other[0]}, {other[1]})"
                    f"{_by(span_key[3])} and the layer is declared overlap: false")
                return
            claims.append(("span", span_key, (start, end)))

    def _check_relation(self, ann: dict, order: tuple[int, int], article_id: str,
                        bad: Callable[[str, str, str], None]) -> None:
        for end_name in ("head", "tail"):
            ref = ann.get(end_name)
            if ref is None:
                bad("missing-reference", f"/{end_name}", f"a relation needs both head and tail; {end_name} is missing")
                continue
            owner = self.state.annotation_ids.get(ref, False)
            clean = self.clean_ends.get(ref)
            if owner is False and clean is not None and clean[:2] < order:  # a clean annotation read before
                owner = clean[2]
            if owner is False:
                bad("unknown-reference", f"/{end_name}",
                    f"{end_name} '{ref}' is not a valid annotation read before this relation")
            elif owner is None:
                bad("unknown-reference", f"/{end_name}", f"{end_name} '{ref}' is not a span annotation")
            elif owner != article_id:
                bad("unknown-reference", f"/{end_name}",
                    f"{end_name} '{ref}' belongs to article '{owner}', not '{article_id}'")

    def _reject(self, file: str, raw: RawLine, problems: list[Problem]) -> None:
        for p in problems:
            self.report.add(p)
        if self.rejects is not None:
            self.rejects.write(file, raw, problems)


def _by(annotator: str | None) -> str:
    """Who the earlier annotation is by, in a message; nothing when annotations name no annotator."""
    return "" if annotator is None else f" by the same annotator '{annotator}'"


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _offset_hint(value: str, quoted: str, start: int) -> str:
    """A hint when the quoted text occurs nearby: usually offsets counted in UTF-16 units or bytes."""
    found = value.find(quoted, max(0, start - 64))
    if found == -1 or found > start + 64:
        return ""
    return f"; the text occurs at [{found}, {found + len(quoted)}) — offsets counted in another unit?"
