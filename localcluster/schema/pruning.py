"""Dropping fields a structural schema does not declare, as kube-apiserver does on every write."""

from __future__ import annotations

from typing import Any

from localcluster.schema import nodes
from localcluster.schema.nodes import Schema


def prune(value: Any, schema: Schema, resource_root: bool = True) -> tuple[Any, list[str]]:
    """Return a pruned copy of `value` and the paths of the fields dropped (`spec.foo`, `spec.list[0].x`).

    A resource root (the default) keeps `apiVersion`, `kind` and the ObjectMeta fields of `metadata`.
    """
    dropped: list[str] = []
    return _prune(value, schema, "", dropped, resource_root), dropped


def _prune(value: Any, schema: Schema, path: str, dropped: list[str], resource_root: bool = False) -> Any:
    if isinstance(value, dict):
        return _prune_object(value, schema, path, dropped, resource_root or nodes.is_embedded(schema))
    if isinstance(value, list):
        item_schema = nodes.items(schema)
        if item_schema is None:
            return list(value)
        return [_prune(item, item_schema, f"{path}[{i}]", dropped) for i, item in enumerate(value)]
    return value


def _prune_object(
    value: dict[str, Any], schema: Schema, path: str, dropped: list[str], is_resource: bool
) -> dict[str, Any]:
    declared = nodes.properties(schema)
    map_values = nodes.additional_properties(schema)
    keep_unknown = nodes.allows_any_property(schema)
    result: dict[str, Any] = {}
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if is_resource and key in nodes.RESOURCE_FIELDS:
            # A resource's type and object metadata are decoded by the server, whatever its schema says.
            result[key] = _prune_metadata(item, child, dropped) if key == "metadata" else item
        elif key in declared:
            result[key] = _prune(item, declared[key], child, dropped)
        elif map_values is not None:
            result[key] = _prune(item, map_values, child, dropped)
        elif keep_unknown:
            result[key] = item
        else:
            dropped.append(child)
    return result


def _prune_metadata(value: Any, path: str, dropped: list[str]) -> Any:
    """ObjectMeta is decoded into a typed struct, so any key it does not know disappears."""
    if not isinstance(value, dict):
        return value
    kept = {key: item for key, item in value.items() if key in nodes.OBJECT_META_FIELDS}
    dropped.extend(f"{path}.{key}" for key in value if key not in nodes.OBJECT_META_FIELDS)
    return kept
