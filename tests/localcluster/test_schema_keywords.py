"""OpenAPI keyword validation of custom resources: one small case per keyword, with kube-apiserver's texts."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.schema import Cause, CustomResourceValidator


def spec_causes(spec_schema: dict[str, Any], spec: Any, old_spec: Any = None) -> list[Cause]:
    schema = {"type": "object", "properties": {"spec": spec_schema}}
    obj = {"apiVersion": "otp.example.com/v1", "kind": "Agent", "metadata": {"name": "a1"}, "spec": spec}
    old = None if old_spec is None else {**obj, "spec": old_spec}
    return CustomResourceValidator(schema).validate(obj, old=old)


def messages(causes: list[Cause]) -> list[str]:
    return [cause.message for cause in causes]


def test_valid_object_has_no_causes() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0}}}
    assert spec_causes(schema, {"x": 3}) == []


def test_wrong_type_names_expected_and_actual_type() -> None:
    causes = spec_causes(
        {"type": "object", "properties": {"replicas": {"type": "integer"}}}, {"replicas": "two"}
    )
    assert causes == [
        Cause(
            reason="FieldValueTypeInvalid",
            message='spec.replicas: Invalid value: "string": '
            'spec.replicas in body must be of type integer: "string"',
            field="spec.replicas",
        )
    ]
    assert (
        causes[0].body == 'Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    )


def test_integral_float_is_an_integer_and_integer_is_a_number() -> None:
    schema = {"type": "object", "properties": {"i": {"type": "integer"}, "n": {"type": "number"}}}
    assert spec_causes(schema, {"i": 2.0, "n": 3}) == []
    assert messages(spec_causes(schema, {"i": 2.5})) == [
        'spec.i: Invalid value: "number": spec.i in body must be of type integer: "number"'
    ]


def test_null_requires_nullable() -> None:
    items = {"type": "array", "items": {"type": "string"}}
    assert messages(spec_causes({"type": "object", "properties": {"l": items}}, {"l": [None]})) == [
        'spec.l[0]: Invalid value: "null": spec.l[0] in body must be of type string: "null"'
    ]
    nullable = {"type": "array", "items": {"type": "string", "nullable": True}}
    assert spec_causes({"type": "object", "properties": {"l": nullable}}, {"l": [None]}) == []


def test_enum_lists_supported_values() -> None:
    schema = {
        "type": "object",
        "properties": {"strategy": {"type": "string", "enum": ["one_for_one", "rest_for_one"]}},
    }
    assert spec_causes(schema, {"strategy": "x"}) == [
        Cause(
            reason="FieldValueNotSupported",
            message='spec.strategy: Unsupported value: "x": supported values: "one_for_one", "rest_for_one"',
            field="spec.strategy",
        )
    ]


def test_enum_of_numbers_quotes_their_json() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}
    assert messages(spec_causes(schema, {"n": 3})) == [
        'spec.n: Unsupported value: 3: supported values: "1", "2"'
    ]


def test_required_fields_are_reported_per_missing_key() -> None:
    schema = {
        "type": "object",
        "required": ["model", "strategy"],
        "properties": {"model": {"type": "string"}},
    }
    causes = spec_causes(schema, {})
    assert [(c.reason, c.field, c.message) for c in causes] == [
        ("FieldValueRequired", "spec.model", "spec.model: Required value"),
        ("FieldValueRequired", "spec.strategy", "spec.strategy: Required value"),
    ]


def test_required_inside_list_items_names_the_index() -> None:
    children = {
        "type": "array",
        "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    }
    causes = spec_causes(
        {"type": "object", "properties": {"children": children}}, {"children": [{"name": "a"}, {}]}
    )
    assert messages(causes) == ["spec.children[1].name: Required value"]


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        (
            {"minimum": 0},
            -1,
            "spec.n: Invalid value: -1: spec.n in body should be greater than or equal to 0",
        ),
        (
            {"minimum": 0, "exclusiveMinimum": True},
            0,
            "spec.n: Invalid value: 0: spec.n in body should be greater than 0",
        ),
        ({"maximum": 10}, 11, "spec.n: Invalid value: 11: spec.n in body should be less than or equal to 10"),
        (
            {"maximum": 10, "exclusiveMaximum": True},
            10,
            "spec.n: Invalid value: 10: spec.n in body should be less than 10",
        ),
        (
            {"maximum": 1.5},
            2.25,
            "spec.n: Invalid value: 2.25: spec.n in body should be less than or equal to 1.5",
        ),
        ({"multipleOf": 5}, 12, "spec.n: Invalid value: 12: spec.n in body should be a multiple of 5"),
    ],
)
def test_numeric_bounds(keyword: dict[str, Any], value: Any, expected: str) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number", **keyword}}}
    assert messages(spec_causes(schema, {"n": value})) == [expected]


def test_numeric_bounds_accept_values_inside() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "number", "minimum": 0, "maximum": 10, "multipleOf": 2.5}},
    }
    assert spec_causes(schema, {"n": 7.5}) == []


def test_max_length_is_too_long_without_the_value() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}
    assert spec_causes(schema, {"name": "abcd"}) == [
        Cause(
            reason="FieldValueTooLong",
            message="spec.name: Too long: may not be more than 3 bytes",
            field="spec.name",
        )
    ]


def test_lengths_count_characters_not_bytes() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}}
    assert spec_causes(schema, {"name": "äöü"}) == []


def test_min_length_and_pattern() -> None:
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"}},
    }
    assert messages(spec_causes(schema, {"s": "a"})) == [
        'spec.s: Invalid value: "a": spec.s in body should be at least 2 chars long'
    ]
    assert messages(spec_causes(schema, {"s": "ABC"})) == [
        "spec.s: Invalid value: \"ABC\": spec.s in body should match '^[a-z]+$'"
    ]


def test_item_counts() -> None:
    schema = {
        "type": "object",
        "properties": {"l": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer"}}},
    }
    assert messages(spec_causes(schema, {"l": []})) == [
        "spec.l: Invalid value: 0: spec.l in body should have at least 1 items"
    ]
    assert spec_causes(schema, {"l": [1, 2, 3]}) == [
        Cause(
            reason="FieldValueTooMany",
            message="spec.l: Too many: 3: must have at most 2 items",
            field="spec.l",
        )
    ]


def test_property_counts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "m": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {"type": "string"},
            }
        },
    }
    assert messages(spec_causes(schema, {"m": {}})) == [
        "spec.m: Invalid value: 0: spec.m in body should have at least 1 properties"
    ]
    assert messages(spec_causes(schema, {"m": {"a": "1", "b": "2"}})) == [
        "spec.m: Too many: 2: must have at most 1 items"
    ]


def test_map_values_use_dotted_paths() -> None:
    schema = {
        "type": "object",
        "properties": {
            "limits": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
        },
    }
    assert messages(spec_causes(schema, {"limits": {"cpu": -1}})) == [
        "spec.limits.cpu: Invalid value: -1: spec.limits.cpu in body should be greater than or equal to 0"
    ]


@pytest.mark.parametrize(
    ("format_name", "good", "bad"),
    [
        ("date-time", "2024-05-01T10:00:00Z", "yesterday"),
        ("date", "2024-05-01", "2024-13-01"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "not-a-uuid"),
        ("ipv4", "10.0.0.1", "10.0.0.300"),
        ("byte", "aGVsbG8=", "***"),
        ("cidr", "10.0.0.0/8", "10.0.0.0"),
    ],
)
def test_string_formats(format_name: str, good: str, bad: str) -> None:
    schema = {"type": "object", "properties": {"v": {"type": "string", "format": format_name}}}
    assert spec_causes(schema, {"v": good}) == []
    assert messages(spec_causes(schema, {"v": bad})) == [
        f'spec.v: Invalid value: "{bad}": spec.v in body must be of type {format_name}: "{bad}"'
    ]


def test_unknown_and_numeric_formats_never_reject() -> None:
    schema = {
        "type": "object",
        "properties": {
            "v": {"type": "string", "format": "k8s-something"},
            "n": {"type": "integer", "format": "int32"},
        },
    }
    assert spec_causes(schema, {"v": "anything", "n": 2**40}) == []


def test_int_or_string_accepts_both_and_rejects_others() -> None:
    schema = {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": True}}}
    assert spec_causes(schema, {"port": 80}) == []
    assert spec_causes(schema, {"port": "http"}) == []
    assert messages(spec_causes(schema, {"port": True})) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'
    ]


def test_any_of_failure_is_reported_without_a_field() -> None:
    schema = {
        "type": "object",
        "properties": {"v": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 0}]}},
    }
    assert spec_causes(schema, {"v": 11}) == []
    causes = spec_causes(schema, {"v": 5})
    assert causes[0] == Cause(
        reason="FieldValueInvalid",
        message='<nil>: Invalid value: "": "spec.v" must validate at least one schema (anyOf)',
        field="<nil>",
    )
    assert len(causes) == 2


def test_metadata_name_must_be_a_dns_subdomain() -> None:
    validator = CustomResourceValidator({"type": "object"})
    causes = validator.validate({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "Bad_Name"}})
    assert [(c.reason, c.field) for c in causes] == [("FieldValueInvalid", "metadata.name")]
    assert causes[0].message.startswith(
        'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case'
    )
    missing = validator.validate({"apiVersion": "g/v1", "kind": "K", "metadata": {}})
    assert messages(missing) == ["metadata.name: Required value: name or generateName is required"]


def test_embedded_resources_need_api_version_and_kind() -> None:
    template = {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    causes = spec_causes(
        {"type": "object", "properties": {"template": template}}, {"template": {"metadata": {}}}
    )
    assert messages(causes) == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]


def test_list_type_set_reports_the_first_repeat() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        },
    }
    causes = spec_causes(schema, {"tags": ["a", "b", "a", "a"]})
    assert causes == [
        Cause(
            reason="FieldValueDuplicate", message='spec.tags[2]: Duplicate value: "a"', field="spec.tags[2]"
        )
    ]


def test_list_type_set_keeps_numbers_and_booleans_apart() -> None:
    schema = {
        "type": "object",
        "properties": {"v": {"type": "array", "x-kubernetes-list-type": "set", "items": {}}},
    }
    assert spec_causes(schema, {"v": [1, 1.5, True, "1"]}) == []


def test_list_type_map_reports_duplicate_keys_as_go_map() -> None:
    children = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "image": {"type": "string"}},
        },
    }
    causes = spec_causes(
        {"type": "object", "properties": {"children": children}},
        {"children": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]},
    )
    assert messages(causes) == ['spec.children[1]: Duplicate value: map[string]interface {}{"name":"a"}']


def test_update_ratchets_unchanged_invalid_fields() -> None:
    schema = {
        "type": "object",
        "properties": {"legacy": {"type": "string", "maxLength": 3}, "n": {"type": "integer", "minimum": 0}},
    }
    old = {"legacy": "too-long-already", "n": 1}
    assert spec_causes(schema, {"legacy": "too-long-already", "n": 2}, old_spec=old) == []
    assert messages(spec_causes(schema, {"legacy": "too-long-already", "n": -2}, old_spec=old)) == [
        "spec.n: Invalid value: -2: spec.n in body should be greater than or equal to 0"
    ]
    assert messages(spec_causes(schema, {"legacy": "still-too-long", "n": 2}, old_spec=old)) == [
        "spec.legacy: Too long: may not be more than 3 bytes"
    ]


def test_update_keeps_list_duplicates_only_if_old_had_them() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        },
    }
    assert spec_causes(schema, {"tags": ["a", "a", "b"]}, old_spec={"tags": ["a", "a"]}) == []
    assert len(spec_causes(schema, {"tags": ["a", "a"]}, old_spec={"tags": ["a"]})) == 1


def test_an_uncompilable_pattern_does_not_crash_validation() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "(open"}}}
    assert spec_causes(schema, {"s": "anything"}) == []


def test_patterns_have_go_semantics_so_dollar_is_the_end_of_the_text() -> None:
    """Python's `$` also matches before a final newline; Go's (RE2's) does not, and kube-apiserver is Go."""
    schema = {"type": "string", "pattern": r"^[^\s]+$"}
    assert spec_causes(schema, "ghcr.io/x/y:1") == []
    assert messages(spec_causes(schema, "ghcr.io/x/y:1\n")) == [
        "spec: Invalid value: \"ghcr.io/x/y:1\\n\": spec in body should match '^[^\\s]+$'"
    ]
