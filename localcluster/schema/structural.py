"""Checking that a CRD version's openAPIV3Schema is structural, as kube-apiserver requires before serving it.

A structural schema gives every specified node a type (unless it is int-or-string or preserves unknown
fields), keeps logical junctors (allOf/anyOf/oneOf/not) free of types and defaults, uses no `$ref`, restricts
`metadata` to name/generateName, has sound list types, valid defaults and compilable CEL rules. Problems are
reported as field-error strings under the given location, e.g.
`openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from localcluster.schema import cel_rules, goregex, keywords, nodes, pruning
from localcluster.schema.causes import go_quote, go_value
from localcluster.schema.cel_rules import RuleError
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import NIL, ROOT

_TYPES: Final = ("array", "boolean", "integer", "number", "object", "string")
_LIST_TYPES: Final = ("atomic", "map", "set")
_JUNCTORS: Final = ("allOf", "anyOf", "oneOf")
_FORBIDDEN_IN_JUNCTORS: Final = (
    "type",
    "default",
    "additionalProperties",
    "nullable",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
)
_INT_OR_STRING_PATTERNS: Final = ([{"type": "integer"}, {"type": "string"}],)


def structural_errors(schema: Any, *, path: str = "openAPIV3Schema") -> list[str]:
    """Every reason `schema` is not a servable structural schema (empty when it is fine)."""
    problems: list[str] = []
    if not isinstance(schema, Mapping):
        return [f"{path}: Required value: must be an object schema"]
    root_type = nodes.node_type(schema)
    if not root_type:
        problems.append(f"{path}.type: Required value: must not be empty at the root")
    elif root_type != "object":
        problems.append(f"{path}.type: Invalid value: {go_quote(root_type)}: must be object at the root")
    _check_node(schema, path, problems, specified=None)
    metadata = nodes.properties(schema).get("metadata")
    if metadata is not None and not _only_name_restrictions(metadata):
        problems.append(
            f"{path}.properties[metadata]: Forbidden: must not specify anything other than name and "
            "generateName, but metadata is implicitly specified"
        )
    return problems


def _check_node(node: Any, loc: str, problems: list[str], specified: str | None) -> None:
    """`specified` says what the node is ("object fields", "array items") or None for the root."""
    if not isinstance(node, Mapping):
        problems.append(f"{loc}: Invalid value: {go_value(node)}: must be a schema object")
        return
    _check_shape(node, loc, problems, specified)
    _check_list_type(node, loc, problems)
    _check_junctors(node, loc, problems)
    _check_default(node, loc, problems)
    _check_rules(node, node, loc, problems)
    for key, prop in nodes.properties(node).items():
        _check_node(prop, f"{loc}.properties[{key}]", problems, "object fields")
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        _check_node(extra, f"{loc}.additionalProperties", problems, "object fields")
    items = node.get("items")
    if isinstance(items, list):
        problems.append(f"{loc}.items: Forbidden: items must be a schema object and not an array")
    elif items is not None:
        _check_node(items, f"{loc}.items", problems, "array items")


def _check_shape(node: Schema, loc: str, problems: list[str], specified: str | None) -> None:
    declared = node.get("type")
    if "$ref" in node:
        problems.append(f"{loc}.$ref: Forbidden: $ref is not supported")
    if declared is not None and declared not in _TYPES:
        supported = ", ".join(go_quote(name) for name in _TYPES)
        problems.append(f"{loc}.type: Unsupported value: {go_value(declared)}: supported values: {supported}")
    if nodes.is_int_or_string(node):
        if declared:
            detail = "must be empty if x-kubernetes-int-or-string is true"
            problems.append(f"{loc}.type: Invalid value: {go_value(declared)}: {detail}")
    elif not declared and specified and not nodes.preserves_unknown(node):
        problems.append(f"{loc}.type: Required value: must not be empty for specified {specified}")
    if node.get("x-kubernetes-preserve-unknown-fields") is False:
        problems.append(
            f"{loc}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"
        )
    if nodes.is_embedded(node):
        if declared != "object":
            problems.append(
                f"{loc}.type: Invalid value: {go_value(declared or '')}: must be object if "
                "x-kubernetes-embedded-resource is true"
            )
        if not nodes.properties(node) and not nodes.preserves_unknown(node):
            problems.append(
                f"{loc}.x-kubernetes-preserve-unknown-fields: Required value: must be true if "
                "x-kubernetes-embedded-resource is true and properties are empty"
            )
    extra = node.get("additionalProperties")
    if extra is not None and nodes.properties(node):
        problems.append(
            f"{loc}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
        )
    if extra is False:
        problems.append(f"{loc}.additionalProperties: Forbidden: must not be false")
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        try:
            goregex.compile_pattern(pattern)
        except goregex.PatternError as error:
            detail = f"must be a valid regular expression, but isn't: {error}"
            problems.append(f"{loc}.pattern: Invalid value: {go_quote(pattern)}: {detail}")
    if node.get("uniqueItems") is True:
        problems.append(
            f"{loc}.uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
            "becomes quadratic"
        )


def _check_list_type(node: Schema, loc: str, problems: list[str]) -> None:
    kind = node.get("x-kubernetes-list-type")
    keys = node.get("x-kubernetes-list-map-keys")
    if kind is None:
        if keys is not None:
            detail = "must be map if x-kubernetes-list-map-keys is set"
            problems.append(f"{loc}.x-kubernetes-list-type: Required value: {detail}")
        return
    where = f"{loc}.x-kubernetes-list-type"
    if kind not in _LIST_TYPES:
        supported = ", ".join(go_quote(name) for name in _LIST_TYPES)
        problems.append(f"{where}: Unsupported value: {go_value(kind)}: supported values: {supported}")
        return
    if nodes.node_type(node) != "array":
        problems.append(f"{where}: Invalid value: {go_quote(kind)}: must only be used if type is array")
        return
    item_schema = nodes.items(node) or {}
    if (
        kind == "set"
        and nodes.node_type(item_schema) == "object"
        and item_schema.get("x-kubernetes-map-type") != "atomic"
    ):
        problems.append(
            f'{loc}.items: Invalid value: "object": must be an atomic object for a list of type set'
        )
    if kind == "map":
        _check_map_keys(item_schema, keys, loc, problems)


def _check_map_keys(item_schema: Schema, keys: Any, loc: str, problems: list[str]) -> None:
    where = f"{loc}.x-kubernetes-list-map-keys"
    if not isinstance(keys, list) or not keys:
        problems.append(f"{where}: Required value: must not be empty if x-kubernetes-list-type is map")
        return
    if nodes.node_type(item_schema) != "object":
        shown = go_value(nodes.node_type(item_schema))
        detail = "must be object if parent array's x-kubernetes-list-type is map"
        problems.append(f"{loc}.items.type: Invalid value: {shown}: {detail}")
        return
    declared = nodes.properties(item_schema)
    required = item_schema.get("required") or []
    for index, key in enumerate(keys):
        prop = declared.get(key)
        if prop is None:
            problems.append(
                f"{where}[{index}]: Invalid value: {go_value(key)}: must be a property of the items"
            )
        elif nodes.node_type(prop) not in {"string", "integer", "number", "boolean"}:
            shown = go_value(nodes.node_type(prop))
            detail = "must be a scalar type if parent array's x-kubernetes-list-type is map"
            problems.append(f"{loc}.items.properties[{key}].type: Invalid value: {shown}: {detail}")
        elif key not in required and "default" not in prop:
            problems.append(
                f"{where}[{index}]: Invalid value: {go_value(key)}: must be required or have a default"
            )


def _check_junctors(node: Schema, loc: str, problems: list[str]) -> None:
    declared = nodes.properties(node)
    for junctor in _JUNCTORS:
        listed = node.get(junctor)
        if listed is None:
            continue
        if not isinstance(listed, list):
            problems.append(f"{loc}.{junctor}: Invalid value: {go_value(listed)}: must be a list of schemas")
            continue
        allow_types = (
            nodes.is_int_or_string(node) and junctor == "anyOf" and listed in _INT_OR_STRING_PATTERNS
        )
        for index, sub in enumerate(listed):
            _check_junctor_member(sub, f"{loc}.{junctor}[{index}]", declared, problems, allow_types)
    negated = node.get("not")
    if negated is not None:
        _check_junctor_member(negated, f"{loc}.not", declared, problems, allow_types=False)


def _check_junctor_member(
    sub: Any, loc: str, outside: Mapping[str, Schema], problems: list[str], allow_types: bool
) -> None:
    if not isinstance(sub, Mapping):
        problems.append(f"{loc}: Invalid value: {go_value(sub)}: must be a schema object")
        return
    for key in _FORBIDDEN_IN_JUNCTORS:
        if key in sub and not (allow_types and key == "type"):
            problems.append(f"{loc}.{key}: Forbidden: must be empty to be structural")
    for key in nodes.properties(sub):
        if key not in outside:
            detail = "must not be specified in logical junctors without being specified outside of them"
            problems.append(f"{loc}.properties[{key}]: Forbidden: {detail}")


def _check_default(node: Schema, loc: str, problems: list[str]) -> None:
    if "default" not in node:
        return
    default = node["default"]
    where = f"{loc}.default"
    for cause in keywords.check(default, node, ROOT):
        field = where if cause.field == NIL else f"{where}.{cause.field}"
        problems.append(f"{field}: {cause.body}")
    if isinstance(default, dict | list):
        _, dropped = pruning.prune(default, node, resource_root=False)
        for unknown in dropped:
            problems.append(
                f"{where}.{unknown}: Invalid value: {go_value(default)}: must not have unknown fields"
            )


def _check_rules(holder: Schema, node: Schema, loc: str, problems: list[str]) -> None:
    specs = holder.get("x-kubernetes-validations")
    if specs is not None and not isinstance(specs, list):
        problems.append(f"{loc}.x-kubernetes-validations: Invalid value: must be a list of rules")
        return
    for index, spec in enumerate(specs or []):
        where = f"{loc}.x-kubernetes-validations[{index}]"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: Invalid value: {go_value(spec)}: must be an object with a rule")
            continue
        try:
            cel_rules.compile_rule(spec, node)
        except RuleError as error:
            problems.append(error.describe(where))
    for index, sub in enumerate(node.get("allOf") or []):
        if isinstance(sub, Mapping) and holder is node:
            _check_rules(sub, node, f"{loc}.allOf[{index}]", problems)


def _only_name_restrictions(metadata: Any) -> bool:
    if not isinstance(metadata, Mapping):
        return False
    allowed_top = {"type", "properties", "description"}
    if set(metadata) - allowed_top or nodes.node_type(metadata) not in {"", "object"}:
        return False
    return set(nodes.properties(metadata)) <= {"name", "generateName"}
