"""Objects seen as field paths: what a manager can own in an object, and what a write changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localcluster.patching.fieldsets import Path, PathElement, field, key_element, value_element
from localcluster.patching.mergekeys import ListMeta, MergeKeys, item_path

# Fields nobody owns (kube-apiserver strips them from every field set).
STRIPPED: frozenset[Path] = frozenset(
    {(field("apiVersion"),), (field("kind"),)}
    | {
        (field("metadata"), field(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)
# Top-level structs every object has: never owned as a whole, only through their fields.
_STRUCT_ROOTS = frozenset({"metadata", "spec", "status"})
# Markers for inner nodes of a flattened object (leaves map to their values).
MAP_NODE: Any = object()
_ITEM_NODE: Any = object()


def list_items(items: list[Any], meta: ListMeta) -> list[tuple[PathElement, Any]] | None:
    """Items with their path elements, or None when the list is (or must be treated as) atomic: declared
    atomic, or breaking its declared keys (duplicates, missing key fields, non-scalar set members)."""
    if meta.list_type == "set":
        if any(isinstance(i, dict | list) for i in items):
            return None
        elements = [value_element(i) for i in items]
    elif meta.list_type == "map":
        elements = []
        for item in items:
            if not isinstance(item, dict):
                return None
            key = {}
            for name in meta.map_keys:
                if name in item:
                    key[name] = item[name]
                elif name in meta.key_defaults:
                    key[name] = meta.key_defaults[name]
                else:
                    return None
            elements.append(key_element(key))
    else:
        return None
    if len(set(elements)) != len(elements):
        return None
    return list(zip(elements, items, strict=True))


def _is_struct_root(path: Path) -> bool:
    return not path or (len(path) == 1 and path[0][1] in _STRUCT_ROOTS)


class _Flattener:
    """Maps every path a manager can own to its value (leaves) or a node marker (maps, list items)."""

    def __init__(self, keys: MergeKeys) -> None:
        self.keys = keys
        self.out: dict[Path, Any] = {}

    def value(self, value: Any, path: Path, schema_path: str) -> dict[Path, Any]:
        if path in STRIPPED:
            return self.out
        if is_map_node(value, path, schema_path, self.keys):
            if not _is_struct_root(path):
                self.out[path] = MAP_NODE
            for name, child in value.items():
                self.value(child, (*path, field(name)), self.keys.field_path(schema_path, name))
            return self.out
        if isinstance(value, list) and value:
            items = list_items(value, self.keys.list_meta(schema_path))
            if items is not None:
                self._items(items, path, item_path(schema_path))
                return self.out
        self.out[path] = value
        return self.out

    def _items(self, items: list[tuple[PathElement, Any]], path: Path, schema_path: str) -> None:
        for element, item in items:
            item_at = (*path, element)
            if element[0] == "v":
                self.out[item_at] = item
                continue
            self.out[item_at] = _ITEM_NODE
            for name, child in item.items():
                self.value(child, (*item_at, field(name)), self.keys.field_path(schema_path, name))


def is_map_node(value: Any, path: Path, schema_path: str, keys: MergeKeys) -> bool:
    """A map whose fields are owned one by one (rather than a leaf owned whole)."""
    if not isinstance(value, dict):
        return False
    return _is_struct_root(path) or (bool(value) and not keys.is_atomic_map(schema_path))


def flatten(value: Any, keys: MergeKeys, path: Path = (), schema_path: str = "") -> dict[Path, Any]:
    """Every ownable path under `path` (the whole object by default) with its value or a node marker."""
    return _Flattener(keys).value(value, path, schema_path)


def ownable(value: Any, keys: MergeKeys) -> frozenset[Path]:
    """The fields an apply configuration claims: leaves and list items, not the maps holding them."""
    return frozenset(p for p, v in flatten(value, keys).items() if v is not MAP_NODE)


@dataclass(frozen=True)
class Comparison:
    added: frozenset[Path] = frozenset()
    modified: frozenset[Path] = frozenset()
    removed: frozenset[Path] = frozenset()

    @property
    def changed(self) -> frozenset[Path]:
        return self.added | self.modified

    @property
    def empty(self) -> bool:
        return not (self.added or self.modified or self.removed)


def _same(a: Any, b: Any) -> bool:
    # Type-strict so that 1 -> true or 1 -> 1.5 count as changes (Python has True == 1).
    return a is b or (type(a) is type(b) and a == b)


class _Differ:
    def __init__(self, keys: MergeKeys) -> None:
        self.keys = keys
        self.added: set[Path] = set()
        self.modified: set[Path] = set()
        self.removed: set[Path] = set()

    def value(self, old: Any, new: Any, path: Path, schema_path: str) -> None:
        if path in STRIPPED or _same(old, new):
            return
        if is_map_node(old, path, schema_path, self.keys) and is_map_node(new, path, schema_path, self.keys):
            for name in old.keys() | new.keys():
                child, child_schema = (*path, field(name)), self.keys.field_path(schema_path, name)
                if name not in new:
                    self.removed.update(flatten(old[name], self.keys, child, child_schema))
                elif name not in old:
                    self.added.update(flatten(new[name], self.keys, child, child_schema))
                else:
                    self.value(old[name], new[name], child, child_schema)
            return
        # Lists and leaves: compare their flattened forms (small next to the whole object).
        before = flatten(old, self.keys, path, schema_path)
        after = flatten(new, self.keys, path, schema_path)
        self.added.update(after.keys() - before.keys())
        self.removed.update(before.keys() - after.keys())
        self.modified.update(p for p in after.keys() & before.keys() if not _same(after[p], before[p]))

    def result(self) -> Comparison:
        return Comparison(frozenset(self.added), frozenset(self.modified), frozenset(self.removed))


def compare(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, keys: MergeKeys) -> Comparison:
    """Which ownable paths a write added, modified (leaf value or shape) and removed."""
    differ = _Differ(keys)
    differ.value(dict(old or {}), dict(new or {}), (), "")
    return differ.result()


def remove_path(obj: dict[str, Any], path: Path, keys: MergeKeys) -> None:
    """Removes the value at `path` from `obj` (in place) if it is there."""
    container: Any = obj
    schema_path = ""
    for depth, (kind, value) in enumerate(path):
        last = depth == len(path) - 1
        if kind == "f":
            if not isinstance(container, dict) or value not in container:
                return
            schema_path = keys.field_path(schema_path, value)
            if last:
                del container[value]
                return
            container = container[value]
            continue
        if not isinstance(container, list):
            return
        items = list_items(container, keys.list_meta(schema_path)) or []
        position = next((i for i, (element, _) in enumerate(items) if element == (kind, value)), None)
        if position is None:
            return
        if last:
            del container[position]
            return
        container = container[position]
        schema_path = item_path(schema_path)
