"""The Kubernetes CEL library functions rules commonly call, written for celpy's value types.

celpy implements the CEL core (operators, macros, `size`, `contains`, `startsWith`, `endsWith`, `matches`,
conversions); Kubernetes adds the list, string and regex extension functions defined here. Each function
receives the receiver first (`self.names.join(",")` calls `join(names, ",")`) and returns a CEL value or a
CELEvalError, which celpy propagates like cel-go's error values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

from celpy import celtypes
from celpy.evaluation import CELEvalError, CELFunction, base_functions

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _error(message: str) -> CELEvalError:
    return CELEvalError(message)


def is_sorted(items: Any) -> Any:
    return celtypes.BoolType(all(items[i] <= items[i + 1] for i in range(len(items) - 1)))


def sum_of(items: Any) -> Any:
    if not items:
        return celtypes.IntType(0)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


def max_of(items: Any) -> Any:
    return max(items) if items else _error("max called on empty list")


def index_of(container: Any, item: Any, start: Any = None) -> Any:
    if isinstance(container, celtypes.StringType):
        offset = int(start) if start is not None else 0
        if offset < 0 or offset > len(container):
            return _error(f"index out of range: {offset}")
        return celtypes.IntType(container.find(item, offset))
    for position, candidate in enumerate(container):
        if candidate == item:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def last_index_of(container: Any, item: Any, end: Any = None) -> Any:
    if isinstance(container, celtypes.StringType):
        stop = int(end) if end is not None else len(container)
        if stop < 0 or stop > len(container):
            return _error(f"index out of range: {stop}")
        return celtypes.IntType(container.rfind(item, 0, stop + len(item)))
    for position in range(len(container) - 1, -1, -1):
        if container[position] == item:
            return celtypes.IntType(position)
    return celtypes.IntType(-1)


def lower_ascii(text: Any) -> Any:
    return celtypes.StringType(str(text).translate(_ASCII_LOWER))


def upper_ascii(text: Any) -> Any:
    return celtypes.StringType(str(text).translate(_ASCII_UPPER))


def trim(text: Any) -> Any:
    return celtypes.StringType(str(text).strip())


def split(text: Any, separator: Any, limit: Any = None) -> Any:
    count = -1 if limit is None else int(limit)
    if count == 0:
        return celtypes.ListType([])
    if separator == "":
        pieces = list(str(text))
        if count > 0 and len(pieces) > count:
            pieces = [*pieces[: count - 1], "".join(pieces[count - 1 :])]
    else:
        pieces = str(text).split(str(separator), count - 1 if count > 0 else -1)
    return celtypes.ListType([celtypes.StringType(piece) for piece in pieces])


def join(items: Any, separator: Any = None) -> Any:
    glue = "" if separator is None else str(separator)
    return celtypes.StringType(glue.join(str(item) for item in items))


def replace(text: Any, old: Any, new: Any, limit: Any = None) -> Any:
    count = -1 if limit is None else int(limit)
    return celtypes.StringType(str(text).replace(str(old), str(new), count))


def substring(text: Any, start: Any, end: Any = None) -> Any:
    begin = int(start)
    stop = len(text) if end is None else int(end)
    if begin < 0 or begin > len(text) or stop < begin or stop > len(text):
        return _error(f"index out of range: {begin if begin < 0 or begin > len(text) else stop}")
    return celtypes.StringType(str(text)[begin:stop])


def char_at(text: Any, index: Any) -> Any:
    position = int(index)
    if position < 0 or position > len(text):
        return _error(f"index out of range: {position}")
    return celtypes.StringType(str(text)[position : position + 1])


def find(text: Any, pattern: Any) -> Any:
    match = _regex(str(pattern)).search(str(text))
    return celtypes.StringType(match.group(0) if match else "")


def find_all(text: Any, pattern: Any, limit: Any = None) -> Any:
    found = [match.group(0) for match in _regex(str(pattern)).finditer(str(text))]
    count = -1 if limit is None else int(limit)
    if count >= 0:
        found = found[:count]
    return celtypes.ListType([celtypes.StringType(item) for item in found])


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def dyn(value: Any) -> Any:
    return value


FUNCTIONS: Final[dict[str, CELFunction]] = {
    "isSorted": is_sorted,
    "sum": sum_of,
    "max": max_of,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "trim": trim,
    "split": split,
    "join": join,
    "replace": replace,
    "substring": substring,
    "charAt": char_at,
    "find": find,
    "findAll": find_all,
    "dyn": dyn,
}

# Names celpy evaluates itself rather than through the function table (`min` is its list reduction).
MACROS: Final = frozenset({"has", "all", "exists", "exists_one", "map", "filter", "min"})

KNOWN_FUNCTIONS: Final = frozenset(FUNCTIONS) | frozenset(base_functions) | MACROS
