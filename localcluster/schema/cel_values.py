"""Turning decoded JSON into CEL values typed by the schema, as kube-apiserver exposes them to rules.

The schema decides the CEL type: `number` is always a double (even when the JSON says `1`), a string with
`format: date-time` is a timestamp, `duration` a duration, `byte` bytes. Property names that are not CEL
identifiers are escaped (`foo-bar` becomes `foo__dash__bar`, `namespace` becomes `__namespace__`), and a
resource root shows only `apiVersion`, `kind`, `metadata.name` and `metadata.generateName` besides its
declared fields.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final

from celpy import celtypes
from celpy.adapter import json_to_cel

from localcluster.schema import nodes
from localcluster.schema.nodes import Schema

_RESERVED: Final = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)
_IDENTIFIER: Final = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_ESCAPABLE: Final = re.compile(r"[_a-zA-Z][_a-zA-Z0-9.\-/]*")
_ESCAPES: Final = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


def escape_property(name: str) -> str | None:
    """The CEL field name for a schema property, or None when CEL cannot reach it."""
    if name in _RESERVED:
        return f"__{name}__"
    if not _ESCAPABLE.fullmatch(name):
        return None
    if _IDENTIFIER.fullmatch(name) and "__" not in name:
        return name
    escaped = name
    for plain, replacement in _ESCAPES:
        escaped = escaped.replace(plain, replacement)
    return escaped


def to_cel(value: Any, schema: Schema, resource_root: bool = False) -> Any:
    """Convert `value` (already checked against `schema`) to the CEL value rules see as `self`."""
    if value is None:
        return None
    if nodes.is_int_or_string(schema):
        return celtypes.StringType(value) if isinstance(value, str) else celtypes.IntType(int(value))
    declared = nodes.node_type(schema)
    if isinstance(value, dict) and declared in {"object", ""}:
        return _object(value, schema, resource_root or nodes.is_embedded(schema))
    if isinstance(value, list) and declared in {"array", ""}:
        item_schema = nodes.items(schema)
        if item_schema is None:
            return json_to_cel(value)
        return celtypes.ListType([to_cel(item, item_schema) for item in value])
    if declared == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return celtypes.IntType(int(value))
    if declared == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    if isinstance(value, str):
        return _string(value, str(schema.get("format", "")))
    return json_to_cel(value)


def _object(value: dict[str, Any], schema: Schema, is_resource: bool) -> celtypes.MapType:
    declared = nodes.properties(schema)
    map_values = nodes.additional_properties(schema)
    fields: dict[celtypes.StringType, Any] = {}
    if is_resource:
        fields.update(_resource_fields(value))
    for key, item in value.items():
        if is_resource and key in nodes.RESOURCE_FIELDS:
            continue  # shown as the server shows them, whatever the schema declares
        if key in declared:
            escaped = escape_property(key)
            if escaped is not None:
                fields[celtypes.StringType(escaped)] = to_cel(item, declared[key])
        elif map_values is not None:
            fields[celtypes.StringType(key)] = to_cel(item, map_values)
        elif nodes.allows_any_property(schema):
            fields[celtypes.StringType(key)] = json_to_cel(item)
    return celtypes.MapType(fields)


def _resource_fields(value: dict[str, Any]) -> dict[celtypes.StringType, Any]:
    fields: dict[celtypes.StringType, Any] = {}
    for key in ("apiVersion", "kind"):
        if isinstance(value.get(key), str):
            fields[celtypes.StringType(key)] = celtypes.StringType(value[key])
    metadata = value.get("metadata")
    if isinstance(metadata, dict):
        visible = {
            key: metadata[key] for key in ("name", "generateName") if isinstance(metadata.get(key), str)
        }
        fields[celtypes.StringType("metadata")] = json_to_cel(visible)
    return fields


def _string(text: str, format_name: str) -> Any:
    try:
        if format_name in {"date-time", "datetime"}:
            return celtypes.TimestampType(text)
        if format_name == "duration":
            return celtypes.DurationType(text)
        if format_name == "byte":
            return celtypes.BytesType(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        # A malformed value already failed format validation; the rule sees the raw string.
        pass
    return celtypes.StringType(text)
