"""Structural-schema defaulting, in the order kube-apiserver applies it.

A missing property with a `default` gets a copy of it, then defaulting continues inside the value (so
defaults nested in a defaulted object apply too). A `null` where the schema is not nullable counts as
missing; without a default it is dropped, as the server's null-pruning does.
"""

from __future__ import annotations

import copy
from typing import Any

from localcluster.schema import nodes
from localcluster.schema.nodes import Schema


def apply_defaults(value: Any, schema: Schema) -> Any:
    """Default `value` in place and return it."""
    if isinstance(value, dict):
        _default_object(value, schema)
    elif isinstance(value, list):
        item_schema = nodes.items(schema)
        if item_schema is not None:
            for index, item in enumerate(value):
                value[index] = _defaulted_entry(item, item_schema)
    return value


def _default_object(value: dict[str, Any], schema: Schema) -> None:
    for key, prop in nodes.properties(schema).items():
        if key not in value or _is_disallowed_null(value[key], prop):
            if nodes.has_default(prop):
                value[key] = copy.deepcopy(prop["default"])
            elif key in value:
                del value[key]
    map_values = nodes.additional_properties(schema)
    declared = nodes.properties(schema)
    for key in list(value):
        if key in declared:
            apply_defaults(value[key], declared[key])
        elif map_values is not None:
            if _is_disallowed_null(value[key], map_values) and not nodes.has_default(map_values):
                del value[key]
            else:
                value[key] = _defaulted_entry(value[key], map_values)


def _defaulted_entry(item: Any, schema: Schema) -> Any:
    if _is_disallowed_null(item, schema) and nodes.has_default(schema):
        item = copy.deepcopy(schema["default"])
    return apply_defaults(item, schema)


def _is_disallowed_null(value: Any, schema: Schema) -> bool:
    return value is None and not nodes.is_nullable(schema)
