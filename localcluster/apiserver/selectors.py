"""Label and field selectors with kube-apiserver's grammar, semantics and error messages.

Hand-written rather than taken from a library: no Python package parses Kubernetes selectors, and the
error texts must match the apiserver's (clients show them verbatim).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "FieldRequirement",
    "FieldSelector",
    "LabelRequirement",
    "LabelSelector",
    "Operator",
    "SelectorError",
    "label_selector_from_dict",
    "parse_field_selector",
    "parse_label_selector",
    "selector_from_labels",
]


class SelectorError(ValueError):
    """A selector that kube-apiserver would reject with 400 BadRequest; str() is its message."""


class Operator(Enum):
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


# --- label key/value validation (the apiserver's wording) ----------------------------------------

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(_QNAME_FMT)
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _qualified_name_errors(value: str) -> list[str]:
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errors.append("prefix part must be no more than 253 characters")
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errors.append(
                    "prefix part "
                    + _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")
                )
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not _QNAME_RE.fullmatch(name):
        errors.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors: list[str] = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errors.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errors


def _go_quote(value: str) -> str:
    """Go's %q for the ASCII strings selectors contain."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(path: str, value: str, detail: str) -> str:
    return f"{path}: Invalid value: {_go_quote(value)}: {detail}"


def _aggregate(errors: list[str]) -> str:
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# --- label selectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        match self.operator:
            case Operator.EQUALS | Operator.DOUBLE_EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                return present and self._compares(value)

    def _compares(self, value: str) -> bool:
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if self.operator is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        match self.operator:
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return "!" + self.key
            case Operator.IN | Operator.NOT_IN:
                return f"{self.key} {self.operator.value} ({','.join(sorted(self.values))})"
            case Operator.GREATER_THAN:
                return f"{self.key}>{self.values[0]}"
            case Operator.LESS_THAN:
                return f"{self.key}<{self.values[0]}"
            case _:
                return f"{self.key}{self.operator.value}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. An empty selector matches everything; `nothing` matches no object."""

    requirements: tuple[LabelRequirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        present = labels or {}
        return all(r.matches(present) for r in self.requirements)

    def matches_object(self, obj: Mapping[str, Any]) -> bool:
        return self.matches((obj.get("metadata") or {}).get("labels"))

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _new_label_requirement(key: str, op: Operator, values: list[str]) -> LabelRequirement:
    """Validates as the apiserver's NewRequirement does (all problems reported together)."""
    errors: list[str] = []
    key_errors = _qualified_name_errors(key)
    if key_errors:
        errors.append(_invalid("key", key, "; ".join(key_errors)))

    def values_invalid(detail: str) -> None:
        errors.append(f"values: Invalid value: {_go_string_slice(values)}: {detail}")

    if op in (Operator.IN, Operator.NOT_IN) and not values:
        values_invalid("for 'in', 'notin' operators, values set can't be empty")
    if op in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS) and len(values) != 1:
        values_invalid("exact-match compatibility requires one single value")
    if op in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        values_invalid("values set must be empty for exists and does not exist")
    if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            values_invalid("for 'Gt', 'Lt' operators, exactly one value is required")
        for i, value in enumerate(values):
            if not re.fullmatch(r"[+-]?\d+", value):
                errors.append(
                    _invalid(f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer")
                )
    for i, value in enumerate(values):
        value_errors = _label_value_errors(value)
        if value_errors:
            errors.append(_invalid(f"values[{i}][{key}]", value, "; ".join(value_errors)))
    if errors:
        raise SelectorError(_aggregate(errors))
    return LabelRequirement(key, op, tuple(values))


def _go_string_slice(values: list[str]) -> str:
    """Go's %#v of a []string; an empty one only reaches validation as a nil slice (from matchExpressions)."""
    if not values:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(v) for v in values) + "}"


class _Tok(Enum):
    IDENTIFIER = "identifier"
    END = "end of string"
    OPEN = "("
    CLOSE = ")"
    COMMA = ","
    BANG = "!"
    EQ = "="
    DEQ = "=="
    NEQ = "!="
    GT = ">"
    LT = "<"
    IN = "in"
    NOTIN = "notin"


_SYMBOLS = {
    "!=": _Tok.NEQ,
    "==": _Tok.DEQ,
    "!": _Tok.BANG,
    "=": _Tok.EQ,
    "(": _Tok.OPEN,
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    ">": _Tok.GT,
    "<": _Tok.LT,
}
_SPECIAL_CHARS = frozenset("=!(),><")
_BINARY_OPERATORS = ["in", "notin", "=", "==", "!=", "gt", "lt"]


def _scan(text: str) -> list[tuple[_Tok, str]]:
    tokens: list[tuple[_Tok, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _SPECIAL_CHARS:
            two = text[i : i + 2]
            symbol = two if two in _SYMBOLS else ch
            tokens.append((_SYMBOLS[symbol], symbol))
            i += len(symbol)
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL_CHARS:
                i += 1
            word = text[start:i]
            keyword = {"in": _Tok.IN, "notin": _Tok.NOTIN}.get(word, _Tok.IDENTIFIER)
            tokens.append((keyword, word))
    tokens.append((_Tok.END, ""))
    return tokens


class _LabelParser:
    """Recursive-descent parser following the apiserver's grammar, so the same inputs fail the same way."""

    def __init__(self, text: str) -> None:
        self._tokens = _scan(text)
        self._pos = 0

    def _peek(self, values: bool) -> tuple[_Tok, str]:
        tok, lit = self._tokens[self._pos]
        # In value position the keywords are ordinary identifiers: `env in (in, notin)` is valid.
        if values and tok in (_Tok.IN, _Tok.NOTIN):
            tok = _Tok.IDENTIFIER
        return tok, lit

    def _next(self, values: bool) -> tuple[_Tok, str]:
        tok, lit = self._peek(values)
        if tok is not _Tok.END:
            self._pos += 1
        return tok, lit

    def parse(self) -> list[LabelRequirement]:
        requirements: list[LabelRequirement] = []
        while True:
            tok, lit = self._peek(values=True)
            if tok is _Tok.END:
                return requirements
            if tok not in (_Tok.IDENTIFIER, _Tok.BANG):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self._next(values=True)
            if tok is _Tok.END:
                return requirements
            if tok is not _Tok.COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            after, after_lit = self._peek(values=True)
            if after not in (_Tok.IDENTIFIER, _Tok.BANG):
                raise SelectorError(f"found '{after_lit}', expected: identifier after ','")

    def _requirement(self) -> LabelRequirement:
        negated = False
        tok, lit = self._next(values=True)
        if tok is _Tok.BANG:
            negated = True
            tok, lit = self._next(values=True)
        if tok is not _Tok.IDENTIFIER:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        key_errors = _qualified_name_errors(key)
        if key_errors:
            raise SelectorError(_invalid("<nil>", key, "; ".join(key_errors)))
        # `!key` is complete by itself; anything after it is the caller's "expected ','" error, as upstream.
        if negated:
            return _new_label_requirement(key, Operator.DOES_NOT_EXIST, [])
        if self._peek(values=True)[0] in (_Tok.END, _Tok.COMMA):
            return _new_label_requirement(key, Operator.EXISTS, [])
        op = self._operator()
        values = self._set_values() if op in (Operator.IN, Operator.NOT_IN) else self._exact_value()
        return _new_label_requirement(key, op, values)

    def _operator(self) -> Operator:
        tok, lit = self._next(values=False)
        operators = {
            _Tok.IN: Operator.IN,
            _Tok.NOTIN: Operator.NOT_IN,
            _Tok.EQ: Operator.EQUALS,
            _Tok.DEQ: Operator.DOUBLE_EQUALS,
            _Tok.NEQ: Operator.NOT_EQUALS,
            _Tok.GT: Operator.GREATER_THAN,
            _Tok.LT: Operator.LESS_THAN,
        }
        if tok not in operators:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operators[tok]

    def _exact_value(self) -> list[str]:
        tok, _ = self._peek(values=True)
        if tok in (_Tok.END, _Tok.COMMA):
            return [""]
        tok, lit = self._next(values=True)
        if tok is _Tok.IDENTIFIER:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")

    def _set_values(self) -> list[str]:
        tok, lit = self._next(values=True)
        if tok is not _Tok.OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self._peek(values=True)
        if tok is _Tok.CLOSE:
            self._next(values=True)
            return [""]
        if tok not in (_Tok.IDENTIFIER, _Tok.COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self._identifier_list()
        tok, lit = self._next(values=True)
        if tok is not _Tok.CLOSE:
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def _identifier_list(self) -> list[str]:
        # Empty members (`(a,,b)`, `(,a)`) stand for the empty value, as in the apiserver.
        values: list[str] = []
        while True:
            tok, lit = self._next(values=True)
            if tok is _Tok.IDENTIFIER:
                _add_unique(values, lit)
                after, after_lit = self._peek(values=True)
                if after is _Tok.CLOSE:
                    return sorted(values)
                if after is not _Tok.COMMA:
                    raise SelectorError(f"found '{after_lit}', expected: ',' or ')'")
            elif tok is _Tok.COMMA:
                if not values:
                    _add_unique(values, "")
                after, _ = self._peek(values=True)
                if after is _Tok.CLOSE:
                    _add_unique(values, "")
                    return sorted(values)
                if after is _Tok.COMMA:
                    self._next(values=True)
                    _add_unique(values, "")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")


def _add_unique(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def parse_label_selector(text: str) -> LabelSelector:
    """Parses a `labelSelector` query parameter (`a=b,c in (d,e),!f,g`)."""
    return _sorted_selector(_LabelParser(text).parse())


def _sorted_selector(requirements: list[LabelRequirement]) -> LabelSelector:
    # The apiserver keeps requirements sorted by key; it shows in the selector's string form.
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def label_selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A metav1.LabelSelector (`matchLabels` + `matchExpressions`) as used by ownerRefs, Services and others.

    None means "matches nothing" (the apiserver's convention for a null selector); `{}` matches everything.
    """
    if selector is None:
        return LabelSelector(nothing=True)
    requirements: list[LabelRequirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        requirements.append(_new_label_requirement(key, Operator.EQUALS, [str(value)]))
    for expression in selector.get("matchExpressions") or []:
        operator_name = expression.get("operator")
        if operator_name not in _EXPRESSION_OPERATORS:
            raise SelectorError(f"{_go_quote(str(operator_name))} is not a valid label selector operator")
        values = [str(v) for v in expression.get("values") or []]
        key = str(expression.get("key", ""))
        requirements.append(_new_label_requirement(key, _EXPRESSION_OPERATORS[operator_name], values))
    return _sorted_selector(requirements)


def selector_from_labels(labels: Mapping[str, str]) -> LabelSelector:
    """Equality selector from a plain map, e.g. a Service's `spec.selector`."""
    return LabelSelector(tuple(LabelRequirement(k, Operator.EQUALS, (v,)) for k, v in sorted(labels.items())))


# --- field selectors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negated: bool = False

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return (field_value(obj, self.field) == self.value) != self.negated

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact_value(self, field: str) -> str | None:
        """The value `field` must equal, if the selector pins it (lets a store look a name up directly)."""
        for requirement in self.requirements:
            if requirement.field == field and not requirement.negated:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def field_value(obj: Mapping[str, Any], dotted: str) -> str:
    """The string form the apiserver compares: missing fields are "", booleans "true"/"false"."""
    current: Any = obj
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    escaped = False
    for i, ch in enumerate(term):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            continue
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise SelectorError(f"invalid field selector: unescaped character: {ch}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str, supported: Collection[str]) -> FieldSelector:
    """Parses a `fieldSelector` query parameter; only `=`, `==` and `!=` exist for fields.

    `supported` lists the fields this resource can be filtered by (metadata.name and metadata.namespace
    everywhere; pods add spec.nodeName, status.phase...; events involvedObject.*).
    """
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        parts = _split_term(term)
        if parts is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, raw_value = parts
        if field not in supported:
            raise SelectorError(f"field label not supported: {field}")
        requirements.append(FieldRequirement(field, _unescape(raw_value), negated=op == "!="))
    return FieldSelector(tuple(requirements))
