"""Croissant 1.1 metadata (JSON-LD) for a Hugging Face–layout build.

The caller writes the returned dict as `croissant.json` at the root of the build; every
`contentUrl` and `includes` glob is relative to that file, so the folder can be moved or uploaded
as it is. The shape, checked against mlcroissant 1.1.1 (`mlcroissant validate`, `Dataset.records`):

- `distribution`: one `cr:FileObject` per Parquet shard (its path and sha256), and one `cr:FileSet`
  per config (`includes: data/<config>/*.parquet`) through which the config's record set reads
  every shard of every split.
- `recordSet`, per config: `<config>_splits`, the config's split names inline (`dataType:
  cr:Split`), and `<config>`, with a `<config>/split` field (taken from the shard's path by a
  regex, referencing the split names) and one `cr:Field` per column, typed from the
  `datasets.Features`. A struct is a field with `subField`s read by `transform.jsonPath`; a list
  is `isArray: true`; a list of structs is both.

What readers get from mlcroissant 1.1.1:
- `records("<config>")` yields every row of every split, text as UTF-8 bytes, timestamps as
  `pd.Timestamp`, a list of structs as a list of dicts keyed by sub-field @id.
- `records("<config>", filters={"<config>/split": "train"})` reads only that split's shards and
  streams them file by file. Without a filter the split join makes mlcroissant read the whole
  config into memory, and a second `records()` of the same config on the same `mlc.Dataset`
  yields nothing (it caches the exhausted generator) — open a new `mlc.Dataset` to read again.
- Records are read through the FileSets, so mlcroissant does not check the FileObjects' sha256
  (it hashes only FileObjects a field reads directly); the hashes serve whoever downloads the
  shards, as `SHA256SUMS` does.
- A null list of structs comes back as one all-None struct and a null struct as a dict of Nones:
  write `[]` rather than null for an empty layer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from datasets import ClassLabel, Features, Json, LargeList, List, Value

CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
PARQUET = "application/x-parquet"

# The @context of the Croissant 1.1 specification (Appendix 1) plus the four terms mlcroissant's
# own context adds (path, repeated, replace, samplingRate; it warns when one is missing), with
# schema.org as https: the appendix says http://schema.org/, but mlcroissant 1.1.1 (like the Hub)
# only knows https://schema.org/ and, given http, finds no sc:Dataset and refuses the file.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "annotation": "cr:annotation",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "excludes": "cr:excludes",
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "readLines": "cr:readLines",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sdVersion": "cr:sdVersion",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
    "unArchive": "cr:unArchive",
    "value": "cr:value",
}

# `datasets.Value.dtype` → Croissant atomic data type (timestamps are handled apart: their dtype
# carries a unit and a time zone).
_VALUE_TYPES: dict[str, str] = {
    "bool": "sc:Boolean",
    "string": "sc:Text",
    "large_string": "sc:Text",
    "date32": "sc:Date",
    "date64": "sc:Date",
    **{f"{sign}int{bits}": "sc:Integer" for sign in ("", "u") for bits in (8, 16, 32, 64)},
    **{f"float{bits}": "sc:Float" for bits in (16, 32, 64)},
}

# Shards are named as the Hub names them: data/<config>/<split>-NNNNN-of-NNNNN.parquet, where a
# split name matches `^\w+(\.\w+)*$` (what `datasets` accepts).
_SHARD = re.compile(r"(?P<split>\w+(?:\.\w+)*)-\d+-of-\d+\.parquet")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+")


def croissant_metadata(
    *,
    name: str,
    description: str,
    license: str,
    url: str | None,
    version: str | None,
    citation: str | None,
    date_published: str | None,
    configs: Mapping[str, Features],
    field_descriptions: Mapping[str, Mapping[str, str]],
    files: list[tuple[str, str, str]],
) -> dict[str, Any]:
    """The Croissant 1.1 JSON-LD document describing a build, as a new dict ready for `json.dump`.

    - `license`: kept as given; the spec recommends a license URL.
    - `date_published`: an ISO 8601 date or date-time, or None.
    - `configs`: config name (`articles`, `annotations`) → the `datasets.Features` of its rows.
      Configs and their columns keep this order.
    - `field_descriptions`: config → column → description, from the JSON Schemas. A nested field
      is looked up by its dotted path (`source.name`, `entities.label`); a field without a
      description gets a generic one. ClassLabel names are appended to the description.
    - `files`: every Parquet shard as (config, path relative to the build root, sha256 hex),
      named `data/<config>/<split>-NNNNN-of-NNNNN.parquet`; listed sorted by path.

    `url`, `version`, `citation` (`citeAs`) and `date_published` are left out when None or empty.
    The result depends on the arguments only (no clock, no file system): the same arguments give
    an equal dict, and `json.dumps` of it gives the same text.

    Raises `ValueError` for arguments a build never produces: a shard outside `data/<config>/`
    or not named as above, a shard of an unknown config or a config without shards, a sha256
    that is not 64 lowercase hex digits, a malformed `date_published`, two fields with the same
    @id (a column named `split`), or a feature type this export does not map (Image, Audio,
    ArrayND, binary, time, decimal…).
    """
    if date_published:
        try:
            datetime.fromisoformat(date_published)
        except ValueError:
            raise ValueError(f"date_published must be an ISO 8601 date, got {date_published!r}") from None
    shards = _shards_by_config(configs, files)

    document: dict[str, Any] = {
        "@context": copy.deepcopy(CONTEXT),
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_1_1,
        "name": name,
        "description": description,
        "license": license,
    }
    optional = {"url": url, "version": version, "citeAs": citation, "datePublished": date_published}
    document.update({key: value for key, value in optional.items() if value})

    distribution: list[dict[str, Any]] = []
    for config, config_shards in shards.items():
        for path, sha256, split in config_shards:
            distribution.append({
                "@type": "cr:FileObject",
                "@id": _escape_id(path, safe="/"),
                "name": PurePosixPath(path).name,
                "description": f"A Parquet shard of split {split!r} of the {config!r} config.",
                "contentUrl": path,
                "encodingFormat": PARQUET,
                "sha256": sha256,
            })
    for config in shards:
        distribution.append({
            "@type": "cr:FileSet",
            "@id": _file_set_id(config),
            "name": _file_set_id(config),
            "description": f"Every Parquet shard of the {config!r} config, all splits.",
            "encodingFormat": PARQUET,
            "includes": f"data/{config}/*.parquet",
        })
    document["distribution"] = distribution

    record_sets: list[dict[str, Any]] = []
    for config, features in configs.items():
        splits = sorted({split for _path, _sha256, split in shards[config]})
        record_sets.append(_splits_record_set(config, splits))
        record_sets.append(_record_set(config, features, field_descriptions.get(config, {}), splits))
    record_sets.extend(_label_record_set(column, names) for column, names in _class_labels(configs).items())
    document["recordSet"] = record_sets
    _check_unique_ids(document)
    return document


def _shards_by_config(
    configs: Mapping[str, Features], files: list[tuple[str, str, str]]
) -> dict[str, list[tuple[str, str, str]]]:
    """config → [(path, sha256, split)] sorted by path, each shard checked to lie where its FileSet looks."""
    shards: dict[str, list[tuple[str, str, str]]] = {config: [] for config in configs}
    for config, path, sha256 in files:
        if config not in shards:
            raise ValueError(f"shard {path!r} belongs to unknown config {config!r}")
        parts = PurePosixPath(path).parts
        match = _SHARD.fullmatch(parts[-1]) if parts else None
        if parts[:-1] != ("data", config) or match is None:
            raise ValueError(f"shard {path!r} is not named data/{config}/<split>-NNNNN-of-NNNNN.parquet")
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"shard {path!r}: sha256 must be 64 lowercase hex digits, got {sha256!r}")
        shards[config].append((path, sha256, match["split"]))
    for config, config_shards in shards.items():
        if not config_shards:
            raise ValueError(f"config {config!r} has no Parquet shard")
        config_shards.sort()
    return shards


def _splits_record_set(config: str, splits: list[str]) -> dict[str, Any]:
    """The `cr:Split` enumeration that the config's `split` field references (as the Hub does)."""
    record_set = _splits_id(config)
    return {
        "@type": "cr:RecordSet",
        "@id": record_set,
        "name": f"{config}_splits",
        "description": f"The splits of the {config!r} config.",
        "dataType": "cr:Split",
        "key": {"@id": f"{record_set}/split_name"},
        "field": [{
            "@type": "cr:Field",
            "@id": f"{record_set}/split_name",
            "name": "split_name",
            "description": "The name of the split.",
            "dataType": "sc:Text",
        }],
        "data": [{f"{record_set}/split_name": split} for split in splits],
    }


def _class_labels(configs: Mapping[str, Features]) -> dict[str, list[str]]:
    """Column → label names of every ClassLabel (a document layer's column, a span layer's `label`)."""
    found: dict[str, list[str]] = {}

    def visit(column: str, feature: Any) -> None:
        while isinstance(feature, (List, LargeList)):
            feature = feature.feature
        if isinstance(feature, ClassLabel):
            found.setdefault(column, list(feature.names))
        elif isinstance(feature, dict):
            for sub in feature.values():
                visit(column, sub)

    for config, features in configs.items():
        for column, feature in features.items():
            visit(_label_key(config, column), feature)
    return found


def _label_key(config: str, column: str) -> str:
    """Whose labels a ClassLabel column holds: the layer's name in `articles`, `<view>.<column>` in a view."""
    return column if config == "articles" else f"{config}.{column}"


def _labels_id(column: str) -> str:
    return f"labels/{_escape_id(column)}"


def _label_record_set(column: str, names: list[str]) -> dict[str, Any]:
    """The names of a layer's class ids as an inline enumeration: `records("labels/<layer>")` reads them.

    The label fields do not `reference` it: mlcroissant 1.1.1 fails to build the join graph of a
    record set with a second reference (after the split's); the field descriptions point here.
    """
    record_set = _labels_id(column)
    return {
        "@type": "cr:RecordSet",
        "@id": record_set,
        "name": f"labels_{column}",
        "description": f"The labels of layer {column!r}: class id and name (also in labels.parquet).",
        "dataType": "sc:Enumeration",
        "key": {"@id": f"{record_set}/id"},
        "field": [
            {"@type": "cr:Field", "@id": f"{record_set}/id", "name": "id", "description": "The class id.",
             "dataType": "sc:Integer"},
            {"@type": "cr:Field", "@id": f"{record_set}/name", "name": "name", "description": "The label.",
             "dataType": "sc:Text"},
        ],
        "data": [{f"{record_set}/id": i, f"{record_set}/name": name} for i, name in enumerate(names)],
    }


def _record_set(
    config: str, features: Features, descriptions: Mapping[str, str], splits: list[str]
) -> dict[str, Any]:
    record_set = _escape_id(config)
    file_set = _file_set_id(config)
    alternatives = "|".join(re.escape(split) for split in splits)
    split_field = {
        "@type": "cr:Field",
        "@id": f"{record_set}/split",
        "name": "split",
        "description": "The split the row belongs to, from the name of its shard.",
        "dataType": "sc:Text",
        "source": {
            "fileSet": {"@id": file_set},
            "extract": {"fileProperty": "fullpath"},
            # The regex also maps a bare split name to itself: mlcroissant applies it twice when
            # it joins on `references` (for the join, then when reading the field) and would
            # log a warning per row otherwise. `.+`, not `\d+`: for `filters={"<config>/split":
            # "train"}` mlcroissant turns the regex into a glob, and it only translates `.+`/`.*`.
            "transform": {"regex": rf"^(?:data/{re.escape(config)}/)?({alternatives})(?:-.+\.parquet)?$"},
        },
        # mlcroissant 1.1.1 needs the `{"field": {"@id": …}}` form; the spec's shorter
        # `{"@id": …}` makes it fail with an AttributeError.
        "references": {"field": {"@id": f"{_splits_id(config)}/split_name"}},
    }
    fields = [split_field]
    for column, feature in features.items():
        fields.append(_field(f"{record_set}/{_escape_id(column)}", column, feature, descriptions,
                             file_set, config, column, []))
    return {
        "@type": "cr:RecordSet",
        "@id": record_set,
        "name": config,
        "description": f"The {config!r} config: one record per row of data/{config}/*.parquet, every split.",
        "field": fields,
    }


def _field(
    field_id: str,
    path: str,
    feature: Any,
    descriptions: Mapping[str, str],
    file_set: str,
    config: str,
    column: str,
    json_path: list[str],
) -> dict[str, Any]:
    """The `cr:Field` for `feature`, read from `column` then down `json_path` (struct keys).

    `path` is the field's dotted name in the row (`source.name`), used to find its description.
    """
    description = descriptions.get(path) or f"Field {path!r} of the {config!r} config."
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": field_id,
        "name": path.rsplit(".", 1)[-1] if json_path else path,
    }
    shape: list[int] = []
    while isinstance(feature, (List, LargeList)):
        shape.append(getattr(feature, "length", -1))
        feature = feature.feature
    if isinstance(feature, ClassLabel):
        # As the Hub does: the index as an integer, the names in the description.
        field["dataType"] = "sc:Integer"
        labels = ", ".join(f"{index} = {label}" for index, label in enumerate(feature.names))
        description = (f"{_sentence(description)} Class label, an index into: {labels} "
                       f"(record set {_labels_id(_label_key(config, column))}).")
    elif isinstance(feature, Value):
        field["dataType"] = _value_type(feature.dtype, field_id)
    elif isinstance(feature, Json):
        field["dataType"] = "sc:Text"
        description = f"{_sentence(description)} A JSON document, as text."
    elif isinstance(feature, dict):
        field["subField"] = [
            _field(f"{field_id}/{_escape_id(key)}", f"{path}.{key}", sub_feature, descriptions,
                   file_set, config, column, [*json_path, _json_path_step(key)])
            for key, sub_feature in feature.items()
        ]
    else:
        raise ValueError(f"{field_id}: the Croissant export does not map feature {feature!r}")
    field["description"] = description
    if "subField" not in field:
        field["source"] = _source(file_set, column, json_path)
    if shape:
        field["isArray"] = True
        field["arrayShape"] = ",".join(str(size) for size in shape)
    return field


def _value_type(dtype: str, field_id: str) -> str:
    if dtype.startswith("timestamp["):
        return "sc:DateTime"
    if dtype in _VALUE_TYPES:
        return _VALUE_TYPES[dtype]
    raise ValueError(f"{field_id}: the Croissant export does not map Arrow type {dtype!r}")


def _source(file_set: str, column: str, json_path: list[str]) -> dict[str, Any]:
    source: dict[str, Any] = {"fileSet": {"@id": file_set}, "extract": {"column": column}}
    if len(json_path) == 1:
        source["transform"] = {"jsonPath": json_path[0]}
    elif json_path:
        source["transform"] = [{"jsonPath": step} for step in json_path]
    return source


def _check_unique_ids(document: dict[str, Any]) -> None:
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, dict):
            # A node with only an @id is a reference, not a definition.
            if "@id" in node and len(node) > 1:
                if node["@id"] in seen:
                    raise ValueError(f"two Croissant nodes would share the @id {node['@id']!r}")
                seen.add(node["@id"])
            for key, value in node.items():
                if key != "data":
                    visit(value)

    visit(document["distribution"])
    visit(document["recordSet"])


def _file_set_id(config: str) -> str:
    return f"parquet-files-for-config-{_escape_id(config)}"


def _splits_id(config: str) -> str:
    return f"{_escape_id(config)}_splits"


def _escape_id(text: str, safe: str = "") -> str:
    """`text` as (part of) an @id: JSON-LD reads @ids as IRIs, and mlcroissant rejects whitespace.

    '/' separates a record set from its fields, so it is escaped inside a name.
    """
    return quote(text, safe="._-~" + safe)


def _json_path_step(key: str) -> str:
    """A JSONPath step selecting `key`: bare if it is a plain identifier, else bracket-quoted.

    mlcroissant parses JSONPath with jsonpath_rw, whose bare names are ASCII only and where
    `where` is a keyword.
    """
    if _PLAIN_KEY.fullmatch(key) and key != "where":
        return key
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
