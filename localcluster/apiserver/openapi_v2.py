"""/openapi/v2: the Swagger 2.0 document kubectl validates `kind: List` input (and some others) against.

kubectl asks for it only as protobuf (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
gnostic's OpenAPIv2 `Document`); other clients get JSON. It holds the definitions of the served built-in
kinds (from the same bundled definitions as /openapi/v3, in Swagger 2 form) and, for each custom kind, a
definition carrying only its group-version-kind: kubectl then checks that such an object is an object and
leaves its fields to the server, which validates them against the CRD schema (fieldValidation=Strict).
No `paths` are listed; kubectl reads only the definitions.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from .openapi import (
    DELETE_OPTIONS,
    LIST_META,
    OBJECT_META,
    STATUS,
    ResourceDescription,
    custom_schema_name,
    reachable_definitions,
)

PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# What the answer says it is: Go's mime parser (client-go checks the type) refuses the '@' of the Accept form.
PROTOBUF_V2_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_DEFS_PREFIX = "#/$defs/"
_KEPT = frozenset(
    {
        "description", "format", "title", "default", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
        "maxProperties", "minProperties", "required", "enum", "readOnly",
    }
)  # fmt: skip


def _to_v2(node: Any) -> Any:
    """A bundled JSON-schema definition in Swagger 2 form (what kube-apiserver publishes at /openapi/v2)."""
    if isinstance(node, list):
        return [_to_v2(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "type":
            concrete = [value] if isinstance(value, str) else [t for t in value if t != "null"]
            if concrete:
                out["type"] = concrete[0] if len(concrete) == 1 else concrete
        elif key == "$ref":
            out["$ref"] = "#/definitions/" + str(value).removeprefix(_DEFS_PREFIX)
        elif key == "oneOf":
            types = {t for alternative in value for t in _types(alternative)}
            if types == {"string", "integer"}:
                out.update({"type": "string", "format": "int-or-string"})
        elif key == "properties":
            out[key] = {name: _to_v2(schema) for name, schema in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = _to_v2(value)
        elif key in _KEPT or key.startswith("x-"):
            out[key] = value
    return out


def _types(schema: Any) -> list[str]:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, str):
        return [kind]
    return [t for t in kind or () if t != "null"]


def _definition(name: str, definition: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = _to_v2(definition)
    if "x-kubernetes-group-version-kind" in definition:
        for key in ("apiVersion", "kind"):
            prop = converted.get("properties", {}).get(key)
            if isinstance(prop, dict):
                prop.pop("enum", None)
    return converted


def _custom(resource: ResourceDescription, kind: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": resource.group, "version": resource.version, "kind": kind}
        ],
    }


def build(resources: Iterable[ResourceDescription], definitions: Mapping[str, Any]) -> dict[str, Any]:
    listed = list(resources)
    roots = [OBJECT_META, LIST_META, STATUS, DELETE_OPTIONS]
    for resource in listed:
        if not resource.is_custom:
            roots += [resource.definition, resource.definition + "List"]
    out = {
        name: _definition(name, definitions[name]) for name in reachable_definitions(roots, definitions, {})
    }
    for resource in listed:
        if resource.is_custom:
            name = custom_schema_name(resource.group, resource.version, resource.kind)
            out[name] = _custom(resource, resource.kind, f"{resource.kind} is served from its CRD")
            out[name + "List"] = _custom(resource, resource.kind + "List", f"a list of {resource.kind}")
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.35.0"},
        "paths": {},
        "definitions": dict(sorted(out.items())),
    }


# -- gnostic's OpenAPIv2 protobuf messages (proto3: zero values are not written) ---------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _message(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, text: str) -> bytes:
    return _message(number, text.encode()) if text else b""


def _bool(number: int, value: bool) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _integer(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _double(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", float(value)) if value else b""


def _any(number: int, value: Any) -> bytes:
    """gnostic's Any: the value as YAML text (field 2), which is how kubectl reads it back."""
    return _message(number, _string(2, yaml.safe_dump(value, default_flow_style=False)))


def _named(number: int, name: str, payload: bytes) -> bytes:
    return _message(number, _string(1, name) + _message(2, payload))


_SCALARS: tuple[tuple[str, int, str], ...] = (
    ("$ref", 1, "s"), ("format", 2, "s"), ("title", 3, "s"), ("description", 4, "s"), ("multipleOf", 6, "d"),
    ("maximum", 7, "d"), ("exclusiveMaximum", 8, "b"), ("minimum", 9, "d"), ("exclusiveMinimum", 10, "b"),
    ("maxLength", 11, "i"), ("minLength", 12, "i"), ("pattern", 13, "s"), ("maxItems", 14, "i"),
    ("minItems", 15, "i"), ("uniqueItems", 16, "b"), ("maxProperties", 17, "i"), ("minProperties", 18, "i"),
    ("readOnly", 27, "b"),
)  # fmt: skip


_ENCODERS: dict[str, Callable[[int, Any], bytes]] = {"s": _string, "d": _double, "b": _bool, "i": _integer}


def encode_schema(schema: Mapping[str, Any]) -> bytes:
    parts: list[bytes] = []
    for key, number, kind in _SCALARS:
        if key in schema:
            value = schema[key]
            encode: Callable[[int, Any], bytes] = _ENCODERS[kind]
            parts.append(encode(number, value))
    if "default" in schema:
        parts.append(_any(5, schema["default"]))
    parts += [_string(19, name) for name in schema.get("required", ())]
    parts += [_any(20, choice) for choice in schema.get("enum", ())]
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        parts.append(_message(21, _message(1, encode_schema(extra))))
    elif isinstance(extra, bool):
        parts.append(_message(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00")))
    if "type" in schema:
        kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        parts.append(_message(22, b"".join(_string(1, kind) for kind in kinds)))
    items = schema.get("items")
    if items is not None:
        listed = items if isinstance(items, list) else [items]
        parts.append(_message(23, b"".join(_message(1, encode_schema(item)) for item in listed)))
    parts += [_message(24, encode_schema(part)) for part in schema.get("allOf", ())]
    if "properties" in schema:
        named = b"".join(_named(1, name, encode_schema(sub)) for name, sub in schema["properties"].items())
        parts.append(_message(25, named))
    parts += [
        _message(31, _string(1, key) + _any(2, value))
        for key, value in schema.items()
        if key.startswith("x-")
    ]
    return b"".join(parts)


def encode_document(document: Mapping[str, Any]) -> bytes:
    info = document.get("info", {})
    definitions = b"".join(
        _named(1, name, encode_schema(schema)) for name, schema in document.get("definitions", {}).items()
    )
    return (
        _string(1, document.get("swagger", "2.0"))
        + _message(2, _string(1, info.get("title", "")) + _string(2, info.get("version", "")))
        + _message(9, definitions)
    )
