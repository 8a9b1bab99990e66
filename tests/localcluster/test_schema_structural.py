"""structural_errors(): what makes a CRD schema unservable, reported with the schema location."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.schema import structural_errors

SPEC = "openAPIV3Schema.properties[spec]"


def spec_errors(spec: dict[str, Any]) -> list[str]:
    return structural_errors({"type": "object", "properties": {"spec": spec}})


def test_structural_schema_has_no_errors() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 40}}},
            "spec": {
                "type": "object",
                "required": ["children"],
                "properties": {
                    "port": {
                        "x-kubernetes-int-or-string": True,
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                    },
                    "children": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string"}},
                        },
                    },
                    "free": {"x-kubernetes-preserve-unknown-fields": True},
                    "count": {"type": "integer", "default": 1, "minimum": 0},
                },
                "x-kubernetes-validations": [{"rule": "size(self.children) > 0"}],
            },
        },
    }
    assert structural_errors(schema) == []


def test_root_must_be_an_object() -> None:
    assert structural_errors({}) == ["openAPIV3Schema.type: Required value: must not be empty at the root"]
    assert structural_errors({"type": "string"}) == [
        'openAPIV3Schema.type: Invalid value: "string": must be object at the root'
    ]


def test_location_prefix_can_be_chosen() -> None:
    path = "spec.versions[0].schema.openAPIV3Schema"
    assert structural_errors({}, path=path) == [f"{path}.type: Required value: must not be empty at the root"]


def test_specified_fields_and_items_need_a_type() -> None:
    errors = spec_errors({"type": "object", "properties": {"a": {}, "l": {"type": "array", "items": {}}}})
    assert errors == [
        f"{SPEC}.properties[a].type: Required value: must not be empty for specified object fields",
        f"{SPEC}.properties[l].items.type: Required value: must not be empty for specified array items",
    ]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"type": "object", "$ref": "#/definitions/x"}, "properties[spec].$ref: Forbidden"),
        ({"type": "thing"}, 'properties[spec].type: Unsupported value: "thing"'),
        (
            {"type": "string", "x-kubernetes-int-or-string": True},
            "must be empty if x-kubernetes-int-or-string is true",
        ),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": False}, "must be true or undefined"),
        (
            {
                "type": "string",
                "x-kubernetes-embedded-resource": True,
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "must be object if x-kubernetes-embedded-resource",
        ),
        ({"type": "array", "uniqueItems": True, "items": {"type": "string"}}, "uniqueItems: Forbidden"),
        ({"type": "array", "items": [{"type": "string"}]}, "items must be a schema object and not an array"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            "additionalProperties and properties are mutual exclusive",
        ),
        (
            {"type": "object", "allOf": [{"type": "object"}]},
            "allOf[0].type: Forbidden: must be empty to be structural",
        ),
        ({"type": "object", "anyOf": [{"properties": {"x": {}}}]}, "anyOf[0].properties[x]: Forbidden"),
        ({"type": "string", "x-kubernetes-list-type": "set"}, "must only be used if type is array"),
        (
            {"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}},
            'Unsupported value: "bag"',
        ),
        (
            {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}},
            "x-kubernetes-list-map-keys: Required value",
        ),
        (
            {"type": "string", "pattern": "(open"},
            'pattern: Invalid value: "(open": must be a valid regular expression',
        ),
        (
            {"type": "integer", "default": "one"},
            'default: Invalid value: "string":  in body must be of type integer',
        ),
        (
            {"type": "object", "default": {"z": 1}, "properties": {"a": {"type": "integer"}}},
            "default.z: Invalid value",
        ),
        ({"type": "object", "x-kubernetes-validations": [{"rule": "self.x ="}]}, "compilation failed"),
    ],
)
def test_non_structural_constructs_are_reported(spec: dict[str, Any], fragment: str) -> None:
    errors = spec_errors(spec)
    assert len(errors) == 1, errors
    assert fragment in errors[0]
    assert errors[0].startswith("openAPIV3Schema.properties[spec]")


def test_list_map_keys_must_be_required_scalar_properties() -> None:
    items = {"type": "object", "properties": {"name": {"type": "string"}, "meta": {"type": "object"}}}
    errors = spec_errors(
        {
            "type": "array",
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name", "meta", "id"],
            "items": items,
        }
    )
    assert errors == [
        f'{SPEC}.x-kubernetes-list-map-keys[0]: Invalid value: "name": must be required or have a default',
        f'{SPEC}.items.properties[meta].type: Invalid value: "object": '
        "must be a scalar type if parent array's x-kubernetes-list-type is map",
        f'{SPEC}.x-kubernetes-list-map-keys[2]: Invalid value: "id": must be a property of the items',
    ]


def test_metadata_may_only_restrict_name_and_generate_name() -> None:
    schema = {
        "type": "object",
        "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
    }
    assert structural_errors(schema) == [
        "openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and "
        "generateName, but metadata is implicitly specified"
    ]
