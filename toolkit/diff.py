"""Release diff: what changed between two builds, or two dataset folders — articles, annotations, splits.

A curator publishing version N+1 of a corpus wants to say what changed and a downstream user wants
to know whether their numbers still compare: articles added, removed and edited (by a hash of
their fields), annotations added, removed and edited per layer and label, label counts before and
after, and articles that moved split (a leak if it happens silently). Both sides are read by
DuckDB straight from the build files (Parquet or JSONL, compressed or not), so a diff of two
multi-GB releases runs in bounded memory; a dataset folder is first exported to a temporary
Parquet build, so what is compared is exactly what `export` would publish.

Scratch files (the DuckDB database, its spill files, exported dataset folders) live in one folder
under `TMPDIR` (or `temp_dir`) owned by the run: a missing or unwritable `TMPDIR` is a `ToolkitError`
naming it, and what a killed run left there is removed by the next one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from toolkit.errors import ToolkitError
from toolkit.publish import owned_directory
from toolkit.schemas import record_properties

ID_LIMIT = 1000  # ids listed per category (counts are always exact)
SCRATCH_PREFIX = "news-toolkit-diff-"  # folders in TMPDIR; a killed run's are swept by the next run
# The split is in the file's own name (`train-00000-of-00004.parquet`); anchored to the last path
# part so that a folder above the build named like a shard cannot be taken for the split.
_SPLIT = r"([A-Za-z0-9_]+)-\d{5}-of-\d{5}[^/\\]*$"
_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")  # in order of preference, as `export` writes
_GLOB_CHARS = "*?["  # what DuckDB expands in a file path


@dataclass(frozen=True)
class LabelChange:
    layer: str
    label: str
    old: int
    new: int
    added: int
    removed: int
    edited: int


@dataclass(frozen=True)
class BuildDiff:
    """Counts are exact; id lists hold at most `ID_LIMIT` ids each, in id order."""

    old: str
    new: str
    articles: dict[str, int]  # old, new, added, removed, edited, moved
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    edited: list[str] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # id, old split, new split
    labels: list[LabelChange] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        a = self.articles
        return not (a["added"] or a["removed"] or a["edited"] or a["moved"]
                    or any(c.added or c.removed or c.edited for c in self.labels))

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old, "new": self.new, "articles": self.articles,
            "added": self.added, "removed": self.removed, "edited": self.edited,
            "moved": [{"id": i, "old_split": a, "new_split": b} for i, a, b in self.moved],
            "labels": [c.__dict__ for c in self.labels],
        }


def _literal(text: str) -> str:
    """`text` as a SQL string literal: a DuckDB string ends only at `'` (doubled inside); `\\` is plain."""
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    """A column name as a quoted SQL identifier (names come from the files and may hold any character)."""
    return '"' + name.replace('"', '""') + '"'


def _exact(path: Path) -> str:
    """`path` as a DuckDB file pattern that matches that one file only.

    DuckDB expands `*`, `?` and `[...]` in every path it reads, listed or not, so each such character
    goes in a one-character class (`[*]`) that matches exactly itself.
    """
    return "".join(f"[{char}]" if char in _GLOB_CHARS else char for char in path.as_posix())


def _data_files(build: Path, config: str) -> list[Path]:
    """The files of `data/<config>/` of one format (Parquet first, then JSONL), sorted, as absolute paths.

    Listed here, not by a DuckDB glob, so that the build's own path is never read as a pattern. The
    folder is resolved: absolute, so that DuckDB cannot read a leading `~` or a `name:` part as a home
    folder or a protocol, and without `..`, which DuckDB drops while globbing (the check in `_scan`
    compares what DuckDB finds with these names).
    """
    folder = build.resolve() / "data" / config
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        names = []
    for suffix in _SUFFIXES:
        files = [folder / name for name in names if name.endswith(suffix)]
        if files:
            return files
    raise ToolkitError(f"{build}: not a news-toolkit build (no data/{config}/ files); give a build or a dataset folder")


def _scan(con: duckdb.DuckDBPyConnection, files: list[Path]) -> str:
    """A DuckDB table function reading exactly `files`, with the file name (it holds the split)."""
    listed = "[" + ", ".join(_literal(_exact(path)) for path in files) + "]"
    # The escaping is DuckDB's glob syntax: check that it names these files and no others, so that a
    # DuckDB reading patterns differently fails here rather than comparing the wrong files.
    found = sorted(row[0] for row in con.execute(f"SELECT file FROM glob({listed})").fetchall())
    if found != sorted(path.as_posix() for path in files):
        raise ToolkitError(f"{files[0].parent}: DuckDB cannot name these files exactly; "
                           "copy the build to a folder whose path has no *, ? or [")
    if files[0].name.endswith(".parquet"):
        return f"read_parquet({listed}, filename = true)"
    return f"read_json({listed}, format = 'newline_delimited', filename = true)"


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def _load(con: duckdb.DuckDBPyConnection, build: Path, side: str) -> None:
    """Tables `<side>_art(id, split, hash)` and `<side>_ann(id, layer, label, hash)` of one build."""
    articles = _scan(con, _data_files(build, "articles"))
    present = set(_columns(con, articles))
    # The article's own fields (from the schema), not the layer columns: annotation changes are
    # counted per annotation, and an article is "edited" only when its text or metadata changed.
    fields = [name for name in record_properties("article") if name in present]
    packed = ", ".join(f"{_identifier(name)} := {_identifier(name)}" for name in fields)
    con.execute(f"""CREATE TABLE {side}_art AS
        SELECT id, regexp_extract(filename, {_literal(_SPLIT)}, 1) AS split,
               md5(CAST(struct_pack({packed}) AS VARCHAR)) AS hash
        FROM {articles}""")
    if not (build / "data" / "annotations").is_dir():
        # A corpus without annotations has no `annotations` config: nothing to compare there, not an error.
        con.execute(f"CREATE TABLE {side}_ann (id VARCHAR, layer VARCHAR, label VARCHAR, hash VARCHAR)")
        return
    annotations = _scan(con, _data_files(build, "annotations"))
    ann_fields = [name for name in _columns(con, annotations) if name != "filename"]
    packed = ", ".join(f"{_identifier(name)} := {_identifier(name)}" for name in ann_fields)
    con.execute(f"""CREATE TABLE {side}_ann AS
        SELECT id, layer, CAST(label AS VARCHAR) AS label, md5(CAST(struct_pack({packed}) AS VARCHAR)) AS hash
        FROM {annotations}""")


def _ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return [row[0] for row in con.execute(f"{sql} ORDER BY 1 LIMIT {ID_LIMIT}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])  # type: ignore[index]


@contextmanager
def _scratch(temp_dir: Path | str | None) -> Iterator[Path]:
    """An owned scratch folder under `temp_dir` (default: TMPDIR), removed on exit; swept if the run is killed."""
    # TMPDIR as given (the staging store's rule): tempfile would quietly fall back to /tmp when it is
    # unusable, and a curator who points TMPDIR at a big disk wants to hear that, not fill /tmp.
    parent = Path(temp_dir or os.environ.get("TMPDIR") or tempfile.gettempdir())
    with ExitStack() as owner:
        try:
            folder = owner.enter_context(owned_directory(parent, SCRATCH_PREFIX))
        except ToolkitError as exc:
            raise ToolkitError(f"{parent}: cannot create the diff's scratch folder ({exc.message}); "
                               "set TMPDIR to a writable folder with free space") from None
        # Outside the try: a ToolkitError of the diff itself must not be reported as TMPDIR's.
        yield folder


def diff_builds(old: Path, new: Path, temp_dir: Path | str | None = None) -> BuildDiff:
    """Compare two builds (any format) on article ids, article hashes, splits and annotations."""
    with _scratch(temp_dir) as scratch:
        return _diff_in(old, new, scratch)


def _diff_in(old: Path, new: Path, scratch: Path) -> BuildDiff:
    """`diff_builds` with its database and spill files in the (owned) folder `scratch`."""
    spill = scratch / "spill"
    try:
        spill.mkdir()
    except OSError as exc:
        raise ToolkitError(f"cannot create {spill}: {exc.strerror or exc}; "
                           "set TMPDIR to a writable folder with free space") from None
    con = duckdb.connect(str(scratch / "diff.duckdb"))
    try:
        con.execute(f"SET temp_directory = {_literal(str(spill))}")
        con.execute("SET memory_limit = '512MB'")
        _load(con, old, "old")
        _load(con, new, "new")
        return _compare(con, str(old), str(new))
    except duckdb.Error as exc:
        text = str(exc).splitlines()[0]
        raise ToolkitError(f"cannot compare {old} and {new}: {text}") from None
    finally:
        con.close()


def _compare(con: duckdb.DuckDBPyConnection, old: str, new: str) -> BuildDiff:
    added = "SELECT id FROM new_art ANTI JOIN old_art USING (id)"
    removed = "SELECT id FROM old_art ANTI JOIN new_art USING (id)"
    edited = "SELECT n.id FROM new_art n JOIN old_art o USING (id) WHERE n.hash <> o.hash"
    moved = "SELECT n.id, o.split, n.split FROM new_art n JOIN old_art o USING (id) WHERE n.split <> o.split"
    counts = {
        "old": _count(con, "SELECT id FROM old_art"), "new": _count(con, "SELECT id FROM new_art"),
        "added": _count(con, added), "removed": _count(con, removed),
        "edited": _count(con, edited), "moved": _count(con, moved),
    }
    moved_rows = con.execute(f"{moved} ORDER BY 1 LIMIT {ID_LIMIT}").fetchall()
    labels = con.execute("""
        WITH keys AS (SELECT layer, label FROM old_ann UNION SELECT layer, label FROM new_ann),
        o AS (SELECT layer, label, count(*) AS n FROM old_ann GROUP BY ALL),
        n AS (SELECT layer, label, count(*) AS n FROM new_ann GROUP BY ALL),
        a AS (SELECT layer, label, count(*) AS n FROM new_ann ANTI JOIN old_ann USING (id) GROUP BY ALL),
        r AS (SELECT layer, label, count(*) AS n FROM old_ann ANTI JOIN new_ann USING (id) GROUP BY ALL),
        e AS (SELECT x.layer, x.label, count(*) AS n FROM new_ann x JOIN old_ann y USING (id)
              WHERE x.hash <> y.hash GROUP BY ALL)
        SELECT k.layer, k.label, coalesce(o.n, 0), coalesce(n.n, 0), coalesce(a.n, 0), coalesce(r.n, 0),
               coalesce(e.n, 0)
        FROM keys k LEFT JOIN o USING (layer, label) LEFT JOIN n USING (layer, label)
        LEFT JOIN a USING (layer, label) LEFT JOIN r USING (layer, label) LEFT JOIN e USING (layer, label)
        ORDER BY k.layer, k.label""").fetchall()
    return BuildDiff(
        old=old, new=new, articles=counts,
        added=_ids(con, added), removed=_ids(con, removed), edited=_ids(con, edited),
        moved=[(i, a, b) for i, a, b in moved_rows],
        labels=[LabelChange(*row) for row in labels],
    )


def _is_build(path: Path) -> bool:
    return (path / "data" / "articles").is_dir()


def diff(old: Path | str, new: Path | str, *, temp_dir: Path | str | None = None) -> BuildDiff:
    """What changed from OLD to NEW: each a build folder (hf, parquet or jsonl) or a dataset folder.

    Dataset folders are exported (valid records only) to a temporary Parquet build first.
    Raises `ToolkitError` (exit 2) for a path that is neither.
    """
    from toolkit.export import export

    old, new = Path(old), Path(new)
    for path in (old, new):
        if not path.is_dir():
            raise ToolkitError(f"{path}: not a folder (give a build or a dataset folder)")
    with _scratch(temp_dir) as scratch:
        sides = []
        for i, path in enumerate((old, new)):
            if _is_build(path):
                sides.append(path)
            else:
                out = scratch / f"side-{i}"
                sides.append(export(path, format="parquet", out_dir=out, skip_invalid=True, temp_dir=temp_dir).output)
        result = _diff_in(sides[0], sides[1], scratch)
    return BuildDiff(**{**result.__dict__, "old": str(old), "new": str(new)})
