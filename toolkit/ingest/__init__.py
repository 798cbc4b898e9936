"""Getting data in: annotation-tool importers and the plain-text article parser.

Every importer is one module with one public function `read(paths, options) -> Imported`, and one
line in `IMPORTERS` below. An importer reads only its tool's format: `toolkit.ingest.files` finds and
decodes the files, `toolkit.ingest.builder.ImportBuilder` makes the records (ids, offsets, checks,
layers, problems). `toolkit.ingest.dataset_writer.write_dataset` turns an `Imported` into
a dataset folder (`dataset.yaml`, `articles.jsonl`, `annotations.jsonl`) that `validate` accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toolkit.problems import Problem

LayerKind = Literal["span", "document", "relation"]
OffsetUnit = Literal["codepoint", "utf16"]


@dataclass(frozen=True)
class ImportOptions:
    """Options every importer understands. `offset_unit=None` means the tool's documented unit."""

    offset_unit: OffsetUnit | None = None
    language: str = "und"


# Something in a tool export that could not be imported: the one `Problem` type, with a code from
# `toolkit.problems.IMPORT_CODES`. The old name stays for callers that imported it.
ImportProblem = Problem


@dataclass
class Imported:
    """What an importer read: records in the toolkit's data model (DESIGN.md §1).

    `articles` carry no embedded annotations; `annotations` carry `article_id`. `layers` maps a
    layer name to its kind; `labels` maps a layer name to every label seen, in first-seen order.
    `skipped` counts what was deliberately left out (cancelled annotations, brat events…) by reason.
    """

    articles: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    layers: dict[str, LayerKind] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def declare(self, layer: str, kind: LayerKind, label: str) -> None:
        """Record that `label` was seen in `layer` (of `kind`)."""
        self.layers.setdefault(layer, kind)
        seen = self.labels.setdefault(layer, [])
        if label not in seen:
            seen.append(label)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


Importer = Callable[[Sequence[Path], ImportOptions], Imported]


# One line per tool: name → module holding its `read(paths, options) -> Imported`.
IMPORTERS: dict[str, str] = {
    "labelstudio": "toolkit.ingest.labelstudio",
    "doccano": "toolkit.ingest.doccano",
    "brat": "toolkit.ingest.brat",
    "webanno": "toolkit.ingest.webanno",
    "semeval": "toolkit.ingest.semeval",
    "conll": "toolkit.ingest.conll",
    "spacy": "toolkit.ingest.spacy_jsonl",
}


def importer_names() -> list[str]:
    return list(IMPORTERS)


def get_importer(name: str) -> Importer:
    """The `read` function of a tool's importer (imported on first use, so `import toolkit` stays cheap)."""
    import importlib

    return importlib.import_module(IMPORTERS[name]).read


@dataclass(frozen=True)
class ImportSummary:
    """What `import_dataset` wrote and what it could not import."""

    manifest: Path
    articles: int
    annotations: int
    layers: dict[str, LayerKind]
    skipped: dict[str, int]
    problems: list[Problem]


def import_dataset(
    tool: str,
    paths: Sequence[Path],
    out_dir: Path,
    *,
    name: str | None = None,
    options: ImportOptions = ImportOptions(),
) -> ImportSummary:
    """Read a tool's export files and write a dataset folder (`dataset.yaml`, `articles.jsonl`, `annotations.jsonl`).

    Layers and label sets are discovered from the data. Inputs that cannot be imported are listed
    in `problems` (file and line) and left out; everything else is written.
    `out_dir` is replaced whole, atomically, and only if it is absent, empty or an earlier news-toolkit
    output (it carries `toolkit.publish.MARKER`).
    Raises `ToolkitError` (exit 2) for an unknown tool, when no input path exists, or when `out_dir`
    may not be replaced (checked before any input is read).
    """
    import re
    import stat

    from toolkit.errors import ToolkitError
    from toolkit.ingest.dataset_writer import write_dataset
    from toolkit.publish import check_replaceable
    from toolkit.readers import file_kind

    if tool not in importer_names():
        raise ToolkitError(f"unknown tool '{tool}' (choose from {', '.join(importer_names())})")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ToolkitError(f"no such file or folder: {', '.join(missing)}")
    # A FIFO would hang an importer and a device never ends; the importers' own file lists would call
    # them "no such file or folder". Refuse them here, by name and kind, before anything is read.
    special: list[str] = []
    for p in paths:
        try:
            mode = p.stat().st_mode
        except OSError:
            continue  # gone or unreadable since: the importer reports it with that file
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            special.append(f"{p} ({file_kind(mode)})")
    if special:
        raise ToolkitError(f"not a regular file or folder: {', '.join(special)}")
    slug = name or re.sub(r"[^a-z0-9-]+", "-", out_dir.resolve().name.lower()).strip("-")[:64] or "imported"
    if not slug[0].isalnum():
        slug = f"d{slug}"[:64]
    # Fail before a long read; write_dataset checks again under its lock. An input inside --out
    # would be deleted with the folder it sits in.
    check_replaceable(Path(out_dir), paths, kind="dataset", name=slug)
    imported = get_importer(tool)(list(paths), options)
    manifest = write_dataset(
        imported, out_dir, slug, language=[options.language] if options.language != "und" else None, inputs=paths
    )
    return ImportSummary(
        manifest,
        len(imported.articles),
        len(imported.annotations),
        dict(imported.layers),
        dict(imported.skipped),
        list(imported.problems),
    )
