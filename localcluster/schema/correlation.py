"""Pairing each node of an updated object with its old value, for ratcheting and CEL transition rules.

kube-apiserver correlates object properties and map entries by key, items of `x-kubernetes-list-type: map`
lists by their key fields and items of `set` lists by value; items of atomic lists have no old counterpart.
A node whose value equals its old value is "unchanged": errors found in it are ratcheted (not reported), so an
object stored under an older, looser schema can still be updated elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from localcluster.schema import nodes
from localcluster.schema.nodes import Schema


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class Correlation:
    old: Any
    unchanged: bool

    @property
    def has_old(self) -> bool:
        return self.old is not MISSING

    def child(self, key: str, new_value: Any) -> Correlation:
        old_value = self.old.get(key, MISSING) if isinstance(self.old, dict) else MISSING
        return _pair(old_value, new_value, self.unchanged)

    def item(self, new_item: Any, list_schema: Schema) -> Correlation:
        old_item = _old_item(self.old, new_item, list_schema) if isinstance(self.old, list) else MISSING
        return _pair(old_item, new_item, self.unchanged)


CREATE: Final = Correlation(MISSING, unchanged=False)


def for_update(new: Any, old: Any) -> Correlation:
    return _pair(old, new, parent_unchanged=False)


def _pair(old_value: Any, new_value: Any, parent_unchanged: bool) -> Correlation:
    unchanged = parent_unchanged or (old_value is not MISSING and json_equal(old_value, new_value))
    return Correlation(old_value, unchanged)


def _old_item(old_list: list[Any], new_item: Any, list_schema: Schema) -> Any:
    kind = nodes.list_type(list_schema)
    if kind == "set":
        return next((old for old in old_list if json_equal(old, new_item)), MISSING)
    if kind == "map" and isinstance(new_item, dict):
        keys = nodes.list_map_keys(list_schema)
        wanted = [new_item.get(key, MISSING) for key in keys]
        for old in old_list:
            if isinstance(old, dict) and all(
                json_equal(old.get(key, MISSING), value) for key, value in zip(keys, wanted, strict=True)
            ):
                return old
    return MISSING


def json_equal(left: Any, right: Any) -> bool:
    """Deep equality of decoded JSON as Go's DeepEqual sees it: `1`, `1.0` and `true` all differ."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)
