"""The Kubernetes JSONPath dialect used by CRD `additionalPrinterColumns` (and `kubectl -o jsonpath`).

Hand-written: Python JSONPath libraries implement Goessner's or RFC 9535's dialect, which differ from
client-go's in filter syntax and missing-key handling. Supported: `.field`, `['field']`, `..field`, `*`,
`[n]`, `[-n]`, `[a:b:c]`, `['a','b']` unions and filters `[?(@.path OP literal)]` / `[?(@.path)]` with
`==`, `!=`, `<`, `>`, `<=`, `>=`. Paths start with `.` (or `$`); enclosing `{...}` is accepted.
Missing keys and out-of-range indexes yield no value rather than an error, as kube-apiserver evaluates
printer columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["JSONPath", "JSONPathError", "compile_json_path", "find"]


class JSONPathError(ValueError):
    """An expression outside the supported dialect; the message points at the offending position."""


@dataclass(frozen=True)
class _Field:
    names: tuple[str, ...]  # several for a union; "*" for every value


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None
    single: bool  # `[n]`: one element, not a slice


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Filter:
    left: tuple[_Step, ...]
    op: str | None  # None: existence test
    right: Any  # a literal, or a tuple of steps for a path relative to @ or $
    right_is_path: bool
    right_from_root: bool


_Step = _Field | _Recursive | _Slice | _Wildcard | _Filter

_FIELD_END = re.compile(r"[.\[\s)=!<>]")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, what: str) -> JSONPathError:
        return JSONPathError(f"invalid JSONPath {self.text!r} at position {self.pos}: {what}")

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> tuple[_Step, ...]:
        if self.peek("$"):
            self.pos += 1
        steps = self.steps(stop="")
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return steps

    def steps(self, stop: str) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        while self.pos < len(self.text) and not (stop and self.text[self.pos] in stop):
            if self.peek(".."):
                self.pos += 2
                steps.append(_Recursive())
                if self.peek("[") or self.peek("*"):
                    continue
                steps.append(self.field_name())
            elif self.peek("."):
                self.pos += 1
                if self.peek("*"):
                    self.pos += 1
                    steps.append(_Wildcard())
                elif self.pos == len(self.text) or (stop and self.text[self.pos] in stop):
                    break  # a lone "." is the current object
                else:
                    steps.append(self.field_name())
            elif self.peek("["):
                steps.append(self.bracket())
            elif self.peek("*"):
                self.pos += 1
                steps.append(_Wildcard())
            else:
                raise self.error(f"unexpected {self.text[self.pos]!r}")
        return tuple(steps)

    def field_name(self) -> _Field:
        chars: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if _FIELD_END.match(ch):
                break
            chars.append(ch)
            self.pos += 1
        if not chars:
            raise self.error("expected a field name")
        return _Field(("".join(chars),))

    def bracket(self) -> _Step:
        self.pos += 1
        self.skip_spaces()
        if self.peek("?"):
            step: _Step = self.filter()
        elif self.peek("*"):
            self.pos += 1
            step = _Wildcard()
        elif self.peek("'") or self.peek('"'):
            names = [self.quoted()]
            self.skip_spaces()
            while self.peek(","):
                self.pos += 1
                self.skip_spaces()
                names.append(self.quoted())
                self.skip_spaces()
            step = _Field(tuple(names))
        else:
            step = self.slice()
        self.skip_spaces()
        if not self.peek("]"):
            raise self.error("expected ']'")
        self.pos += 1
        return step

    def quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.error("unterminated string")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def slice(self) -> _Slice:
        end = self.text.find("]", self.pos)
        if end < 0:
            raise self.error("expected ']'")
        parts = [p.strip() for p in self.text[self.pos : end].split(":")]
        if len(parts) > 3 or not all(p == "" or re.fullmatch(r"-?\d+", p) for p in parts):
            raise self.error(f"invalid array index {self.text[self.pos : end]!r}")
        numbers = [int(p) if p else None for p in parts] + [None, None]
        if len(parts) == 1 and numbers[0] is None:
            raise self.error("empty array index")
        self.pos = end
        return _Slice(numbers[0], numbers[1], numbers[2], single=len(parts) == 1)

    def filter(self) -> _Filter:
        self.pos += 1
        self.skip_spaces()
        if not self.peek("("):
            raise self.error("expected '(' after '?'")
        self.pos += 1
        self.skip_spaces()
        left = self.relative_path()
        self.skip_spaces()
        op = next((o for o in _OPERATORS if self.peek(o)), None)
        right: Any = None
        right_is_path = right_from_root = False
        if op is not None:
            self.pos += len(op)
            self.skip_spaces()
            if self.peek("@") or self.peek("$"):
                right_from_root = self.peek("$")
                right, right_is_path = self.relative_path(), True
            else:
                right = self.literal()
        self.skip_spaces()
        if not self.peek(")"):
            raise self.error("expected ')' to close the filter")
        self.pos += 1
        return _Filter(left, op, right, right_is_path, right_from_root)

    def relative_path(self) -> tuple[_Step, ...]:
        if not (self.peek("@") or self.peek("$")):
            raise self.error("a filter path starts with '@'")
        self.pos += 1
        return self.steps(stop=" )=!<>")

    def literal(self) -> Any:
        if self.peek("'") or self.peek('"'):
            return self.quoted()
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.peek(word):
                self.pos += len(word)
                return value
        number = _NUMBER.match(self.text, self.pos)
        if number is None:
            raise self.error("expected a string, number or boolean")
        self.pos = number.end()
        return float(number.group()) if number.group(1) or number.group(2) else int(number.group())


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(value)]
    if isinstance(value, list):
        return list(value)
    return []


def _descendants(value: Any) -> list[Any]:
    out = [value]
    for child in _children(value):
        out.extend(_descendants(child))
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(left: Any, op: str, right: Any) -> bool:
    numbers = _is_number(left) and _is_number(right)
    if op in ("==", "!="):
        equal = numbers or type(left) is type(right)
        return (equal and left == right) == (op == "==")
    if not (numbers or (isinstance(left, str) and isinstance(right, str))):
        return False
    match op:
        case "<":
            return bool(left < right)
        case ">":
            return bool(left > right)
        case "<=":
            return bool(left <= right)
        case _:
            return bool(left >= right)


@dataclass(frozen=True)
class JSONPath:
    """A compiled expression; `find(obj)` returns every value it selects, in document order."""

    expression: str
    steps: tuple[_Step, ...]

    def find(self, obj: Any) -> list[Any]:
        return _evaluate(self.steps, [obj], obj)


def _evaluate(steps: Sequence[_Step], values: list[Any], root: Any) -> list[Any]:
    for step in steps:
        values = _apply(step, values, root)
    return values


def _apply(step: _Step, values: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    for value in values:
        match step:
            case _Field(names):
                if isinstance(value, Mapping):
                    out.extend(value[n] for n in names if n in value)
            case _Recursive():
                out.extend(_descendants(value))
            case _Wildcard():
                out.extend(_children(value))
            case _Slice():
                out.extend(_slice(step, value))
            case _Filter():
                if isinstance(value, list):
                    out.extend(item for item in value if _keeps(step, item, root))
    return out


def _slice(step: _Slice, value: Any) -> list[Any]:
    if not isinstance(value, list):
        return []
    if step.single:
        index = step.start if step.start is not None else 0
        if -len(value) <= index < len(value):
            return [value[index]]
        return []
    return value[slice(step.start, step.stop, step.step)]


def _keeps(step: _Filter, item: Any, root: Any) -> bool:
    lefts = _evaluate(step.left, [item], root)
    if step.op is None:
        return any(v is not None for v in lefts)
    if step.right_is_path:
        rights = _evaluate(step.right, [root if step.right_from_root else item], root)
    else:
        rights = [step.right]
    return any(_compare(left, step.op, right) for left in lefts for right in rights)


@functools.lru_cache(maxsize=512)
def compile_json_path(expression: str) -> JSONPath:
    """Parses `expression` (e.g. `.status.conditions[?(@.type=="Ready")].status`); raises JSONPathError."""
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text:
        raise JSONPathError("empty JSONPath expression: give a path such as .status.phase")
    return JSONPath(expression, _Parser(text).parse())


def find(expression: str, obj: Any) -> list[Any]:
    """Every value `expression` selects in `obj` (empty when nothing matches)."""
    return compile_json_path(expression).find(obj)
