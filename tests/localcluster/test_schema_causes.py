"""Rendering of causes and bad values the way Go's field.Error and kube-apiserver's Status message do."""

from __future__ import annotations

import pytest

from localcluster.schema import Cause, aggregate_message, invalid_status_message
from localcluster.schema.causes import go_float, go_value, invalid, required


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (2.0, "2"),
        (1.5, "1.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (12345678901234567890.0, "12345678901234567000"),
        (-2.5e-7, "-2.5e-07"),
    ],
)
def test_floats_print_like_go_v(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ('a"b\n', '"a\\"b\\n"'),
        (None, '"null"'),
        (True, "true"),
        (-3, "-3"),
        (
            {"b": [1, None], "a": "x"},
            'map[string]interface {}{"a":"x", "b":[]interface {}{1, interface {}(nil)}}',
        ),
    ],
)
def test_bad_values_print_like_go(value: object, text: str) -> None:
    assert go_value(value) == text


def test_body_is_the_message_without_the_field() -> None:
    cause = invalid("spec.x", 5, "too big")
    assert cause == Cause("FieldValueInvalid", "spec.x: Invalid value: 5: too big", "spec.x")
    assert cause.body == "Invalid value: 5: too big"


def test_aggregate_of_one_is_bare_and_of_several_is_bracketed_without_repeats() -> None:
    first, second = required("spec.a"), required("spec.b")
    assert aggregate_message([first]) == "spec.a: Required value"
    assert aggregate_message([first, second, first]) == "[spec.a: Required value, spec.b: Required value]"


def test_invalid_status_message_names_kind_group_and_object() -> None:
    causes = [required("spec.model")]
    assert invalid_status_message("Agent", "otp.example.com", "a1", causes) == (
        'Agent.otp.example.com "a1" is invalid: spec.model: Required value'
    )
    assert invalid_status_message("Pod", "", "p", []) == 'Pod "p" is invalid'
