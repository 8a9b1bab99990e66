"""x-kubernetes-validations CEL rules: macros, Kubernetes library functions, transition rules, errors."""

from __future__ import annotations

from typing import Any

import celpy
import pytest

from localcluster.schema import Cause, CustomResourceValidator, SchemaError
from localcluster.schema.cel_evaluator import ShortCircuitRunner


def with_rules(node: dict[str, Any], *rules: dict[str, Any]) -> dict[str, Any]:
    return {**node, "x-kubernetes-validations": list(rules)}


def validate(spec_schema: dict[str, Any], spec: Any, old_spec: Any = None) -> list[Cause]:
    schema = {"type": "object", "properties": {"spec": spec_schema}}
    obj = {"apiVersion": "otp.example.com/v1", "kind": "Agent", "metadata": {"name": "a1"}, "spec": spec}
    old = None if old_spec is None else {**obj, "spec": old_spec}
    return CustomResourceValidator(schema).validate(obj, old=old)


def messages(causes: list[Cause]) -> list[str]:
    return [cause.message for cause in causes]


OBJECT = {
    "type": "object",
    "properties": {
        "min": {"type": "integer"},
        "max": {"type": "integer"},
        "name": {"type": "string"},
        "ratio": {"type": "number"},
        "children": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def test_true_rule_passes_and_false_rule_omits_object_value() -> None:
    passing = with_rules(OBJECT, {"rule": "self.min <= self.max"})
    assert validate(passing, {"min": 1, "max": 2}) == []
    assert validate(passing, {"min": 3, "max": 2}) == [
        Cause(
            reason="FieldValueInvalid",
            message="spec: Invalid value: failed rule: self.min <= self.max",
            field="spec",
        )
    ]


def test_scalar_failure_shows_the_value_and_message() -> None:
    schema = with_rules({"type": "integer"}, {"rule": "self % 2 == 0", "message": "must be even"})
    assert messages(validate(schema, 3)) == ["spec: Invalid value: 3: must be even"]


def test_message_expression_wins_and_falls_back_when_it_fails() -> None:
    good = with_rules({"type": "integer"}, {"rule": "self < 5", "messageExpression": "'got ' + string(self)"})
    assert messages(validate(good, 7)) == ["spec: Invalid value: 7: got 7"]
    broken = with_rules(
        {"type": "integer"}, {"rule": "self < 5", "message": "static", "messageExpression": "self.nope"}
    )
    assert messages(validate(broken, 7)) == ["spec: Invalid value: 7: static"]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "FieldValueForbidden",
            Cause("FieldValueForbidden", "spec.name: Forbidden: not allowed", "spec.name"),
        ),
        (
            "FieldValueRequired",
            Cause("FieldValueRequired", "spec.name: Required value: not allowed", "spec.name"),
        ),
        ("FieldValueDuplicate", Cause("FieldValueDuplicate", "spec.name: Duplicate value", "spec.name")),
    ],
)
def test_reason_and_field_path_shape_the_cause(reason: str, expected: Cause) -> None:
    rule = {"rule": "self.name != 'x'", "message": "not allowed", "reason": reason, "fieldPath": ".name"}
    assert validate(with_rules(OBJECT, rule), {"name": "x"}) == [expected]


def test_rule_on_the_root_reports_nil_field() -> None:
    root = {"type": "object", "properties": {"metadata": {"type": "object"}}}
    validator = CustomResourceValidator(with_rules(root, {"rule": "self.metadata.name.startsWith('a')"}))
    ok = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "abc"}}
    assert validator.validate(ok) == []
    causes = validator.validate({**ok, "metadata": {"name": "zed"}})
    assert messages(causes) == ["<nil>: Invalid value: failed rule: self.metadata.name.startsWith('a')"]


@pytest.mark.parametrize(
    "rule",
    [
        "self.children.all(c, c.name != '')",
        "self.children.exists(c, c.name == 'b')",
        "self.children.exists_one(c, c.name == 'a')",
        "self.children.map(c, c.name) == ['a', 'b']",
        "self.children.filter(c, c.name == 'b').size() == 1",
        "has(self.labels) && !has(self.ratio)",
        "size(self.tags) == 3 && self.tags.size() == 3",
        "'team' in self.labels && self.labels.team == 'x'",
        "self.tags.isSorted() && ['b', 'a'].isSorted() == false",
        "[1, 2, 3].sum() == 6 && [1.5, 2.5].sum() == 4.0",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3",
        "self.tags.indexOf('b') == 1 && self.tags.lastIndexOf('z') == -1",
        "self.name.indexOf('-') == 2 && self.name.lastIndexOf('a') == 6",
        "self.name.matches('^[a-z]+-[a-z]+$') && self.name.startsWith('ab') && self.name.endsWith('ta')",
        "self.name.contains('-') && self.name.lowerAscii() == self.name",
        "self.name.upperAscii() == 'AB-BETA'",
        "'  x '.trim() == 'x' && self.name.split('-') == ['ab', 'beta'] && self.tags.join(',') == 'a,b,c'",
        "self.name.replace('-', '_') == 'ab_beta' && self.name.substring(3) == 'beta'",
        "self.name.charAt(0) == 'a' && self.name.substring(0, 2) == 'ab'",
        "self.name.find('[a-z]+') == 'ab' && self.name.findAll('[a-z]+') == ['ab', 'beta']",
        "self.ratio == 2.0",
        "int(self.ratio) == 2 && string(self.min) == '1' && double(self.min) == 1.0",
    ],
)
def test_macros_and_library_functions(rule: str) -> None:
    spec = {
        "min": 1,
        "name": "ab-beta",
        "children": [{"name": "a"}, {"name": "b"}],
        "tags": ["a", "b", "c"],
        "labels": {"team": "x"},
    }
    if "has(self.ratio)" not in rule:
        spec["ratio"] = 2  # a `number` field is a double in CEL even when the JSON says 2
    assert validate(with_rules(OBJECT, {"rule": rule}), spec) == []


def test_rules_on_list_items_and_map_values_name_their_element() -> None:
    items = with_rules({"type": "string"}, {"rule": "self != 'bad'"})
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": items},
            "labels": {"type": "object", "additionalProperties": items},
        },
    }
    causes = validate(schema, {"tags": ["ok", "bad"], "labels": {"k": "bad"}})
    assert messages(causes) == [
        "spec.tags[1]: Invalid value: \"bad\": failed rule: self != 'bad'",
        "spec.labels[k]: Invalid value: \"bad\": failed rule: self != 'bad'",
    ]


def test_property_names_are_escaped_for_cel() -> None:
    schema = {
        "type": "object",
        "properties": {
            "dash-name": {"type": "string"},
            "namespace": {"type": "string"},
            "a.b": {"type": "string"},
        },
    }
    rule = {"rule": "self.dash__dash__name == self.__namespace__ && self.a__dot__b == 'y'"}
    assert validate(with_rules(schema, rule), {"dash-name": "x", "namespace": "x", "a.b": "y"}) == []


def test_format_typed_strings() -> None:
    schema = {
        "type": "object",
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "every": {"type": "string", "format": "duration"},
        },
    }
    rule = {"rule": "self.at < timestamp('2030-01-01T00:00:00Z') && self.every == duration('90m')"}
    assert validate(with_rules(schema, rule), {"at": "2024-05-01T00:00:00Z", "every": "1h30m"}) == []


def test_transition_rule_runs_only_on_update() -> None:
    schema = with_rules({"type": "string"}, {"rule": "self == oldSelf", "message": "is immutable"})
    assert validate(schema, "a") == []
    assert validate(schema, "a", old_spec="a") == []
    assert messages(validate(schema, "b", old_spec="a")) == ['spec: Invalid value: "b": is immutable']


def test_transition_rule_skips_new_list_map_items_and_checks_correlated_ones() -> None:
    child = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "image": with_rules({"type": "string"}, {"rule": "self == oldSelf"}),
        },
        "required": ["name"],
    }
    children = {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": child,
    }
    schema = {"type": "object", "properties": {"children": children}}
    old = {"children": [{"name": "a", "image": "v1"}]}
    assert (
        validate(schema, {"children": [{"name": "z", "image": "new"}, {"name": "a", "image": "v1"}]}, old)
        == []
    )
    assert messages(validate(schema, {"children": [{"name": "a", "image": "v2"}]}, old)) == [
        'spec.children[0].image: Invalid value: "v2": failed rule: self == oldSelf'
    ]


def test_optional_old_self_runs_on_create_too() -> None:
    text = "oldSelf.hasValue() ? self >= oldSelf.value() : self < 10"
    schema = with_rules({"type": "integer"}, {"rule": text, "optionalOldSelf": True})
    assert messages(validate(schema, 12)) == [f"spec: Invalid value: 12: failed rule: {text}"]
    assert validate(schema, 12, old_spec=11) == []
    assert messages(validate(schema, 10, old_spec=11)) == [f"spec: Invalid value: 10: failed rule: {text}"]


def test_unchanged_values_are_ratcheted_but_transition_rules_are_not() -> None:
    schema = with_rules({"type": "integer"}, {"rule": "self < 5"})
    assert validate(schema, 7, old_spec=7) == []
    assert messages(validate(schema, 8, old_spec=7)) == ["spec: Invalid value: 8: failed rule: self < 5"]


@pytest.mark.parametrize(
    ("rule", "detail"),
    [
        ("self.missing == 1", "no such key: missing evaluating rule: self.missing == 1"),
        ("self.min / 0 == 1", "division by zero evaluating rule: self.min / 0 == 1"),
        ("self.tags[5] == 'x'", "index out of bounds evaluating rule: self.tags[5] == 'x'"),
        (
            "self.name > 1",
            "'no such overload': call arguments did not match a supported operator, function or macro "
            "signature for rule: self.name > 1",
        ),
        ("[].min() == 1", "min called on empty list evaluating rule: [].min() == 1"),
    ],
)
def test_evaluation_errors_become_invalid_causes(rule: str, detail: str) -> None:
    causes = validate(with_rules(OBJECT, {"rule": rule}), {"min": 1, "name": "n", "tags": []})
    assert causes == [Cause("FieldValueInvalid", f'spec: Invalid value: "object": {detail}', "spec")]


def test_error_text_uses_the_rule_message_when_given() -> None:
    causes = validate(with_rules(OBJECT, {"rule": "self.missing == 1", "message": "needs missing"}), {})
    assert messages(causes) == [
        'spec: Invalid value: "object": no such key: missing evaluating rule: needs missing'
    ]


def test_rules_are_skipped_for_values_of_the_wrong_type() -> None:
    schema = {"type": "object", "properties": {"n": with_rules({"type": "integer"}, {"rule": "self > 0"})}}
    assert [cause.reason for cause in validate(schema, {"n": "text"})] == [
        "FieldValueTypeInvalid",
        "FieldValueInvalid",
    ]
    assert validate(schema, {"n": "text"})[1].message == (
        '<nil>: Invalid value: "null": some validation rules were not checked because the object was '
        "invalid; correct the existing errors to complete validation"
    )


@pytest.mark.parametrize(
    ("spec", "blocking"),
    [
        ({"tags": ["a"] * 3}, "spec.tags: Too many: 3: must have at most 2 items"),
        ({"name": "x" * 9}, "spec.name: Too long: may not be more than 8 bytes"),
        (
            {"name": 1},
            'spec.name: Invalid value: "integer": spec.name in body must be of type string: "integer"',
        ),
        ({"color": "green"}, 'spec.color: Unsupported value: "green": supported values: "red"'),
    ],
)
def test_no_rule_runs_after_a_blocking_schema_error(spec: dict[str, Any], blocking: str) -> None:
    """kube-apiserver's hasBlockingErr: a list over maxItems (2,000 children of a supervisor) is refused at
    once, without evaluating rules whose cost grows with the list."""
    schema = with_rules(
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "name": {"type": "string", "maxLength": 8},
                "color": {"type": "string", "enum": ["red"]},
            },
        },
        {"rule": "false", "message": "the rule ran"},
    )
    found = messages(validate(schema, spec))
    assert found[0] == blocking
    assert "the rule ran" not in " ".join(found)
    assert found[-1].startswith('<nil>: Invalid value: "null": some validation rules were not checked')
    assert messages(validate(schema, {"tags": ["a"]})) == ["spec: Invalid value: the rule ran"]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (
            {"rule": "self.x >"},
            'rule: Invalid value: "self.x >": compilation failed: ERROR: <input>:1:8: Syntax error',
        ),
        ({"rule": "self.nosuch()"}, "compilation failed: undeclared reference to 'nosuch'"),
        ({"rule": "true", "reason": "Oops"}, "reason: Unsupported value"),
        (
            {"rule": "true", "fieldPath": ".nope"},
            "fieldPath must be a valid path: does not refer to a valid field",
        ),
        ({"rule": "   "}, "rule: Required value"),
    ],
)
def test_uncompilable_rules_are_rejected_up_front(rule: dict[str, Any], problem: str) -> None:
    schema = {"type": "object", "properties": {"spec": with_rules(OBJECT, rule)}}
    with pytest.raises(SchemaError) as raised:
        CustomResourceValidator(schema)
    assert len(raised.value.problems) == 1
    assert raised.value.problems[0].startswith(
        "openAPIV3Schema.properties[spec].x-kubernetes-validations[0]."
    )
    assert problem in raised.value.problems[0]


def test_rules_in_all_of_are_evaluated() -> None:
    schema = {
        "type": "integer",
        "allOf": [{"x-kubernetes-validations": [{"rule": "self != 13", "message": "unlucky"}]}],
    }
    assert messages(validate(schema, 13)) == ["spec: Invalid value: 13: unlucky"]


def test_root_rules_see_type_meta_and_only_name_fields_of_metadata() -> None:
    rule = (
        "self.apiVersion == 'g/v1' && self.kind == 'K' && self.metadata.generateName == 'a-' "
        "&& !has(self.metadata.labels)"
    )
    validator = CustomResourceValidator(with_rules({"type": "object"}, {"rule": rule}))
    obj = {
        "apiVersion": "g/v1",
        "kind": "K",
        "metadata": {"name": "a-1", "generateName": "a-", "labels": {"x": "y"}},
    }
    assert validator.validate(obj) == []


def test_logical_operators_skip_the_right_operand_once_the_left_decides() -> None:
    """celpy evaluated both operands, so `!has(p.pool) || self.children.all(...)` walked the list for every
    child, pool or not."""
    calls: list[int] = []

    def probe() -> Any:
        calls.append(1)
        return celpy.celtypes.BoolType(True)

    environment = celpy.Environment(runner_class=ShortCircuitRunner)
    results = {}
    for text in ("true || probe()", "false && probe()", "false || probe()", "true && probe()"):
        program = environment.program(environment.compile(text), functions={"probe": probe})
        results[text] = (bool(program.evaluate({})), len(calls))
    assert results == {
        "true || probe()": (True, 0),
        "false && probe()": (False, 0),
        "false || probe()": (True, 1),
        "true && probe()": (True, 2),
    }
    # An error on the left is still absorbed by a deciding right operand, as in cel-go.
    assert messages(validate(with_rules(OBJECT, {"rule": "self.missing == 1 || true"}), {})) == []
