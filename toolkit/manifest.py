"""Loading `dataset.yaml`: validated against `schema/dataset.schema.json`, paths resolved beside it."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from toolkit.errors import ToolkitError
from toolkit.readers import file_size
from toolkit.schemas import reference_validator

MANIFEST_NAMES = ("dataset.yaml", "dataset.yml")
LayerKind = Literal["span", "document", "relation"]


@dataclass(frozen=True)
class Layer:
    """An annotation layer as declared in the manifest; `labels` keep the manifest's order."""

    name: str
    kind: LayerKind
    labels: tuple[str, ...]
    label_descriptions: dict[str, str] = field(default_factory=dict)
    overlap: bool = True
    multi: bool = False
    description: str = ""


@dataclass(frozen=True)
class Splits:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 0

    def ratios(self) -> dict[str, float]:
        """Split name → share, only the splits that get articles, in train/validation/test order."""
        return {k: v for k, v in (("train", self.train), ("validation", self.validation), ("test", self.test)) if v > 0}


@dataclass(frozen=True)
class Manifest:
    """A dataset: where its records are and what its layers and splits are."""

    path: Path
    name: str
    article_files: tuple[Path, ...]
    annotation_files: tuple[Path, ...]
    layers: dict[str, Layer]
    splits: Splits
    raw: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.path.parent

    def input_bytes(self) -> int:
        """Bytes on disk of every record file (compressed size for compressed files)."""
        return sum(file_size(p) for p in (*self.article_files, *self.annotation_files))

    def get(self, key: str, default: Any = None) -> Any:
        """A descriptive key of the manifest (pretty_name, license, citation, …)."""
        return self.raw.get(key, default)


def find_manifest(path: Path) -> Path:
    """The manifest file for PATH: the file itself, or `dataset.yaml` inside a folder."""
    if path.is_dir():
        for name in MANIFEST_NAMES:
            if (path / name).is_file():
                return path / name
        raise ToolkitError(f"{path}: no dataset.yaml in this folder")
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise ToolkitError(
                f"{path}: expected a dataset folder or its dataset.yaml, not a {path.suffix or 'plain'} file"
            )
        return path
    raise ToolkitError(f"{path}: no such file or folder")


def _pointer(parts: Any) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def _resolve(root: Path, patterns: list[str], key: str) -> tuple[Path, ...]:
    files: list[Path] = []
    for i, pattern in enumerate(patterns):
        full = pattern if Path(pattern).is_absolute() else str(root / pattern)
        matches = sorted(glob.glob(full, recursive=True)) if glob.has_magic(pattern) else [full]
        matches = [m for m in matches if Path(m).is_file() or not glob.has_magic(pattern)]
        if not matches:
            raise ToolkitError(f"{key}[{i}]: '{pattern}' matches no file (relative to {root})")
        for m in matches:
            p = Path(m)
            if not p.is_file():
                raise ToolkitError(f"{key}[{i}]: {p} is not a readable file")
            if p not in files:
                files.append(p)
    return tuple(files)


def _layer(name: str, spec: dict[str, Any]) -> Layer:
    labels = spec["labels"]
    descriptions = {k: v for k, v in labels.items() if v} if isinstance(labels, dict) else {}
    return Layer(
        name=name,
        kind=spec["kind"],
        labels=tuple(labels),
        label_descriptions=descriptions,
        overlap=spec.get("overlap", True),
        multi=spec.get("multi", False),
        description=spec.get("description", ""),
    )


def parse_manifest(raw: Any, path: Path) -> Manifest:
    """Check a parsed manifest against the schema and build a `Manifest`; errors name the key."""
    errors = sorted(reference_validator("dataset").iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ToolkitError(f"{path}: {_pointer(first.absolute_path)}: {first.message}{more}")
    splits = Splits(**(raw.get("splits") or {}))
    total = splits.train + splits.validation + splits.test
    if abs(total - 1.0) > 1e-6:
        raise ToolkitError(f"{path}: splits: train + validation + test must sum to 1, not {total:g}")
    root = path.parent
    return Manifest(
        path=path,
        name=raw["name"],
        article_files=_resolve(root, raw["articles"], "articles"),
        annotation_files=_resolve(root, raw.get("annotations") or [], "annotations"),
        layers={name: _layer(name, spec) for name, spec in raw["layers"].items()},
        splits=splits,
        raw=raw,
    )


def load_manifest(path: Path | str) -> Manifest:
    """Read and check the manifest at PATH (a dataset folder or the manifest file).

    Raises `ToolkitError` (exit code 2) naming the file and the offending key when the manifest is
    missing, is not YAML, breaks `dataset.schema.json`, or points at files that do not exist.
    """
    manifest_path = find_manifest(Path(path))
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ToolkitError(f"{manifest_path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ToolkitError(f"{manifest_path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ToolkitError(f"{manifest_path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ToolkitError(f"{manifest_path}: the manifest must be a YAML mapping (name:, articles:, layers: …)")
    return parse_manifest(raw, manifest_path.resolve())
