"""Defaulting and pruning of custom resources as kube-apiserver does them."""

from __future__ import annotations

from typing import Any

from localcluster.schema import CustomResourceValidator

CHILD = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "restart": {"type": "string", "default": "permanent"},
        "shutdown": {
            "type": "object",
            "default": {},
            "properties": {"timeoutSeconds": {"type": "integer", "default": 5}},
        },
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "strategy": {"type": "string", "default": "one_for_one"},
                "intensity": {
                    "type": "object",
                    "properties": {"maxRestarts": {"type": "integer", "default": 3}},
                },
                "children": {"type": "array", "items": CHILD},
                "env": {"type": "object", "additionalProperties": {"type": "string", "default": "unset"}},
                "note": {"type": "string", "nullable": True},
                "limit": {"type": "integer"},
                "config": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"x": {"type": "string"}}}},
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def resource(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "otp.example.com/v1",
        "kind": "Supervisor",
        "metadata": {"name": "s"},
        "spec": spec,
        **extra,
    }


def test_missing_property_gets_its_default() -> None:
    defaulted = CustomResourceValidator(SCHEMA).apply_defaults(resource({}))
    assert defaulted["spec"]["strategy"] == "one_for_one"


def test_explicit_values_win_over_defaults() -> None:
    defaulted = CustomResourceValidator(SCHEMA).apply_defaults(resource({"strategy": "one_for_all"}))
    assert defaulted["spec"]["strategy"] == "one_for_all"


def test_defaults_apply_only_where_the_parent_exists() -> None:
    defaulted = CustomResourceValidator(SCHEMA).apply_defaults(resource({}))
    assert "intensity" not in defaulted["spec"]
    nested = CustomResourceValidator(SCHEMA).apply_defaults(resource({"intensity": {}}))
    assert nested["spec"]["intensity"] == {"maxRestarts": 3}


def test_defaults_in_array_items_and_inside_defaulted_objects() -> None:
    spec = {
        "children": [{"name": "a"}, {"name": "b", "restart": "temporary", "shutdown": {"timeoutSeconds": 9}}]
    }
    defaulted = CustomResourceValidator(SCHEMA).apply_defaults(resource(spec))
    assert defaulted["spec"]["children"] == [
        {"name": "a", "restart": "permanent", "shutdown": {"timeoutSeconds": 5}},
        {"name": "b", "restart": "temporary", "shutdown": {"timeoutSeconds": 9}},
    ]


def test_null_counts_as_missing_unless_nullable() -> None:
    spec = {"strategy": None, "limit": None, "note": None, "env": {"A": None, "B": "b"}}
    defaulted = CustomResourceValidator(SCHEMA).apply_defaults(resource(spec))["spec"]
    assert defaulted["strategy"] == "one_for_one"
    assert "limit" not in defaulted
    assert defaulted["note"] is None
    assert defaulted["env"] == {"A": "unset", "B": "b"}


def test_defaulting_returns_a_copy() -> None:
    original = resource({"children": [{"name": "a"}]})
    CustomResourceValidator(SCHEMA).apply_defaults(original)
    assert original["spec"] == {"children": [{"name": "a"}]}


def test_default_values_are_not_shared_between_objects() -> None:
    validator = CustomResourceValidator(SCHEMA)
    first = validator.apply_defaults(resource({"children": [{"name": "a"}]}))
    first["spec"]["children"][0]["shutdown"]["timeoutSeconds"] = 99
    second = validator.apply_defaults(resource({"children": [{"name": "a"}]}))
    assert second["spec"]["children"][0]["shutdown"]["timeoutSeconds"] == 5


def test_prune_drops_undeclared_fields_everywhere() -> None:
    spec = {
        "strategy": "x",
        "bogus": 1,
        "children": [{"name": "a", "extra": True}],
        "intensity": {"maxRestarts": 1, "y": 2},
    }
    validator = CustomResourceValidator(SCHEMA)
    pruned = validator.prune(resource(spec, unknownTop=1))
    assert pruned == resource({"strategy": "x", "children": [{"name": "a"}], "intensity": {"maxRestarts": 1}})
    assert validator.unknown_fields(resource(spec, unknownTop=1)) == [
        "spec.bogus",
        "spec.children[0].extra",
        "spec.intensity.y",
        "unknownTop",
    ]


def test_prune_keeps_resource_fields_and_known_object_meta() -> None:
    obj = resource({}, metadata={"name": "s", "labels": {"a": "b"}, "finalizers": ["f"], "surprise": 1})
    pruned = CustomResourceValidator(SCHEMA).prune(obj)
    assert pruned["apiVersion"] == "otp.example.com/v1"
    assert pruned["kind"] == "Supervisor"
    assert pruned["metadata"] == {"name": "s", "labels": {"a": "b"}, "finalizers": ["f"]}


def test_preserve_unknown_fields_keeps_unknown_keys_but_prunes_known_ones() -> None:
    spec = {"config": {"anything": {"deep": [1, 2]}, "known": {"a": "1", "b": "dropped"}}}
    pruned = CustomResourceValidator(SCHEMA).prune(resource(spec, status={"free": "form"}))
    assert pruned["spec"]["config"] == {"anything": {"deep": [1, 2]}, "known": {"a": "1"}}
    assert pruned["status"] == {"free": "form"}


def test_additional_properties_keep_every_key_and_prune_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "additionalProperties": {"type": "object", "properties": {"x": {"type": "integer"}}},
            }
        },
    }
    pruned = CustomResourceValidator(schema).prune(resource({"a": {"x": 1, "y": 2}, "b": {}}))
    assert pruned["spec"] == {"a": {"x": 1}, "b": {}}


def test_embedded_resources_keep_type_meta_and_prune_their_metadata() -> None:
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"a": "b"}, "junk": 1},
        "spec": {"x": "1", "y": 2},
    }
    pruned = CustomResourceValidator(SCHEMA).prune(resource({"template": template}))
    assert pruned["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": {"a": "b"}},
        "spec": {"x": "1"},
    }


def test_prune_returns_a_copy() -> None:
    original = resource({"bogus": 1})
    CustomResourceValidator(SCHEMA).prune(original)
    assert original["spec"] == {"bogus": 1}
