"""Field sets: which fields a manager owns, in the FieldsV1 form kept in `metadata.managedFields`.

A path is a tuple of elements: `("f", name)` a map field, `("k", ((key, json), ...))` an item of an
associative list by its key fields, `("v", json)` an item of a set by value, `("i", n)` a list index.
Values inside elements are canonical JSON text so paths hash and compare exactly.

FieldsV1 nests one object per element (`{"f:spec": {"f:containers": {"k:{\\"name\\":\\"a\\"}": {".": {},
"f:image": {}}}}}`); `".": {}` marks a path that is owned itself and also has owned children.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

PathElement = tuple[str, Any]
Path = tuple[PathElement, ...]

_SELF = "."
_ELEMENT_ORDER = {"f": 0, "v": 1, "i": 2, "k": 3}


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(value: Any) -> str:
    return _ENCODER.encode(value)


def field(name: str) -> PathElement:
    return ("f", name)


def key_element(keys: Mapping[str, Any]) -> PathElement:
    return ("k", tuple(sorted((k, canonical(v)) for k, v in keys.items())))


def value_element(value: Any) -> PathElement:
    return ("v", canonical(value))


def element_text(element: PathElement) -> str:
    kind, value = element
    if kind == "f":
        return f"f:{value}"
    if kind == "k":
        return "k:{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in value) + "}"
    return f"{kind}:{value}"


def _parse_element(text: str) -> PathElement:
    kind, sep, rest = text.partition(":")
    if not sep or kind not in _ELEMENT_ORDER:
        raise ValueError(f"unknown FieldsV1 path element {text!r}: expected f:, k:, v: or i: prefix")
    if kind == "f":
        return ("f", rest)
    if kind == "i":
        return ("i", int(rest))
    decoded = json.loads(rest)
    if kind == "k":
        if not isinstance(decoded, dict):
            raise ValueError(f"FieldsV1 key element {text!r} must hold a JSON object")
        return key_element(decoded)
    return value_element(decoded)


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """The FieldsV1 object for a set of owned paths (`.` first, then children in kube's order)."""
    root: dict[str, Any] = {}
    member_nodes = []
    # Sorted, a parent comes before its children, so its provisional "." stays the first key.
    for path in sorted(set(paths), key=path_sort_key):
        node = root
        for element in path:
            node = node.setdefault(element_text(element), {})
        node[_SELF] = {}
        member_nodes.append(node)
    for node in member_nodes:
        if len(node) == 1:
            del node[_SELF]  # nothing below: a plain leaf
    return root


def contains_member(tree: Mapping[str, Any], path: Path) -> bool:
    """Whether a FieldsV1 tree owns `path` (without decoding the tree)."""
    node: Any = tree
    for element in path:
        node = node.get(element_text(element)) if isinstance(node, Mapping) else None
        if node is None:
            return False
    return isinstance(node, Mapping) and (not node or _SELF in node)


def remove_members(tree: Mapping[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """A copy of a FieldsV1 tree without `paths`; only the nodes on the way to them are copied."""
    result = dict(tree)
    for path in paths:
        if path and contains_member(result, path):
            result = _without(result, path)
    return result


def _without(node: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """`node` (the tree level holding path[0]) with the member `path` removed and emptied levels pruned."""
    level = dict(node)
    text = element_text(path[0])
    if len(path) == 1:
        below = {k: v for k, v in level[text].items() if k != _SELF}
    else:
        below = _without(level[text], path[1:])
    if any(k != _SELF for k in below):
        level[text] = below
    elif _SELF in below and len(path) > 1:
        level[text] = {}  # owned itself, nothing below any more: a plain leaf
    else:
        del level[text]
    return level


def decode_fields(fields: Mapping[str, Any]) -> frozenset[Path]:
    """The set of owned paths in a FieldsV1 object; raises ValueError if it is malformed."""
    out: set[Path] = set()
    _decode(fields, (), out)
    return frozenset(out)


def _decode(node: Mapping[str, Any], path: Path, out: set[Path]) -> None:
    if not isinstance(node, Mapping):
        raise ValueError(f"FieldsV1 entries must be objects, found {node!r}")
    for text, child in node.items():
        if text == _SELF:
            out.add(path)
            continue
        child_path = (*path, _parse_element(text))
        if not child:
            out.add(child_path)
        else:
            _decode(child, child_path, out)


def path_string(path: Path) -> str:
    """The form kube-apiserver prints in apply conflicts: `.spec.containers[name="app"].image`."""
    parts = []
    for kind, value in path:
        if kind == "f":
            parts.append(f".{value}")
        elif kind == "k":
            parts.append("[" + ",".join(f"{k}={v}" for k, v in value) + "]")
        elif kind == "v":
            parts.append(f"[={value}]")
        else:
            parts.append(f"[{value}]")
    return "".join(parts)


def _element_sort_key(element: PathElement) -> tuple[int, str]:
    return (_ELEMENT_ORDER[element[0]], str(element[1]))


def path_sort_key(path: Path) -> tuple[tuple[int, str], ...]:
    return tuple(_element_sort_key(element) for element in path)


def with_ancestors(paths: Iterable[Path]) -> set[Path]:
    """Every path and every prefix of it (the empty root excluded)."""
    out: set[Path] = set()
    for path in paths:
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            if prefix in out:
                break
            out.add(prefix)
    return out
