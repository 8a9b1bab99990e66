"""Checks of a custom resource's own name and of the type fields of embedded resources."""

from __future__ import annotations

import re
from typing import Any, Final

from localcluster.schema import causes, nodes
from localcluster.schema.causes import Cause
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import FieldPath

_DNS1123_SUBDOMAIN: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_MAX: Final = 253
_DNS1123_SUBDOMAIN_MESSAGE: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_DNS1123_SUBDOMAIN}')"
)


def dns_subdomain_problems(name: str) -> list[str]:
    """kube-apiserver's NameIsDNSSubdomain messages for `name` (empty when it is valid)."""
    problems = []
    if len(name) > _DNS1123_SUBDOMAIN_MAX:
        problems.append(f"must be no more than {_DNS1123_SUBDOMAIN_MAX} characters")
    if not re.fullmatch(_DNS1123_SUBDOMAIN, name):
        problems.append(_DNS1123_SUBDOMAIN_MESSAGE)
    return problems


def check_resource_name(obj: Any) -> list[Cause]:
    """A custom resource's `metadata.name` must be a DNS subdomain (generateName is resolved before this)."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        return [causes.required("metadata.name", "name or generateName is required")]
    return [causes.invalid("metadata.name", name, problem) for problem in dns_subdomain_problems(name)]


def check_embedded(value: Any, schema: Schema, path: FieldPath, resource_root: bool = True) -> list[Cause]:
    """Embedded resources (`x-kubernetes-embedded-resource`) must say what they are: apiVersion and kind."""
    found: list[Cause] = []
    if isinstance(value, dict):
        if nodes.is_embedded(schema) and not resource_root:
            for key in ("apiVersion", "kind"):
                if not value.get(key):
                    found.append(causes.required(str(path.child(key)), "must not be empty"))
        declared = nodes.properties(schema)
        map_values = nodes.additional_properties(schema)
        for key, item in value.items():
            if key in declared:
                found += check_embedded(item, declared[key], path.child(key), resource_root=False)
            elif map_values is not None:
                found += check_embedded(item, map_values, path.key(key), resource_root=False)
    elif isinstance(value, list):
        item_schema = nodes.items(schema)
        if item_schema is not None:
            for index, item in enumerate(value):
                found += check_embedded(item, item_schema, path.index(index), resource_root=False)
    return found
