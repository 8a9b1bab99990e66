"""Read-only accessors for one node of a CRD's openAPIV3Schema (a plain dict, as decoded from JSON/YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

# ObjectMeta's JSON fields: the only keys kept under a resource's `metadata`, as the typed decoder keeps them.
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
# Keys of a resource (the root object or an embedded resource) that its schema never has to declare.
RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


def node_type(schema: Schema) -> str:
    value = schema.get("type")
    return value if isinstance(value, str) else ""


def is_int_or_string(schema: Schema) -> bool:
    return schema.get("x-kubernetes-int-or-string") is True


def preserves_unknown(schema: Schema) -> bool:
    return schema.get("x-kubernetes-preserve-unknown-fields") is True


def is_embedded(schema: Schema) -> bool:
    return schema.get("x-kubernetes-embedded-resource") is True


def is_nullable(schema: Schema) -> bool:
    return schema.get("nullable") is True


def properties(schema: Schema) -> Mapping[str, Schema]:
    value = schema.get("properties")
    return value if isinstance(value, Mapping) else {}


def additional_properties(schema: Schema) -> Schema | None:
    """The schema of map values, or None when the node has no `additionalProperties` schema."""
    value = schema.get("additionalProperties")
    return value if isinstance(value, Mapping) else None


def allows_any_property(schema: Schema) -> bool:
    """`additionalProperties: true` keeps every key, like `x-kubernetes-preserve-unknown-fields`."""
    return schema.get("additionalProperties") is True or preserves_unknown(schema)


def items(schema: Schema) -> Schema | None:
    value = schema.get("items")
    return value if isinstance(value, Mapping) else None


def list_type(schema: Schema) -> str:
    value = schema.get("x-kubernetes-list-type")
    return value if isinstance(value, str) else "atomic"


def list_map_keys(schema: Schema) -> list[str]:
    value = schema.get("x-kubernetes-list-map-keys")
    return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []


def has_default(schema: Schema) -> bool:
    return "default" in schema


def json_type(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def matches_type(schema: Schema, value: Any) -> bool:
    """Whether `value` has the node's declared type (untyped nodes accept anything)."""
    if is_int_or_string(schema):
        return isinstance(value, str) or _is_integral(value)
    declared = node_type(schema)
    if not declared:
        return True
    actual = json_type(value)
    if declared == "integer":
        return _is_integral(value)
    if declared == "number":
        return actual in {"integer", "number"}
    return declared == actual


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
