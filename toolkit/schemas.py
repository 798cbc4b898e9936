"""The JSON Schemas in `schema/`: loading them and building validators that never touch the network.

The schemas ship inside the wheel as the resource package `toolkit.schema`. Two engines are built
from the same documents: `jsonschema_rs` for the hot path (is this record valid?) and the reference
`jsonschema` implementation for explaining a failure (which keyword, which field).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema
import jsonschema_rs
import referencing
from referencing.jsonschema import DRAFT202012

SchemaName = Literal["article", "annotation", "dataset"]
SCHEMA_NAMES: tuple[SchemaName, ...] = ("article", "annotation", "dataset")


@cache
def load_schema(name: SchemaName) -> dict[str, Any]:
    """The parsed `schema/<name>.schema.json` (cached; treat as read-only)."""
    text = resources.files("toolkit.schema").joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [(load_schema(n)["$id"], load_schema(n)) for n in SCHEMA_NAMES]


@cache
def reference_validator(name: SchemaName) -> jsonschema.Draft202012Validator:
    """The reference `jsonschema` validator, with every sibling schema registered so `$ref` resolves offline."""
    registry = referencing.Registry().with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in _resources()
    )
    return jsonschema.Draft202012Validator(load_schema(name), registry=registry)


@cache
def fast_validator(name: SchemaName) -> Any:
    """A compiled `jsonschema_rs` validator for `name` (formats are annotations only, as in the reference)."""
    registry = jsonschema_rs.Registry(_resources())
    return jsonschema_rs.Draft202012Validator(
        load_schema(name), registry=registry, validate_formats=False
    )


def field_descriptions(name: SchemaName) -> dict[str, str]:
    """Top-level property → description, in schema order (for the card's field table)."""
    schema = load_schema(name)
    props = schema.get("properties") or schema["$defs"]["embedded"]["properties"]
    return {key: spec.get("description", "") for key, spec in props.items()}


def record_properties(name: Literal["article", "annotation"]) -> dict[str, Any]:
    """The property schemas of a record kind, in schema order."""
    schema = load_schema(name)
    if name == "annotation":
        return schema["$defs"]["embedded"]["properties"]
    return schema["properties"]


@cache
def date_fields(name: Literal["article", "annotation"]) -> frozenset[str]:
    """Top-level properties holding a date-time (marked `x-arrow-type: timestamp`)."""
    return frozenset(k for k, spec in record_properties(name).items() if spec.get("x-arrow-type") == "timestamp")


@cache
def integer_fields(name: Literal["article", "annotation"]) -> tuple[str, ...]:
    """Top-level properties typed integer (span offsets): they must hold integers as written, not 4.0."""
    return tuple(k for k, spec in record_properties(name).items() if spec.get("type") == "integer")
