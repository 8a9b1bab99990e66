"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) with kube-apiserver's error statuses."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from localcluster.patching.errors import PatchError

# kube-apiserver's wording for a patch that cannot be applied to the object (422 Invalid).
_REJECTED = "the server rejected our request due to an error in our request"


def json_merge_patch(target: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces.

    Hand-written because the algorithm is ten lines and the `jsonpatch` package does not implement it.
    """
    if not isinstance(patch, Mapping):
        raise PatchError.bad_request(
            f"merge patch body must be a JSON object, got {type(patch).__name__}: "
            'send the fields to change as an object, e.g. {"spec": {"replicas": 2}}'
        )
    merged: dict[str, Any] = _merge(target, patch)
    return merged


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = {k: copy.deepcopy(v) for k, v in target.items()} if isinstance(target, Mapping) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = _merge(result.get(name), value)
    return result


def json_patch(target: Mapping[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 via the `jsonpatch` package. A malformed body is 400; an operation that cannot apply
    (failed `test`, missing path) is 422 Invalid, which kopf relies on for its optimistic finalizer edits."""
    if not isinstance(ops, list) or not all(isinstance(op, Mapping) for op in ops):
        raise PatchError.bad_request(
            "json patch body must be a JSON array of operation objects, "
            'e.g. [{"op": "replace", "path": "/spec/replicas", "value": 2}]'
        )
    try:
        result = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(dict(target)), in_place=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError.invalid(f"{_REJECTED}: test operation failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
        raise PatchError.invalid(f"{_REJECTED}: {exc}") from None
    if not isinstance(result, dict):
        raise PatchError.invalid(f"{_REJECTED}: the patched document must stay a JSON object")
    return result
