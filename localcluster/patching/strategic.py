"""Kubernetes strategic merge patch, as kube-apiserver applies it to built-in kinds.

Hand-written: no Python library implements it. Semantics follow apimachinery's strategicpatch package
with the server's options (deletion lists merged, unmatched nulls ignored):
- maps merge recursively and `null` deletes a key; `$patch: replace` replaces a map, `$patch: delete`
  empties it;
- lists whose patch strategy is `merge` merge by their patch merge key (lists of scalars: union); other
  lists are replaced; list items `{"$patch": "delete", <key>: v}` delete, a `{"$patch": "replace"}` item
  replaces the list;
- `$retainKeys` drops the original's keys it does not list; `$deleteFromPrimitiveList/<f>` removes values
  from the scalar list `f`; `$setElementOrder/<f>` orders the merged list `f` (kubectl sends it on apply
  and patch); server-only items keep their place relative to the live order.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from localcluster.patching.errors import PatchError
from localcluster.patching.mergekeys import ListMeta, MergeKeys, item_path

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


def strategic_merge_patch(
    target: Mapping[str, Any], patch: Mapping[str, Any], merge_keys: MergeKeys
) -> dict[str, Any]:
    """Applies `patch` to `target` (neither is modified) and returns the patched object."""
    if not isinstance(patch, Mapping):
        raise PatchError.bad_request(
            f"strategic merge patch body must be a JSON object, got {type(patch).__name__}"
        )
    return _Merger(merge_keys).merge_map(copy.deepcopy(dict(target)), copy.deepcopy(dict(patch)), "")


def _bad_patch_type(directive: Any, where: Any) -> PatchError:
    return PatchError.bad_request(f"unknown patch type: {directive} in map: {where}")


def _no_merge_key(item: Any, key: str) -> PatchError:
    return PatchError.bad_request(f"map: {item} does not contain declared merge key: {key}")


class _Merger:
    """Works in place on private deep copies, as the algorithm consumes the patch while merging."""

    def __init__(self, merge_keys: MergeKeys) -> None:
        self._keys = merge_keys

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
        if DIRECTIVE in patch:
            directive = patch.pop(DIRECTIVE)
            if directive == "replace":
                return self.merge_map({}, patch, path)
            if directive == "delete":
                return {}
            raise _bad_patch_type(directive, patch)
        self._apply_retain_keys(original, patch)
        self._apply_element_orders(original, patch, path)
        for key, value in patch.items():
            if key.startswith(SET_ELEMENT_ORDER):
                continue
            deleting = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
            if deleting:
                key = key[len(DELETE_FROM_PRIMITIVE_LIST) :]
                if not isinstance(value, list):
                    raise PatchError.bad_request("invalid patch format of primitive list")
            if value is None:
                original.pop(key, None)
                continue
            sub_path = self._keys.field_path(path, key)
            if key not in original:
                if not deleting:
                    original[key] = self.fresh(value, sub_path)
                continue
            current = original[key]
            if isinstance(current, dict) and isinstance(value, dict):
                if self._keys.replaces_map(sub_path):
                    original[key] = self.fresh(value, sub_path)
                else:
                    original[key] = self.merge_map(current, value, sub_path)
            elif isinstance(current, list) and isinstance(value, list):
                original[key] = self._merge_list_field(current, value, sub_path, deleting)
            elif not deleting:
                original[key] = self.fresh(value, sub_path)
        return original

    def fresh(self, value: Any, path: str) -> Any:
        """A patch value landing where the original has nothing: directives resolved, nulls dropped."""
        if isinstance(value, dict):
            return self.merge_map({}, value, path)
        if isinstance(value, list):
            return self._merge_list_field([], value, path, deleting=False)
        return value

    def _merge_list_field(
        self, original: list[Any], patch: list[Any], path: str, deleting: bool
    ) -> list[Any]:
        meta = self._keys.list_meta(path)
        if deleting:
            return [v for v in original if v not in patch]
        if not meta.merges:
            return [self.fresh(v, item_path(path)) if isinstance(v, dict) else v for v in patch]
        return self._merge_list(original, patch, path, meta)

    @staticmethod
    def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
        if RETAIN_KEYS not in patch:
            return
        retain = patch.pop(RETAIN_KEYS)
        if not isinstance(retain, list):
            raise PatchError.bad_request("invalid patch format of retainKeys")
        for key, value in patch.items():
            directive = key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER))
            if value is not None and not directive and key not in retain:
                raise PatchError.bad_request("invalid patch format of retainKeys")
        for key in [k for k in original if k not in retain]:
            del original[key]

    # --- lists ------------------------------------------------------------------------------------

    def _merge_list(self, original: list[Any], patch: list[Any], path: str, meta: ListMeta) -> list[Any]:
        if not original and not patch:
            return original
        if not _holds_maps(original, patch, path):
            return _unique([*original, *patch])
        key = meta.merge_key
        if not key:
            raise PatchError.bad_request(f"cannot merge lists without merge key for {path}")
        original, patch = self._special_elements(original, patch, key)
        merged = list(original)
        for item in patch:
            if key not in item:
                raise _no_merge_key(item, key)
            position = _index(merged, item, key)
            if position >= 0:
                merged[position] = self.merge_map(merged[position], item, item_path(path))
            else:
                merged.append(self.fresh(item, item_path(path)))
        in_patch, server_only = _partition(merged, patch, key)
        return _normalize_order(in_patch, server_only, patch, original, key)

    @staticmethod
    def _special_elements(original: list[Any], patch: list[Any], key: str) -> tuple[list[Any], list[Any]]:
        plain: list[Any] = []
        replace = False
        for item in patch:
            if DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[DIRECTIVE]
            if directive == "delete":
                if key not in item:
                    raise _no_merge_key(item, key)
                original = [o for o in original if not (isinstance(o, Mapping) and o.get(key) == item[key])]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise PatchError.bad_request("merging lists cannot yet be specified in the patch")
            else:
                raise _bad_patch_type(directive, item)
        return (plain, []) if replace else (original, plain)

    def _apply_element_orders(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
        for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
            field = directive[len(SET_ELEMENT_ORDER) :]
            order = patch[directive]
            current, patched = original.get(field), patch.get(field)
            if not isinstance(order, list):
                raise PatchError.bad_request("invalid patch format of setElementOrder list")
            if not isinstance(current, list | None) or not isinstance(patched, list | None):
                continue  # the field is not a list on one side: the ordinary merge replaces it
            if current is None and patched is None:
                continue
            sub_path = self._keys.field_path(path, field)
            merged = self._merge_list_field(current or [], patched or [], sub_path, deleting=False)
            holds_maps = _holds_maps([*(current or []), *(patched or [])], order, sub_path)
            key = self._keys.list_meta(sub_path).merge_key if holds_maps else None
            if key is not None and not all(isinstance(o, Mapping) and key in o for o in order):
                raise PatchError.bad_request("invalid patch format of setElementOrder list")
            in_order, server_only = _partition(merged, order, key)
            original[field] = _normalize_order(in_order, server_only, order, current or [], key)
            patch.pop(field, None)


def _holds_maps(original: Sequence[Any], patch: Sequence[Any], path: str) -> bool:
    items = [*original, *patch]
    if not items:
        return False
    if any(isinstance(i, list) for i in items):
        raise PatchError.invalid("lists of lists are not supported")
    maps = sum(isinstance(i, Mapping) for i in items)
    if maps not in (0, len(items)):
        raise PatchError.bad_request(
            f"the list {path or '<root>'} mixes objects and scalars: it cannot be merged"
        )
    return maps > 0


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _index(items: Sequence[Any], wanted: Any, key: str | None) -> int:
    for i, item in enumerate(items):
        if key is None:
            if item == wanted:
                return i
        elif isinstance(item, Mapping) and key in item and item[key] == wanted.get(key):
            return i
    return -1


def _partition(merged: list[Any], reference: Sequence[Any], key: str | None) -> tuple[list[Any], list[Any]]:
    present: list[Any] = []
    absent: list[Any] = []
    for item in merged:
        (present if _index(reference, item, key) >= 0 else absent).append(item)
    return present, absent


def _sorted_by(items: list[Any], order: Sequence[Any], key: str | None) -> list[Any]:
    deleted = [
        o for o in order if key is not None and isinstance(o, Mapping) and o.get(DIRECTIVE) == "delete"
    ]

    def rank(item: Any) -> int:
        position = _index(order, item, key)
        return position if position >= 0 else len(order)

    return [item for item in sorted(items, key=rank) if _index(deleted, item, key) < 0]


def _normalize_order(
    in_order: list[Any], server_only: list[Any], order: Sequence[Any], live: Sequence[Any], key: str | None
) -> list[Any]:
    """Items named by `order` in that order, server-only items interleaved where they sat in `live`."""
    right = _sorted_by(in_order, order, key)
    left = _sorted_by(server_only, live, key)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li, ri = _index(live, left[i], key), _index(live, right[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out
