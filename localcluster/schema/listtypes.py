"""Uniqueness of `x-kubernetes-list-type: set` and `map` lists, as kube-apiserver enforces it."""

from __future__ import annotations

import json
from typing import Any

from localcluster.schema import causes, nodes
from localcluster.schema.causes import Cause
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import FieldPath


def check(value: Any, schema: Schema, path: FieldPath) -> list[Cause]:
    found: list[Cause] = []
    if isinstance(value, list):
        kind = nodes.list_type(schema)
        if kind == "set":
            found += [
                causes.duplicate(str(path.index(i)), value[i])
                for i in _repeats([_identity(v) for v in value])
            ]
        elif kind == "map":
            found += _check_map_list(value, schema, path)
        item_schema = nodes.items(schema)
        if item_schema is not None:
            for index, item in enumerate(value):
                found += check(item, item_schema, path.index(index))
    elif isinstance(value, dict):
        declared = nodes.properties(schema)
        map_values = nodes.additional_properties(schema)
        for key, item in value.items():
            if key in declared:
                found += check(item, declared[key], path.child(key))
            elif map_values is not None:
                found += check(item, map_values, path.key(key))
    return found


def _check_map_list(value: list[Any], schema: Schema, path: FieldPath) -> list[Cause]:
    keys = nodes.list_map_keys(schema)
    key_props = nodes.properties(nodes.items(schema) or {})
    found: list[Cause] = []
    identities: list[str | None] = []
    key_values: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            found.append(
                causes.invalid(
                    str(path.index(index)), item, "must be an object for an array of list-type map"
                )
            )
            identities.append(None)
            key_values.append({})
            continue
        present: dict[str, Any] = {}
        for key in keys:
            if key in item:
                present[key] = item[key]
            elif "default" in key_props.get(key, {}):
                present[key] = key_props[key]["default"]
            else:
                found.append(causes.required(str(path.index(index).child(key))))
        complete = len(present) == len(keys)
        identities.append(_identity(present) if complete else None)
        key_values.append(present)
    found += [causes.duplicate(str(path.index(i)), key_values[i]) for i in _repeats(identities)]
    return found


def _identity(value: Any) -> str:
    """A comparison key that keeps `1`, `1.0` and `true` apart, as Go's map keys do."""
    return json.dumps([type(value).__name__, value], sort_keys=True, separators=(",", ":"))


def _repeats(identities: list[str | None]) -> list[int]:
    """Indexes of the second occurrence of each repeated identity (later repeats are not reported again)."""
    seen: dict[str, int] = {}
    repeated: list[int] = []
    for index, identity in enumerate(identities):
        if identity is None:
            continue
        seen[identity] = seen.get(identity, 0) + 1
        if seen[identity] == 2:
            repeated.append(index)
    return repeated
