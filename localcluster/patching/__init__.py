"""Patch application for the local API server: JSON merge patch, JSON patch, strategic merge patch and
server-side apply with managedFields. Every function is pure: inputs are never mutated."""

from localcluster.patching.apply import record_update, server_side_apply
from localcluster.patching.errors import ApplyConflict, PatchError, StatusCause
from localcluster.patching.jsonpatches import json_merge_patch, json_patch
from localcluster.patching.managed import ManagedEntry
from localcluster.patching.mergekeys import (
    BUILTIN_MERGE_KEYS,
    BUILTIN_MERGE_KEYS_DEFAULT,
    ListMeta,
    MergeKeys,
    merge_keys_for,
    merge_keys_from_openapi_schema,
)
from localcluster.patching.strategic import strategic_merge_patch

__all__ = [
    "BUILTIN_MERGE_KEYS",
    "BUILTIN_MERGE_KEYS_DEFAULT",
    "ApplyConflict",
    "ListMeta",
    "ManagedEntry",
    "MergeKeys",
    "PatchError",
    "StatusCause",
    "json_merge_patch",
    "json_patch",
    "merge_keys_for",
    "merge_keys_from_openapi_schema",
    "record_update",
    "server_side_apply",
    "strategic_merge_patch",
]
