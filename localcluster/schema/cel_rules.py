"""`x-kubernetes-validations` rules: compiled once, run on `self`/`oldSelf`, reported as kube-apiserver does.

A rule that mentions `oldSelf` is a transition rule: it runs only on update and only where the node has an old
value (unless `optionalOldSelf` is set, where `oldSelf` is an optional with `hasValue()`, `value()` and
`orValue()`). Rules whose value did not change are ratcheted, transition rules never are. Evaluation errors
become field errors; they never escape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, CELFunction

from localcluster.schema import causes, cel_library, nodes
from localcluster.schema.causes import OMIT, Cause
from localcluster.schema.cel_evaluator import ShortCircuitRunner
from localcluster.schema.cel_values import to_cel
from localcluster.schema.correlation import MISSING, Correlation
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import FieldPath

REASONS: Final = frozenset({causes.INVALID, causes.FORBIDDEN, causes.REQUIRED, causes.DUPLICATE})
_FIELD_PATH_STEP: Final = re.compile(r"\.([^.\[\]]+)|\['((?:[^'\\]|\\.)*)'\]")


class RuleError(ValueError):
    """A rule that cannot be compiled; `field` names the offending key of the rule."""

    def __init__(self, field: str, value: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.value = value
        self.detail = detail

    def describe(self, where: str) -> str:
        """The field-error text for this problem of the rule found at schema location `where`."""
        if self.detail in {"Required value", "Unsupported value"}:
            return f"{where}.{self.field}: {self.detail}"
        return f"{where}.{self.field}: Invalid value: {causes.go_quote(self.value)}: {self.detail}"


@dataclass(frozen=True)
class OptionalValue:
    """The `optional_type` value `oldSelf` holds when a rule sets `optionalOldSelf: true`."""

    value: Any = MISSING


def _has_value(optional: OptionalValue) -> Any:
    return celtypes.BoolType(optional.value is not MISSING)


def _value(optional: OptionalValue) -> Any:
    return optional.value if optional.value is not MISSING else CELEvalError("optional.none() dereference")


def _or_value(optional: OptionalValue, fallback: Any) -> Any:
    return optional.value if optional.value is not MISSING else fallback


_FUNCTIONS: Final[dict[str, CELFunction]] = {
    **cel_library.FUNCTIONS,
    "hasValue": _has_value,
    "value": _value,
    "orValue": _or_value,
}
_KNOWN_NAMES: Final = cel_library.KNOWN_FUNCTIONS | frozenset(_FUNCTIONS)
_ENVIRONMENT: Final = celpy.Environment(runner_class=ShortCircuitRunner)


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> tuple[celpy.Runner, bool]:
    """Parse a CEL expression once; return its program and whether it reads `oldSelf`."""
    try:
        ast = _ENVIRONMENT.compile(text)
    except CELParseError as error:
        where = f"<input>:{error.line}:{error.column}" if error.line is not None else "<input>"
        raise ValueError(f"compilation failed: ERROR: {where}: Syntax error in {text!r}") from error
    unknown = sorted(_called_functions(ast) - _KNOWN_NAMES)
    if unknown:
        raise ValueError(f"compilation failed: undeclared reference to '{unknown[0]}'")
    return _ENVIRONMENT.program(ast, functions=_FUNCTIONS), _reads(ast, "oldSelf")


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _called_functions(ast: lark.Tree[lark.Token]) -> set[str]:
    names: set[str] = set()
    for tree in ast.iter_subtrees():
        if tree.data == "ident_arg" and tree.children and isinstance(tree.children[0], lark.Token):
            names.add(str(tree.children[0]))
        if (
            tree.data == "member_dot_arg"
            and len(tree.children) > 1
            and isinstance(tree.children[1], lark.Token)
        ):
            names.add(str(tree.children[1]))
    return names


def _reads(ast: lark.Tree[lark.Token], variable: str) -> bool:
    return any(
        tree.data == "ident" and any(str(child) == variable for child in tree.children)
        for tree in ast.iter_subtrees()
    )


@dataclass(frozen=True)
class Rule:
    rule: str
    message: str
    reason: str
    field_path: str
    optional_old_self: bool
    uses_old_self: bool
    program: celpy.Runner
    message_program: celpy.Runner | None

    @property
    def error_text(self) -> str:
        """What kube-apiserver quotes for the rule in errors: its message if it has one, else its source."""
        return self.message.strip() or self.rule.strip()

    @property
    def default_detail(self) -> str:
        return self.message.strip() or f"failed rule: {self.rule.strip()}"


def compile_rule(spec: Mapping[str, Any], schema: Schema) -> Rule:
    """Compile one entry of `x-kubernetes-validations`, raising RuleError with the offending key."""
    text = spec.get("rule")
    if not isinstance(text, str) or not text.strip():
        raise RuleError("rule", "", "Required value")
    try:
        program, uses_old_self = compile_expression(text)
    except ValueError as error:
        raise RuleError("rule", text, str(error)) from error
    message_expression = spec.get("messageExpression") or ""
    message_program = None
    if message_expression:
        try:
            message_program, _ = compile_expression(str(message_expression))
        except ValueError as error:
            raise RuleError("messageExpression", str(message_expression), str(error)) from error
    reason = spec.get("reason") or causes.INVALID
    if reason not in REASONS:
        raise RuleError("reason", str(reason), "Unsupported value")
    field_path = spec.get("fieldPath") or ""
    if field_path and normalize_field_path(str(field_path), schema) is None:
        raise RuleError(
            "fieldPath", str(field_path), "fieldPath must be a valid path: does not refer to a valid field"
        )
    return Rule(
        rule=text,
        message=str(spec.get("message") or ""),
        reason=str(reason),
        field_path=str(field_path),
        optional_old_self=spec.get("optionalOldSelf") is True,
        uses_old_self=uses_old_self,
        program=program,
        message_program=message_program,
    )


def normalize_field_path(text: str, schema: Schema) -> FieldPath | None:
    """Resolve a rule's `fieldPath` (`.spec.x`, `['a.b']`) against the schema; None when it names no field."""
    position, path = 0, FieldPath()
    while position < len(text):
        step = _FIELD_PATH_STEP.match(text, position)
        if step is None:
            return None
        name = step.group(1) if step.group(1) is not None else re.sub(r"\\(.)", r"\1", step.group(2))
        declared = nodes.properties(schema)
        if name in declared:
            path, schema = path.child(name), declared[name]
        elif (map_values := nodes.additional_properties(schema)) is not None:
            path, schema = path.key(name), map_values
        else:
            return None
        position = step.end()
    return path


def check(
    rules: list[Rule], value: Any, schema: Schema, path: FieldPath, corr: Correlation, root: bool
) -> list[Cause]:
    """Evaluate a node's rules; `root` marks a resource root (the object or an embedded resource)."""
    if value is None or not rules or not nodes.matches_type(schema, value):
        return []
    activation: dict[str, Any] = {"self": to_cel(value, schema, resource_root=root)}
    found: list[Cause] = []
    for rule in rules:
        if rule.uses_old_self:
            if corr.has_old:
                old = to_cel(corr.old, schema, resource_root=root)
                activation["oldSelf"] = OptionalValue(old) if rule.optional_old_self else old
            elif rule.optional_old_self:
                activation["oldSelf"] = OptionalValue()
            else:
                continue
        elif corr.unchanged:
            continue
        found += _evaluate(rule, activation, value, schema, path)
    return found


def _evaluate(
    rule: Rule, activation: dict[str, Any], value: Any, schema: Schema, path: FieldPath
) -> list[Cause]:
    type_name = nodes.node_type(schema)
    try:
        result = rule.program.evaluate(activation)
    except CELEvalError as error:
        return [causes.invalid(str(path), type_name, _error_detail(error, rule))]
    except Exception as error:  # celpy raises plain Python errors for some bad operands
        return [
            causes.invalid(
                str(path), type_name, f"{_single_line(str(error))} evaluating rule: {rule.error_text}"
            )
        ]
    if isinstance(result, CELEvalError):
        return [causes.invalid(str(path), type_name, _error_detail(result, rule))]
    if not isinstance(result, celtypes.BoolType):
        detail = f"rule did not evaluate to a bool evaluating rule: {rule.error_text}"
        return [causes.invalid(str(path), type_name, detail)]
    if result:
        return []
    target = path
    if rule.field_path:
        relative = normalize_field_path(rule.field_path, schema)
        if relative is not None:
            target = FieldPath(path.segments + relative.segments)
    detail = _message(rule, activation) or rule.default_detail
    shown = OMIT if type_name in {"object", "array"} else value
    return [_cause_for_reason(rule.reason, str(target), shown, detail)]


def _message(rule: Rule, activation: dict[str, Any]) -> str:
    """The rule's messageExpression result, or "" when it fails or yields no usable one-line string."""
    if rule.message_program is None:
        return ""
    try:
        text = rule.message_program.evaluate(activation)
    except Exception:  # a failing messageExpression falls back to the static message, as kube-apiserver does
        return ""
    if not isinstance(text, str):
        return ""
    trimmed = str(text).strip()
    return "" if "\n" in trimmed else trimmed


def _cause_for_reason(reason: str, field: str, value: Any, detail: str) -> Cause:
    if reason == causes.FORBIDDEN:
        return causes.forbidden(field, detail)
    if reason == causes.REQUIRED:
        return causes.required(field, detail)
    if reason == causes.DUPLICATE:
        return causes.duplicate(field, value)
    return causes.invalid(field, value, detail)


def _error_detail(error: CELEvalError, rule: Rule) -> str:
    text = _cel_go_error_text(error)
    if text == "no such overload":
        return (
            f"'{text}': call arguments did not match a supported operator, function or macro signature "
            f"for rule: {rule.error_text}"
        )
    return f"{text} evaluating rule: {rule.error_text}"


def _cel_go_error_text(error: CELEvalError) -> str:
    """Word celpy's errors the way cel-go does, since kube-apiserver embeds cel-go's text."""
    message = str(error.args[0]) if error.args else "evaluation error"
    detail = error.args[2] if len(error.args) > 2 and isinstance(error.args[2], tuple) else ()
    missing_key = re.match(r"no such member in mapping: '(.*)'$", message)
    if missing_key:
        return f"no such key: {missing_key.group(1)}"
    if (
        "no matching overload" in message
        or message == "no such overload"
        or "does not support field" in message
    ):
        return "no such overload"
    if message == "return error for overflow" and detail == ("overflow",):
        return "integer overflow"
    if message.startswith("Attempt to reduce an empty sequence"):
        return "min called on empty list"
    if "divide by zero" in message:
        return "division by zero"
    if error.args and len(error.args) > 1 and error.args[1] is IndexError:
        return "index out of bounds"
    return _single_line(message)
