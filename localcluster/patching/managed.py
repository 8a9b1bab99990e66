"""`metadata.managedFields` entries: decoding, ownership edits, ordering and conflict reports."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from localcluster.patching.errors import ApplyConflict, StatusCause
from localcluster.patching.fieldsets import (
    Path,
    contains_member,
    decode_fields,
    encode_fields,
    path_sort_key,
    path_string,
    remove_members,
)


@dataclass(frozen=True, eq=False)
class ManagedEntry:
    """One managedFields entry. The FieldsV1 tree is kept as stored and decoded only when edited, since
    most writes leave most managers' fields alone."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    fields_v1: Mapping[str, Any]
    subresource: str = ""

    @functools.cached_property
    def fields(self) -> frozenset[Path]:
        return decode_fields(self.fields_v1)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        # Appliers keep one entry whatever version they apply; updaters get one per version.
        version = "" if self.operation == "Apply" else self.api_version
        return (self.manager, self.operation, version, self.subresource)

    def describe(self) -> str:
        """How kube-apiserver names a manager in conflict messages."""
        text = f'"{self.manager}"'
        if self.subresource:
            text += f' with subresource "{self.subresource}"'
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def owned(self, paths: Collection[Path]) -> frozenset[Path]:
        """Which of `paths` this entry owns (looked up in the stored tree, without decoding it)."""
        return frozenset(p for p in paths if contains_member(self.fields_v1, p))

    def without(self, paths: Collection[Path]) -> ManagedEntry:
        owned = self.owned(paths)
        if not owned:
            return self
        return replace(self, fields_v1=remove_members(self.fields_v1, owned))

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = self.fields_v1
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry

    @classmethod
    def new(
        cls,
        manager: str,
        operation: str,
        api_version: str,
        time: str | None,
        fields: frozenset[Path],
        subresource: str,
    ) -> ManagedEntry:
        return cls(manager, operation, api_version, time, encode_fields(fields), subresource)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> ManagedEntry:
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise ValueError(f"managedFields fieldsType must be FieldsV1, got {entry.get('fieldsType')!r}")
        fields_v1 = entry.get("fieldsV1") or {}
        if not isinstance(fields_v1, Mapping):
            raise ValueError("managedFields fieldsV1 must be an object")
        return cls(
            manager=str(entry.get("manager", "")),
            operation=str(entry.get("operation", "Update")),
            api_version=str(entry.get("apiVersion", "")),
            time=entry.get("time"),
            fields_v1=fields_v1,
            subresource=str(entry.get("subresource", "")),
        )


def decode_entries(raw: Any, validate: bool) -> list[ManagedEntry] | None:
    """Entries of a managedFields value; None when it is missing, empty or malformed (callers fall back).

    `validate` decodes every tree now, for values a client wrote; ones the server wrote are trusted.
    """
    if not isinstance(raw, list) or not raw:
        return None
    try:
        entries = [ManagedEntry.from_dict(e) for e in raw if isinstance(e, Mapping) and e]
        if validate:
            for entry in entries:
                _ = entry.fields
    except (ValueError, TypeError, AttributeError):
        return None
    return entries


def is_reset(raw: Any) -> bool:
    """`managedFields: [{}]` is the documented way for a client to clear all ownership."""
    return isinstance(raw, list) and len(raw) == 1 and raw[0] == {}


def _time_rank(entry: ManagedEntry) -> float:
    try:
        return datetime.fromisoformat(entry.time).timestamp() if entry.time else 0.0
    except ValueError:
        return 0.0


def encode_entries(entries: Sequence[ManagedEntry]) -> list[dict[str, Any]]:
    """The managedFields list in kube-apiserver's order (Apply before Update, then oldest first);
    managers left owning nothing are dropped."""
    kept = [e for e in entries if e.fields_v1]
    kept.sort(key=lambda e: (e.operation, _time_rank(e), e.manager, e.api_version, e.subresource))
    return [e.to_dict() for e in kept]


def conflict_error(conflicts: Mapping[ManagedEntry, frozenset[Path]]) -> ApplyConflict:
    """An ApplyConflict worded as kube-apiserver words it, one cause per conflicting field."""
    pairs = [(e, p) for e, paths in conflicts.items() for p in sorted(paths, key=path_sort_key)]
    causes = [
        StatusCause("FieldManagerConflict", f"conflict with {e.describe()}", path_string(p)) for e, p in pairs
    ]
    if len(pairs) == 1:
        entry, path = pairs[0]
        return ApplyConflict(
            f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}", causes
        )
    lines = []
    for entry in sorted(conflicts, key=lambda e: e.manager):
        lines.append(f"conflicts with {entry.describe()}:")
        lines.extend(f"- {path_string(p)}" for p in sorted(conflicts[entry], key=path_sort_key))
    return ApplyConflict(f"Apply failed with {len(pairs)} conflicts: " + "\n".join(lines), causes)
