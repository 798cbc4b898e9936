"""Release diff: what changed between two builds, or two dataset folders — articles, annotations, splits.

A curator publishing version N+1 of a corpus wants to say what changed and a downstream user wants
to know whether their numbers still compare: articles added, removed and edited (by a hash of
their fields), annotations added, removed and edited per layer and label, label counts before and
after, and articles that moved split (a leak if it happens silently). Both sides are read by
DuckDB straight from the build files (Parquet or JSONL, compressed or not), so a diff of two
multi-GB releases runs in bounded memory; a dataset folder is first exported to a temporary
Parquet build, so what is compared is exactly what `export` would publish.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from toolkit.errors import ToolkitError
from toolkit.schemas import record_properties

ID_LIMIT = 1000  # ids listed per category (counts are always exact)
_SPLIT = r"([A-Za-z0-9_]+)-\d{5}-of-\d{5}"


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


def _data_files(build: Path, config: str) -> str:
    folder = build / "data" / config
    for pattern in ("*.parquet", "*.jsonl", "*.jsonl.gz", "*.jsonl.zst"):
        if any(folder.glob(pattern)):
            return (folder / pattern).as_posix()
    raise ToolkitError(f"{build}: not a news-toolkit build (no data/{config}/ files); give a build or a dataset folder")


def _scan(path: str) -> str:
    """A DuckDB table function reading the files of `path`, with the file name (it holds the split)."""
    quoted = path.replace("'", "''")
    if path.endswith(".parquet"):
        return f"read_parquet('{quoted}', filename = true)"
    return f"read_json('{quoted}', format = 'newline_delimited', filename = true)"


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]


def _load(con: duckdb.DuckDBPyConnection, build: Path, side: str) -> None:
    """Tables `<side>_art(id, split, hash)` and `<side>_ann(id, layer, label, hash)` of one build."""
    articles = _scan(_data_files(build, "articles"))
    annotations = _scan(_data_files(build, "annotations"))
    present = set(_columns(con, articles))
    # The article's own fields (from the schema), not the layer columns: annotation changes are
    # counted per annotation, and an article is "edited" only when its text or metadata changed.
    fields = [name for name in record_properties("article") if name in present]
    packed = ", ".join(f'"{name}" := "{name}"' for name in fields)
    con.execute(f"""CREATE TABLE {side}_art AS
        SELECT id, regexp_extract(filename, '{_SPLIT}', 1) AS split, md5(CAST(struct_pack({packed}) AS VARCHAR)) AS hash
        FROM {articles}""")
    ann_fields = [name for name in _columns(con, annotations) if name != "filename"]
    packed = ", ".join(f'"{name}" := "{name}"' for name in ann_fields)
    con.execute(f"""CREATE TABLE {side}_ann AS
        SELECT id, layer, CAST(label AS VARCHAR) AS label, md5(CAST(struct_pack({packed}) AS VARCHAR)) AS hash
        FROM {annotations}""")


def _ids(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return [row[0] for row in con.execute(f"{sql} ORDER BY 1 LIMIT {ID_LIMIT}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0])  # type: ignore[index]


def diff_builds(old: Path, new: Path, temp_dir: Path | None = None) -> BuildDiff:
    """Compare two builds (any format) on article ids, article hashes, splits and annotations."""
    with tempfile.TemporaryDirectory(prefix="news-toolkit-diff-", dir=temp_dir) as scratch:
        con = duckdb.connect(str(Path(scratch) / "diff.duckdb"))
        try:
            con.execute(f"SET temp_directory = '{scratch}'")
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


def diff(old: Path | str, new: Path | str, *, temp_dir: Path | None = None) -> BuildDiff:
    """What changed from OLD to NEW: each a build folder (hf, parquet or jsonl) or a dataset folder.

    Dataset folders are exported (valid records only) to a temporary Parquet build first.
    Raises `ToolkitError` (exit 2) for a path that is neither.
    """
    from toolkit.export import export

    old, new = Path(old), Path(new)
    with tempfile.TemporaryDirectory(prefix="news-toolkit-diff-builds-", dir=temp_dir) as scratch:
        sides = []
        for i, path in enumerate((old, new)):
            if not path.is_dir():
                raise ToolkitError(f"{path}: not a folder (give a build or a dataset folder)")
            if _is_build(path):
                sides.append(path)
            else:
                out = Path(scratch) / f"side-{i}"
                sides.append(export(path, format="parquet", out_dir=out, skip_invalid=True).output)
        result = diff_builds(sides[0], sides[1], temp_dir=temp_dir)
    return BuildDiff(**{**result.__dict__, "old": str(old), "new": str(new)})

