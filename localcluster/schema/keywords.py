"""OpenAPI keyword validation of a custom resource, with kube-openapi's messages.

The checks run per node in kube-openapi's order (type, junctors, string, format, number, array, enum, object)
and word their details exactly as kube-openapi does (`spec.x in body should be greater than or equal to 0`),
converted to field errors the way kube-apiserver converts them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeGuard

from localcluster.schema import causes, formats, goregex, nodes
from localcluster.schema.causes import Cause, go_quote, go_scalar
from localcluster.schema.correlation import CREATE, Correlation, json_equal
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import NIL, FieldPath


def check(value: Any, schema: Schema, path: FieldPath, corr: Correlation = CREATE) -> list[Cause]:
    """Validate `value` against `schema`; nodes unchanged since the old object are ratcheted."""
    if corr.unchanged:
        return []
    name = path.openapi
    field = name or NIL
    type_error = _check_type(value, schema, name, field)
    if type_error is not None:
        return [type_error]
    found = _check_junctors(value, schema, name, path)
    if value is None:
        return found + _check_enum(value, schema, field)
    if isinstance(value, str):
        found += _check_string(value, schema, name, field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        found += _check_number(value, schema, name, field)
    if isinstance(value, list):
        found += _check_array(value, schema, name, field, path, corr)
    found += _check_enum(value, schema, field)
    if isinstance(value, dict):
        found += _check_object(value, schema, name, field, path, corr)
    return found


def _declared_types(schema: Schema) -> list[str]:
    if nodes.is_int_or_string(schema):
        return ["integer", "string"]
    declared = nodes.node_type(schema)
    return [declared] if declared else []


def _check_type(value: Any, schema: Schema, name: str, field: str) -> Cause | None:
    declared = _declared_types(schema)
    if not declared:
        return None
    if value is None:
        if nodes.is_nullable(schema):
            return None
        return _type_failure(field, name, ",".join(declared), "null")
    if nodes.matches_type(schema, value):
        return None
    actual = nodes.json_type(value)
    wanted_format = schema.get("format", "")
    actual_format = {"integer": "int64", "number": "float64"}.get(actual, "")
    if wanted_format and actual not in {"string", "array"}:
        # kube-openapi names the format, not the type, when a non-string value misses a formatted type.
        return _type_failure(field, name, str(wanted_format), actual_format)
    return _type_failure(field, name, ",".join(declared), actual)


def _type_failure(field: str, name: str, wanted: str, actual: str) -> Cause:
    return causes.type_invalid(field, actual, f"{name} in body must be of type {wanted}: {go_quote(actual)}")


def _check_junctors(value: Any, schema: Schema, name: str, path: FieldPath) -> list[Cause]:
    """allOf/anyOf/oneOf/not. kube-openapi reports their own failures without a field (`<nil>`)."""
    found: list[Cause] = []
    any_of = _subschemas(schema, "anyOf")
    if any_of:
        results = [check(value, sub, path) for sub in any_of]
        if all(results):
            found.append(_junctor_failure(f"{go_quote(name)} must validate at least one schema (anyOf)"))
            found += _fewest(results)
    one_of = _subschemas(schema, "oneOf")
    if one_of:
        results = [check(value, sub, path) for sub in one_of]
        valid = sum(1 for result in results if not result)
        if valid != 1:
            extra = "Found none valid" if valid == 0 else f"Found {valid} valid alternatives"
            found.append(
                _junctor_failure(f"{go_quote(name)} must validate one and only one schema (oneOf). {extra}")
            )
            if valid == 0:
                found += _fewest(results)
    all_of = _subschemas(schema, "allOf")
    if all_of:
        results = [check(value, sub, path) for sub in all_of]
        failed = [result for result in results if result]
        for result in failed:
            found += result
        if failed:
            extra = ". None validated" if len(failed) == len(results) else ""
            found.append(_junctor_failure(f"{go_quote(name)} must validate all the schemas (allOf){extra}"))
    negated = schema.get("not")
    if isinstance(negated, Mapping) and not check(value, negated, path):
        found.append(_junctor_failure(f"{go_quote(name)} must not validate the schema (not)"))
    return found


def _fewest(results: list[list[Cause]]) -> list[Cause]:
    """The errors of the closest-matching alternative (kube-openapi keeps its "best failure")."""
    return sorted(results, key=len)[0]


def _subschemas(schema: Schema, keyword: str) -> list[Schema]:
    listed = schema.get(keyword)
    return [sub for sub in listed if isinstance(sub, Mapping)] if isinstance(listed, list) else []


def _junctor_failure(detail: str) -> Cause:
    return causes.invalid(NIL, "", detail)


def _check_string(value: str, schema: Schema, name: str, field: str) -> list[Cause]:
    """Only the first failing string keyword is reported, as in kube-openapi."""
    length = len(value)
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and length > max_length:
        return [causes.too_long(field, max_length)]
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and length < min_length:
        return [causes.invalid(field, value, f"{name} in body should be at least {min_length} chars long")]
    pattern = schema.get("pattern")
    compiled = _compiled(pattern) if isinstance(pattern, str) else None
    if compiled is not None and not compiled.search(value):
        return [causes.invalid(field, value, f"{name} in body should match '{pattern}'")]
    format_name = schema.get("format")
    if isinstance(format_name, str) and not formats.conforms(format_name, value):
        detail = f"{name} in body must be of type {format_name}: {go_quote(value)}"
        return [causes.type_invalid(field, value, detail)]
    return []


def _compiled(pattern: str) -> goregex.Compiled | None:
    """The compiled `pattern`, or None for one that does not compile (structural_errors rejects those)."""
    try:
        return goregex.compile_pattern(pattern)
    except goregex.PatternError:
        return None


def _check_number(value: int | float, schema: Schema, name: str, field: str) -> list[Cause]:
    found: list[Cause] = []
    multiple = schema.get("multipleOf")
    if _is_number(multiple) and multiple and not _is_multiple(value, multiple):
        found.append(
            causes.invalid(field, value, f"{name} in body should be a multiple of {go_scalar(multiple)}")
        )
    maximum = schema.get("maximum")
    if _is_number(maximum):
        exclusive = schema.get("exclusiveMaximum") is True
        if value > maximum or (exclusive and value == maximum):
            relation = "less than" if exclusive else "less than or equal to"
            found.append(
                causes.invalid(field, value, f"{name} in body should be {relation} {go_scalar(maximum)}")
            )
    minimum = schema.get("minimum")
    if _is_number(minimum):
        exclusive = schema.get("exclusiveMinimum") is True
        if value < minimum or (exclusive and value == minimum):
            relation = "greater than" if exclusive else "greater than or equal to"
            found.append(
                causes.invalid(field, value, f"{name} in body should be {relation} {go_scalar(minimum)}")
            )
    return found


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_multiple(value: int | float, factor: int | float) -> bool:
    quotient = value / factor
    return abs(quotient - round(quotient)) < 1e-9


def _check_array(
    value: list[Any], schema: Schema, name: str, field: str, path: FieldPath, corr: Correlation
) -> list[Cause]:
    found: list[Cause] = []
    item_schema = nodes.items(schema)
    if item_schema is not None:
        for index, item in enumerate(value):
            found += check(item, item_schema, path.index(index), corr.item(item, schema))
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        found.append(
            causes.invalid(field, len(value), f"{name} in body should have at least {min_items} items")
        )
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        found.append(causes.too_many(field, len(value), max_items))
    return found


def _check_enum(value: Any, schema: Schema, field: str) -> list[Cause]:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or not allowed:
        return []
    if any(json_equal(choice, value) for choice in allowed):
        return []
    shown = [
        choice if isinstance(choice, str) else json.dumps(choice, separators=(",", ":")) for choice in allowed
    ]
    return [causes.not_supported(field, value, shown)]


def _check_object(
    value: dict[str, Any], schema: Schema, name: str, field: str, path: FieldPath, corr: Correlation
) -> list[Cause]:
    count = len(value)
    min_properties = schema.get("minProperties")
    if isinstance(min_properties, int) and count < min_properties:
        detail = f"{name} in body should have at least {min_properties} properties"
        return [causes.invalid(field, count, detail)]
    max_properties = schema.get("maxProperties")
    if isinstance(max_properties, int) and count > max_properties:
        return [causes.too_many(field, count, max_properties)]
    found: list[Cause] = []
    declared = nodes.properties(schema)
    map_values = nodes.additional_properties(schema)
    if map_values is not None:
        for key, item in value.items():
            if key not in declared:
                found += check(item, map_values, path.key(key), corr.child(key, item))
    for key, prop in declared.items():
        if key in value:
            found += check(value[key], prop, path.child(key), corr.child(key, value[key]))
    required = schema.get("required")
    if isinstance(required, list):
        found += [causes.required(path.child(key).openapi) for key in required if key not in value]
    return found
