"""Field errors shaped like kube-apiserver's `field.Error` and their text rendering.

kube-apiserver renders a field error as `<field>: <body>`, the body being `<Type>: <bad value>: <detail>`,
and prints the bad value with Go's fmt verbs. Clients (kubectl, kopf) show these strings verbatim, so values
are rendered as Go does: `%q` for strings, `%v` for numbers and booleans, `%#v` for maps and lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

REQUIRED: Final = "FieldValueRequired"
INVALID: Final = "FieldValueInvalid"
NOT_SUPPORTED: Final = "FieldValueNotSupported"
TYPE_INVALID: Final = "FieldValueTypeInvalid"
TOO_LONG: Final = "FieldValueTooLong"
TOO_MANY: Final = "FieldValueTooMany"
DUPLICATE: Final = "FieldValueDuplicate"
FORBIDDEN: Final = "FieldValueForbidden"

_TYPE_TEXT: Final = {
    REQUIRED: "Required value",
    INVALID: "Invalid value",
    NOT_SUPPORTED: "Unsupported value",
    TYPE_INVALID: "Invalid value",
    TOO_LONG: "Too long",
    TOO_MANY: "Too many",
    DUPLICATE: "Duplicate value",
    FORBIDDEN: "Forbidden",
}
# These error types never print the offending value (Go's ErrorBody short-circuits on them).
_VALUELESS: Final = frozenset({REQUIRED, FORBIDDEN, TOO_LONG})


class _Omitted:
    """Marks a cause whose bad value is deliberately not printed (Go's `field.OmitValueType`)."""


OMIT: Final = _Omitted()


@dataclass(frozen=True)
class Cause:
    """One field-level validation failure.

    `message` is the full text kube-apiserver puts in the aggregated Status message (`<field>: <body>`);
    `body` is the text it puts in `details.causes[].message`.
    """

    reason: str
    message: str
    field: str

    @property
    def body(self) -> str:
        return self.message.removeprefix(f"{self.field}: ")


def make_cause(reason: str, field: str, value: Any = OMIT, detail: str = "") -> Cause:
    text = _TYPE_TEXT[reason]
    if reason not in _VALUELESS and not isinstance(value, _Omitted):
        text = f"{text}: {go_value(value)}"
    if detail:
        text = f"{text}: {detail}"
    return Cause(reason=reason, message=f"{field}: {text}", field=field)


def required(field: str, detail: str = "") -> Cause:
    return make_cause(REQUIRED, field, detail=detail)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return make_cause(INVALID, field, value, detail)


def type_invalid(field: str, value: Any, detail: str) -> Cause:
    return make_cause(TYPE_INVALID, field, value, detail)


def forbidden(field: str, detail: str) -> Cause:
    return make_cause(FORBIDDEN, field, detail=detail)


def duplicate(field: str, value: Any) -> Cause:
    return make_cause(DUPLICATE, field, value)


def not_supported(field: str, value: Any, supported: Iterable[str]) -> Cause:
    quoted = ", ".join(go_quote(choice) for choice in supported)
    return make_cause(NOT_SUPPORTED, field, value, f"supported values: {quoted}" if quoted else "")


def too_long(field: str, max_length: int) -> Cause:
    return make_cause(TOO_LONG, field, detail=f"may not be more than {max_length} bytes")


def too_many(field: str, actual: int, maximum: int) -> Cause:
    return make_cause(TOO_MANY, field, actual, f"must have at most {maximum} items")


def aggregate_message(causes: Iterable[Cause]) -> str:
    """The text Go's `ErrorList.ToAggregate().Error()` gives: duplicates dropped, brackets when several."""
    messages = list(dict.fromkeys(cause.message for cause in causes))
    if len(messages) == 1:
        return messages[0]
    return "[" + ", ".join(messages) + "]"


def invalid_status_message(kind: str, group: str, name: str, causes: Iterable[Cause]) -> str:
    """The `message` of a 422 Invalid Status, e.g. `Agent.otp.example.com "a1" is invalid: <causes>`."""
    qualified = f"{kind}.{group}" if group else kind
    listed = list(causes)
    prefix = f"{qualified} {go_quote(name)} is invalid"
    return f"{prefix}: {aggregate_message(listed)}" if listed else prefix


def go_value(value: Any) -> str:
    """Render a JSON value the way Go's field.Error prints a bad value."""
    if value is None:
        # Go swaps a nil bad value for the string "null" before quoting it.
        return go_quote("null")
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool | int | float):
        return go_scalar(value)
    return go_syntax(value)


def go_scalar(value: bool | int | float) -> str:
    """Go's `%v` for a bool, int64 or float64."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_float(value)


def go_float(value: float) -> str:
    """Go's `%v` for a float64: shortest round-trip digits, exponent form below 1e-4 or from 1e21 on."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr() gives the shortest digits that round-trip, as Go does; Decimal re-lays them out exactly.
    shortest = Decimal(repr(value)).normalize()
    exponent = shortest.adjusted()
    if -4 <= exponent < 21:
        return format(shortest, "f")
    sign, digits, _ = shortest.as_tuple()
    head, tail = str(digits[0]), "".join(str(d) for d in digits[1:])
    mantissa = f"{head}.{tail}" if tail else head
    return f"{'-' if sign else ''}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def go_quote(text: str) -> str:
    """Go's `strconv.Quote`: printable runes kept, the rest escaped."""
    out = ['"']
    for char in text:
        out.append(_go_escape(char))
    out.append('"')
    return "".join(out)


_SIMPLE_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_escape(char: str) -> str:
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_syntax(value: Any) -> str:
    """Go's `%#v` for decoded JSON (`map[string]interface {}`, `[]interface {}`, scalars)."""
    if isinstance(value, dict):
        items = ", ".join(f"{go_quote(key)}:{go_syntax(value[key])}" for key in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_syntax(item) for item in value) + "}"
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, str):
        return go_quote(value)
    return go_scalar(value)
