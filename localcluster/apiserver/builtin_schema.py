"""Unknown-field pruning for built-in kinds, driven by kubernetes_validate's bundled OpenAPI definitions.

kube-apiserver decodes built-in objects into Go structs, which silently drops fields the struct does not have
(and reports them for fieldValidation=Warn/Strict). The bundled definitions describe those structs, so walking
them reproduces the same set of dropped fields without a hand-kept list.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

_DEFINITIONS_FILE = "kubernetes-json-schema/v1.35.0-local/_definitions.json"
_REF_PREFIX = "#/$defs/"


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    text = resources.files("kubernetes_validate").joinpath(_DEFINITIONS_FILE).read_text()
    loaded: dict[str, dict[str, Any]] = json.loads(text)["$defs"]
    return loaded


def prune_unknown(definition: str, obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Returns `obj` without the fields the definition does not know, and those fields' paths (`spec.x`)."""
    dropped: list[str] = []
    schema = definitions().get(definition)
    if schema is None:
        return obj, dropped
    pruned = _prune(obj, schema, "", dropped)
    return pruned, dropped


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = definitions()[schema["$ref"].removeprefix(_REF_PREFIX)]
    return schema


def _prune(value: Any, schema: dict[str, Any], path: str, dropped: list[str]) -> Any:
    schema = _resolve(schema)
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            out = {}
            for name, item in value.items():
                child = f"{path}.{name}" if path else name
                if name in properties:
                    out[name] = _prune(item, properties[name], child, dropped)
                else:
                    dropped.append(child)
            return out
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return {k: _prune(v, extra, f"{path}.{k}" if path else k, dropped) for k, v in value.items()}
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_prune(item, schema["items"], f"{path}[{i}]", dropped) for i, item in enumerate(value)]
    return value
