"""Loading `dataset.yaml`: validated against `schema/dataset.schema.json`, paths resolved beside it.

A manifest may come from someone else (a shared dataset), so reading it must not hurt: the YAML is
bounded (size, nesting, no aliases, no duplicate keys), every key and string is checked before the
schema sees it, and the files it names must be regular files inside the manifest's folder after
symlinks are followed, or a shared `dataset.yaml` could copy any readable file into the rejects.
"""

from __future__ import annotations

import fnmatch
import glob
import math
import os
import stat
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from toolkit.errors import ToolkitError
from toolkit.readers import file_kind, file_size, read_small_text
from toolkit.schemas import record_properties, reference_validator

MANIFEST_NAMES = ("dataset.yaml", "dataset.yml")
# A real manifest is a few KB; the bound keeps a hostile one from costing seconds of pure-Python parsing.
MAX_MANIFEST_BYTES = 1024 * 1024
# Real manifests nest 4 deep (layers.NAME.labels.LABEL); the bound keeps the recursive composer and
# the checks below far from Python's recursion limit.
MAX_MANIFEST_DEPTH = 32
LayerKind = Literal["span", "document", "relation"]
SplitMode = Literal["hash", "published_at"]
DuplicatePolicy = Literal["group", "drop", "reject"]
Tagging = Literal["BIO", "BIOES"]
# How a single-label document layer's one label is chosen among several annotators' (articles config).
Aggregate = Literal["majority", "first"]
# splits.group_by words that are not article field paths: text duplicates, the same URL, the same title in a source.
GROUP_KEYWORDS = ("duplicates", "url", "title")


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
    aggregate: Aggregate = "majority"  # the manifest's `aggregate:`, which only single-label document layers use


@dataclass(frozen=True)
class Splits:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    seed: int = 0
    by: SplitMode = "hash"
    cutoffs: tuple[tuple[str, datetime], ...] = ()  # (split, first moment in it), increasing; by: published_at
    group_by: tuple[str, ...] = ()

    def ratios(self) -> dict[str, float]:
        """Split name → share, only the splits that get articles, in train/validation/test order."""
        return {k: v for k, v in (("train", self.train), ("validation", self.validation), ("test", self.test)) if v > 0}

    def declared(self) -> tuple[str, ...]:
        """The splits the manifest asks for, in train/validation/test order."""
        if self.by == "published_at":
            return ("train", *(name for name, _ in self.cutoffs))
        return tuple(self.ratios())

    def field_paths(self) -> tuple[tuple[str, ...], ...]:
        """The `group_by` entries that are article field paths, split at the dots."""
        return tuple(tuple(key.split(".")) for key in self.group_by if key not in GROUP_KEYWORDS)


@dataclass(frozen=True)
class Views:
    """The manifest's `views:`: which ready-to-train configs the Hub build gets, and the NER tag scheme."""

    classify: bool = True
    ner: bool = True
    relations: bool = True
    tagging: Tagging = "BIO"


def _views(spec: Any) -> Views:
    """`Views` from the schema-valid `views:` value: a boolean for every kind, or a mapping."""
    if isinstance(spec, bool):
        return Views(classify=spec, ner=spec, relations=spec)
    return Views(**(spec or {}))


@dataclass(frozen=True)
class Duplicates:
    """The manifest's `duplicates:`: what happens to duplicate articles, and the near-duplicate threshold."""

    policy: DuplicatePolicy = "group"
    threshold: float = 0.8


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
    duplicates: Duplicates = field(default_factory=Duplicates)
    views: Views = field(default_factory=Views)
    aggregate: Aggregate = "majority"

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


def _refuse(path: Path, where: str, message: str) -> NoReturn:
    """Raise the one-line error; lone surrogates are escaped because printing them would crash."""
    line = f"{path}: {where}: {message}"
    raise ToolkitError(line.encode("utf-8", "backslashreplace").decode("utf-8"))


class _RefusedYAML(yaml.MarkedYAMLError):
    """YAML that parses but that a manifest may not use (aliases, deep nesting, duplicate keys)."""


class _ManifestLoader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases and deep nesting while composing, before any value is built.

    Aliases are how a few hundred bytes ("billion laughs") expand into gigabytes; a manifest never
    needs them, so refusing them is simpler and clearer than bounding their expansion.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _RefusedYAML(
                problem=f"YAML aliases (*{event.anchor}) are not allowed in the manifest", problem_mark=event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_MANIFEST_DEPTH:
                mark = self.peek_event().start_mark
                raise _RefusedYAML(problem=f"nested more than {MAX_MANIFEST_DEPTH} levels deep", problem_mark=mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _refuse_duplicate_keys(node: yaml.Node, parts: tuple[Any, ...], path: Path) -> None:
    """PyYAML keeps the last of two equal keys silently; a curator would never see the first one lost."""
    if isinstance(node, yaml.MappingNode):
        seen: set[tuple[str, str]] = set()
        for key_node, value_node in node.value:
            scalar = isinstance(key_node, yaml.ScalarNode)
            if scalar:
                key = (key_node.tag, key_node.value)
                if key in seen:
                    at = f"line {key_node.start_mark.line + 1}"
                    _refuse(path, _pointer(parts), f"duplicate key '{key_node.value}' ({at}); YAML keeps only the last")
                seen.add(key)
            _refuse_duplicate_keys(value_node, (*parts, key_node.value if scalar else "?"), path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*parts, i), path)


def _read_yaml(path: Path) -> Any:
    """The manifest's YAML value, or `ToolkitError` naming the file (and line) for anything refused."""
    text = read_small_text(path, MAX_MANIFEST_BYTES, "; a manifest is a few KB of YAML")
    loader = _ManifestLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, (), path)
        return loader.construct_document(node)
    except _RefusedYAML as exc:
        mark = exc.problem_mark
        _refuse(path, f"line {mark.line + 1}, column {mark.column + 1}", str(exc.problem))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        _refuse(path, f"not valid YAML{at}", str(getattr(exc, "problem", exc)))
    except ValueError as exc:
        # PyYAML lets ValueError through: int() refuses more than 4300 digits (CVE-2020-10735), a
        # date like 2024-02-30 does not exist. The hint after ";" is for programmers, not curators.
        _refuse(path, "not valid YAML", f"a value cannot be converted ({str(exc).split(';')[0]})")
    finally:
        loader.dispose()


_KIND_OF_KEY = {bool: "a boolean", int: "an integer", float: "a number", type(None): "null"}


def _refuse_bad_values(value: Any, parts: tuple[Any, ...], path: Path) -> None:
    """Keys that are not strings, strings that are not Unicode, numbers that are not finite.

    The schema cannot say these precisely (an integer key passes `propertyNames`, NaN passes
    `minimum` and `maximum`) and each would crash or silently mislead the export further on.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                shown = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
                kind = _KIND_OF_KEY.get(type(key), f"a {type(key).__name__}")
                _refuse(path, _pointer(parts), f"key {shown} is {kind}, not a string (quote it: '{shown}')")
            _refuse_bad_text(key, parts, path, what=f"key '{key}'")
            _refuse_bad_values(item, (*parts, key), path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_bad_values(item, (*parts, i), path)
    elif isinstance(value, str):
        _refuse_bad_text(value, parts, path, what="text")
    elif isinstance(value, float) and not math.isfinite(value):
        _refuse(path, _pointer(parts), f"{value} is not a finite number (NaN and infinity are not allowed)")


def _refuse_bad_text(text: str, parts: tuple[Any, ...], path: Path, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Only a lone surrogate (a YAML "\ud800" escape) gets here; Parquet, JSON and the card need UTF-8.
        bad = f"\\u{ord(text[exc.start]):04x}"
        _refuse(path, _pointer(parts), f"{what} is not valid Unicode (lone surrogate {bad} at character {exc.start})")


def _refuse_outside_pattern(pattern: str, where: str, root: Path, path: Path) -> None:
    """Checked before globbing, so `/**` or `../**` never walks the rest of the disk."""
    if Path(pattern).is_absolute():
        _refuse(path, where, f"'{pattern}' is an absolute path; inputs must be inside the dataset folder {root}")
    if ".." in Path(pattern).parts:
        _refuse(path, where, f"'{pattern}' uses '..'; inputs must be inside the dataset folder {root}")


def _checked_file(named: Path, where: str, root: Path, path: Path, allow_outside: bool) -> Path:
    """The real path of NAMED after symlinks, refused unless it is a regular file (inside ROOT)."""
    try:
        real = named.resolve(strict=True)
        mode = real.stat().st_mode
    except FileNotFoundError:
        _refuse(path, where, f"{named} is not a readable file (it does not exist)")
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.11/3.12
        _refuse(path, where, f"{named} is not a readable file ({getattr(exc, 'strerror', None) or exc})")
    if not allow_outside and not real.is_relative_to(root):
        _refuse(path, where, f"{named} leads to {real}, outside the dataset folder {root}")
    if not stat.S_ISREG(mode):
        # A FIFO would block the run forever, a device could be read forever.
        _refuse(path, where, f"{named} is a {file_kind(mode)}; inputs must be regular files")
    return real


def _glob(root: Path, pattern: str) -> list[str]:
    """Files under ROOT matching PATTERN (`*`, `?`, `[…]` within a name, `**` across folders), sorted.

    Walks the folder without following symbolic links to folders: Python's own `glob` follows them,
    and one link to `/` in a dataset made `**/*.jsonl` walk the whole disk through /proc loops.
    Names starting with a dot match only a pattern part starting with a dot, as in `glob`.
    """
    parts = tuple(part for part in pattern.replace("\\", "/").split("/") if part not in ("", "."))
    found = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        relative = Path(folder).relative_to(root).parts
        for name in names + dirs:  # a folder it matches is refused by the caller, as a file kind
            if _matches(parts, (*relative, name)):
                found.append("/".join((*relative, name)))
    return sorted(found)


def _matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(_matches(pattern[1:], path[i:]) for i in range(len(path) + 1) if not any(
            part.startswith(".") for part in path[:i]))
    if not path or (path[0].startswith(".") and not pattern[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(path[0], pattern[0]) and _matches(pattern[1:], path[1:])


def _resolve(root: Path, patterns: list[str], key: str, path: Path, allow_outside: bool = False) -> tuple[Path, ...]:
    """Files named by PATTERNS (paths or globs relative to ROOT), in manifest order, each once.

    ROOT must be resolved. Each file is kept under the name the manifest gives it (reports and
    rejects say `articles.jsonl`, not the target of a symlink); the same file reached twice, by
    two patterns or through a symlink, is read once.
    """
    files: dict[Path, Path] = {}  # real path -> as named; a dict keeps order and dedupes in linear time
    for i, pattern in enumerate(patterns):
        where = f"{key}[{i}]"
        if not allow_outside:
            _refuse_outside_pattern(pattern, where, root, path)
        # A file whose name has glob characters (`[v2] articles.jsonl`) is taken as written first.
        if glob.has_magic(pattern) and not (root / pattern).is_file():
            # An absolute or `..` pattern gets here only by the opt-in: Python's glob, as asked.
            outside = Path(pattern).is_absolute() or ".." in Path(pattern).parts
            matches = sorted(glob.glob(pattern, root_dir=root, recursive=True)) if outside else _glob(root, pattern)
            if not matches:
                _refuse(path, where, f"'{pattern}' matches no file (relative to {root})")
        else:
            matches = [pattern]
        for match in matches:
            named = root / match  # an absolute path (allowed only by opt-in) replaces ROOT
            files.setdefault(_checked_file(named, where, root, path, allow_outside), named)
    return tuple(files.values())


def _layer(name: str, spec: dict[str, Any], aggregate: Aggregate = "majority") -> Layer:
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
        aggregate=aggregate,
    )


def parse_manifest(raw: Any, path: Path, *, allow_outside: bool = False) -> Manifest:
    """Check a parsed manifest and build a `Manifest`; errors (`ToolkitError`) name the key.

    Keys must be strings, strings valid Unicode and numbers finite; then `dataset.schema.json`
    applies; then every file named must be a regular file inside the manifest's folder after
    following symlinks, unless `allow_outside` (absolute paths, `..`, symlinks leading out).
    """
    _refuse_bad_values(raw, (), path)
    raw = _cutoffs_as_text(raw)
    errors = sorted(reference_validator("dataset").iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ToolkitError(f"{path}: {_pointer(first.absolute_path)}: {first.message}{more}")
    splits = _splits(raw.get("splits") or {}, path)
    root = path.parent.resolve()
    return Manifest(
        path=path,
        name=raw["name"],
        article_files=_resolve(root, raw["articles"], "articles", path, allow_outside),
        annotation_files=_resolve(root, raw.get("annotations") or [], "annotations", path, allow_outside),
        layers={name: _layer(name, spec, raw.get("aggregate", "majority")) for name, spec in raw["layers"].items()},
        splits=splits,
        raw=raw,
        duplicates=Duplicates(**(raw.get("duplicates") or {})),
        views=_views(raw.get("views", True)),
        aggregate=raw.get("aggregate", "majority"),
    )


def _cutoffs_as_text(raw: dict[str, Any]) -> dict[str, Any]:
    """YAML reads an unquoted 2024-06-01 as a date: cut-offs are compared as the text the schema checks."""
    cutoffs = (raw.get("splits") or {}).get("cutoffs") if isinstance(raw.get("splits"), dict) else None
    if not isinstance(cutoffs, dict) or not any(isinstance(v, date) for v in cutoffs.values()):
        return raw
    text = {k: v.isoformat() if isinstance(v, date) else v for k, v in cutoffs.items()}
    return {**raw, "splits": {**raw["splits"], "cutoffs": text}}


def _splits(spec: dict[str, Any], path: Path) -> Splits:
    """`Splits` from the schema-valid `splits:` mapping; `ToolkitError` naming the key when values make no sense."""
    by = spec.get("by", "hash")
    ratios = {k: spec[k] for k in ("train", "validation", "test") if k in spec}
    if by == "published_at":
        if ratios:
            _refuse(path, f"splits.{next(iter(ratios))}", "ratios are not used with by: published_at "
                    "(the cut-off dates decide); remove them")
        if "cutoffs" not in spec:
            _refuse(path, "splits.cutoffs", "by: published_at needs cut-off dates (cutoffs: {validation: …, test: …})")
        splits = Splits(by=by, seed=spec.get("seed", 0), cutoffs=_cutoffs(spec["cutoffs"], path))
    else:
        if "cutoffs" in spec:
            _refuse(path, "splits.cutoffs", "cut-off dates are only used with by: published_at")
        splits = Splits(**ratios, seed=spec.get("seed", 0))
        total = splits.train + splits.validation + splits.test
        if abs(total - 1.0) > 1e-6:
            raise ToolkitError(f"{path}: splits: train + validation + test must sum to 1, not {total:g}")
    for i, key in enumerate(spec.get("group_by") or ()):
        if key not in GROUP_KEYWORDS:
            problem = _field_path_problem(key)
            if problem:
                _refuse(path, f"splits.group_by[{i}]", problem)
    return Splits(splits.train, splits.validation, splits.test, splits.seed, splits.by, splits.cutoffs,
                  tuple(spec.get("group_by") or ()))


def _cutoffs(spec: dict[str, str], path: Path) -> tuple[tuple[str, datetime], ...]:
    from toolkit.arrow_types import parse_timestamp

    moments: list[tuple[str, datetime]] = []
    for name in ("validation", "test"):  # the order splits follow in time
        if name not in spec:
            continue
        try:
            moment = parse_timestamp(spec[name])
        except (ValueError, OverflowError):
            _refuse(path, f"splits.cutoffs.{name}", f"{spec[name]!r} is not a date (YYYY-MM-DD) or RFC 3339 date-time")
        if moments and moment <= moments[-1][1]:
            _refuse(path, f"splits.cutoffs.{name}", f"{spec[name]} is not after the {moments[-1][0]} cut-off "
                    f"{spec[moments[-1][0]]}; cut-offs must increase (validation, then test)")
        moments.append((name, moment))
    return tuple(moments)


def _field_path_problem(key: str) -> str | None:
    """Why `key` is not a path to a scalar (or a list of scalars) in the article schema, or None."""
    spec: Any = {"type": "object", "properties": record_properties("article")}
    known = f"{', '.join(GROUP_KEYWORDS)} or an article field path such as source.name or meta.story_id"
    for depth, part in enumerate(key.split(".")):
        if spec.get("type") != "object":
            return f"'{key}' is not a field of the article ({'.'.join(key.split('.')[:depth])} holds no fields)"
        properties = spec.get("properties") or {}
        extra = spec.get("additionalProperties")
        if part in properties:
            spec = properties[part]
        elif isinstance(extra, dict):  # an open object such as meta: any key
            spec = extra
        else:
            return f"'{key}' is not a field of the article (expected {known})"
    if spec.get("type") == "array":
        spec = spec.get("items") or {}
    if spec.get("type") in ("object", "array") or key == "annotations":
        return f"'{key}' holds objects, not values to group by (name a field inside it)"
    return None


def load_manifest(path: Path | str, *, allow_outside: bool = False) -> Manifest:
    """Read and check the manifest at PATH (a dataset folder or the manifest file).

    Raises `ToolkitError` (exit code 2) naming the file and the offending key when the manifest is
    missing, larger than 1 MiB, not YAML or uses YAML aliases or duplicate keys, has a key that is not
    a string, text that is not Unicode or a NaN/infinite number, breaks `dataset.schema.json`, or
    names files that do not exist, are not regular files or (unless `allow_outside`) lie outside
    the manifest's folder.
    """
    manifest_path = find_manifest(Path(path))
    raw = _read_yaml(manifest_path)
    if not isinstance(raw, dict):
        raise ToolkitError(f"{manifest_path}: the manifest must be a YAML mapping (name:, articles:, layers: …)")
    return parse_manifest(raw, manifest_path.resolve(), allow_outside=allow_outside)
