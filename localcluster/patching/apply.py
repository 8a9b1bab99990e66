"""Server-side apply and managedFields bookkeeping, after structured-merge-diff's rules.

Hand-written: structured-merge-diff exists only in Go. What it covers (enough for `kubectl apply
--server-side`, kopf and field-manager conflicts between kubectl and controllers):
- apply merges the configuration into the live object: maps field by field, associative lists
  (`x-kubernetes-list-type: map`) item by key, sets by value, atomic lists and maps whole;
- the applier owns exactly the fields of its configuration; a field it applied before and omits now is
  removed unless another manager owns it (or something below it);
- changing a field another manager owns is a conflict (409, kube-apiserver's message) unless `force`,
  which transfers ownership; applying the value already there shares ownership;
- every other write (create, update, patch) records an `Update` entry owning what it changed
  (`record_update`), taking those fields from other managers, so later applies see real conflicts.
Limits: one API version (no conversion between versions), no `x-kubernetes-map-type: granular` overrides
inside atomic parents, and lists that break their declared keys (duplicates, missing key fields) are
treated as atomic rather than rejected.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from typing import Any

from localcluster.patching.errors import PatchError
from localcluster.patching.fieldsets import Path, PathElement, field, with_ancestors
from localcluster.patching.fieldwalk import STRIPPED, compare, list_items, ownable, remove_path
from localcluster.patching.managed import (
    ManagedEntry,
    conflict_error,
    decode_entries,
    encode_entries,
    is_reset,
)
from localcluster.patching.mergekeys import BUILTIN_MERGE_KEYS_DEFAULT, MergeKeys, item_path, merge_keys_for

__all__ = ["record_update", "server_side_apply"]

_MISSING: Any = object()
# The object's identity: kept even when no manager owns anything in metadata.
_NEVER_PRUNED = STRIPPED | {(field("metadata"),), (field("apiVersion"),), (field("kind"),)}


# --- merging and pruning ----------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge(live: Any, applied: Any, schema_path: str, keys: MergeKeys) -> Any:
    if live is _MISSING:
        return _without_nulls(applied)
    if isinstance(applied, dict) and isinstance(live, dict) and not keys.is_atomic_map(schema_path):
        out = dict(live)
        for name, value in applied.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = _merge(live.get(name, _MISSING), value, keys.field_path(schema_path, name), keys)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        meta = keys.list_meta(schema_path)
        live_items, applied_items = list_items(live, meta), list_items(applied, meta)
        if live_items is not None and applied_items is not None:
            child = item_path(schema_path)
            return _merge_ordered(live_items, applied_items, lambda a, b: _merge(a, b, child, keys))
    return _without_nulls(applied)


def _merge_ordered(
    live: list[tuple[PathElement, Any]],
    applied: list[tuple[PathElement, Any]],
    merge_item: Callable[[Any, Any], Any],
) -> list[Any]:
    """structured-merge-diff's list order: applied items in applied order, live-only items kept where they
    were, shared items placed when both sides reach them."""
    live_by_key, applied_by_key = dict(live), dict(applied)
    shared = [k for k, _ in applied if k in live_by_key]
    next_shared = shared.pop(0) if shared else None
    merged_keys: set[PathElement] = set()
    out: list[Any] = []
    li = ai = 0
    while li < len(live) or ai < len(applied):
        if li < len(live) and ai < len(applied):
            key = live[li][0]
            if key == applied[ai][0]:
                merged_keys.add(key)
                out.append(merge_item(live_by_key[key], applied_by_key[key]))
                li += 1
                ai += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if key in applied_by_key and next_shared is not None and next_shared != key:
                li += 1
                continue
        if li < len(live):
            key = live[li][0]
            if key not in applied_by_key:
                out.append(live[li][1])
                li += 1
                continue
            if key in merged_keys:
                li += 1
                continue
        if ai < len(applied):
            key = applied[ai][0]
            merged_keys.add(key)
            out.append(merge_item(live_by_key.get(key, _MISSING), applied_by_key[key]))
            ai += 1
            if next_shared is not None and next_shared == key:
                next_shared = shared.pop(0) if shared else None
    return out


def _is_key_field(path: Path) -> bool:
    """A key field of an associative list item: it goes only with its item, which someone still owns."""
    if len(path) < 2 or path[-2][0] != "k" or path[-1][0] != "f":
        return False
    return any(name == path[-1][1] for name, _ in path[-2][1])


def _prune(
    merged: dict[str, Any], last_applied: frozenset[Path], owned: frozenset[Path], keys: MergeKeys
) -> dict[str, Any]:
    """Removes what the applier owned before and no manager owns now (nor anything below it)."""
    kept = with_ancestors(owned) | _NEVER_PRUNED
    doomed = sorted((p for p in with_ancestors(last_applied) if p not in kept), key=len)
    removed: list[Path] = []
    for path in doomed:
        if any(path[: len(r)] == r for r in removed) or _is_key_field(path):
            continue
        remove_path(merged, path, keys)
        removed.append(path)
    return merged


# --- the two operations ----------------------------------------------------------------------


def _keys_for(obj: Mapping[str, Any], given: MergeKeys | None) -> MergeKeys:
    if given is not None:
        return given
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    return merge_keys_for(group, version, kind) if kind else BUILTIN_MERGE_KEYS_DEFAULT


def _metadata(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    meta = (obj or {}).get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def server_side_apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    manager: str,
    force: bool,
    now: str,
    list_map_keys: MergeKeys | None = None,
    subresource: str = "",
    ignored_fields: Collection[str] = (),
) -> dict[str, Any]:
    """Applies `applied` (an apply configuration) for `manager` onto `live` (None: the object is new).

    Returns the new object with `metadata.managedFields` updated. Raises ApplyConflict (409) when the
    configuration changes fields other managers own and `force` is false. `list_map_keys` describes the
    kind's associative lists (None: the built-in kind's metadata, or all lists atomic for unknown kinds).
    `ignored_fields` are top-level fields this endpoint does not write (e.g. `status` on the main resource
    of a kind with a status subresource); they are dropped from the configuration.
    """
    if not isinstance(applied, Mapping):
        raise PatchError.bad_request("an apply configuration must be a JSON or YAML object")
    if _metadata(applied).get("managedFields") is not None:
        raise PatchError.bad_request("metadata.managedFields must be nil")
    if not manager:
        raise PatchError.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
    config = {k: copy.deepcopy(v) for k, v in applied.items() if k not in ignored_fields}
    keys = _keys_for({**(live or {}), **config}, list_map_keys)
    live_body = copy.deepcopy(dict(live or {}))
    entries = (
        decode_entries(live_body.setdefault("metadata", {}).pop("managedFields", None), validate=False) or []
    )

    applied_set = ownable(config, keys)
    api_version = str(config.get("apiVersion") or live_body.get("apiVersion", ""))
    identity = (manager, "Apply", "", subresource)
    previous = next((e for e in entries if e.identity == identity), None)
    others = [e for e in entries if e.identity != identity]

    merged: dict[str, Any] = (
        _merge(live_body, config, "", keys) if live is not None else _without_nulls(config)
    )
    if previous is not None:
        owned = frozenset().union(applied_set, *(e.fields for e in others))
        merged = _prune(merged, previous.fields, owned, keys)

    comparison = compare(live, merged, keys)
    conflicts = {e: owned for e in others if (owned := e.owned(comparison.changed))}
    if conflicts and not force:
        raise conflict_error(conflicts)
    others = [e.without(comparison.changed | comparison.removed) for e in others]
    # The entry's time says when the applier last changed the object.
    time = previous.time if previous is not None and live is not None and comparison.empty else now
    mine = ManagedEntry.new(manager, "Apply", api_version, time, applied_set, subresource)

    merged.setdefault("metadata", {})["managedFields"] = encode_entries([*others, mine])
    return merged


def _entries_before_write(
    live_before: Mapping[str, Any] | None, live_after: Mapping[str, Any], subresource: str
) -> list[ManagedEntry]:
    """Ownership a write starts from: what the client wrote into managedFields (not on subresources;
    `[{}]` clears it), else what the object had."""
    before = _metadata(live_before).get("managedFields")
    written = _metadata(live_after).get("managedFields")
    if not subresource and is_reset(written):
        return []
    if not subresource and written != before:
        given = decode_entries(written, validate=True)
        if given is not None:
            return given
    return decode_entries(before, validate=False) or []


def record_update(
    live_before: Mapping[str, Any] | None,
    live_after: Mapping[str, Any],
    manager: str,
    now: str,
    list_map_keys: MergeKeys | None = None,
    subresource: str = "",
) -> list[dict[str, Any]]:
    """The `managedFields` after a non-apply write (create, update, patch) by `manager`.

    The writer owns what it changed (an `Update` entry, timestamped `now` when it changed anything);
    other managers lose the fields it changed or removed. A write that sets `metadata.managedFields`
    itself (not on a subresource) replaces the recorded ownership, as kube-apiserver allows;
    `[{}]` clears it.
    """
    keys = _keys_for(live_after, list_map_keys)
    entries = _entries_before_write(live_before, live_after, subresource)
    comparison = compare(live_before, live_after, keys)
    api_version = str(live_after.get("apiVersion", ""))
    identity = (manager, "Update", api_version, subresource)
    previous = next((e for e in entries if e.identity == identity), None)
    others = [e.without(comparison.changed | comparison.removed) for e in entries if e.identity != identity]
    if previous is not None and not comparison.changed:
        mine = previous.without(comparison.removed)
    else:
        kept = previous.fields - comparison.removed if previous is not None else frozenset()
        mine = ManagedEntry.new(manager, "Update", api_version, now, kept | comparison.changed, subresource)
    return encode_entries([*others, mine])
