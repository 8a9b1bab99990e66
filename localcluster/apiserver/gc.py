"""Garbage collection by ownerReferences: background, foreground and orphan propagation."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from .controllers import Controller
from .errors import ApiError
from .resources import (
    FOREGROUND_FINALIZER,
    MERGE_PATCH,
    ORPHAN_FINALIZER,
    DeleteOptions,
    Resources,
    WriteOptions,
)
from .watch import ChangeEvent, ResourceKey

MANAGER = "generic-garbage-collector"


class GarbageCollector(Controller):
    """Work items are owner uids; each pass settles that owner's dependents according to the owner's state."""

    name = "garbage-collector"

    def __init__(self, resources: Resources) -> None:
        super().__init__()
        self.resources = resources
        self.store = resources.store

    def observe(self, event: ChangeEvent) -> list[Hashable]:
        metadata = event.obj["metadata"]
        items: list[Hashable] = []
        uid = metadata.get("uid")
        if event.type == "DELETED" or metadata.get("deletionTimestamp"):
            items.append(uid)
        owners = [ref.get("uid") for ref in metadata.get("ownerReferences") or ()]
        if event.type == "ADDED" and owners:
            items.append(("dangling", event.key, metadata.get("namespace", ""), metadata["name"]))
        if event.type == "DELETED":
            # A foreground-deleting owner may be waiting for exactly this dependent.
            items.extend(owners)
        return items

    def reconcile(self, item: Hashable) -> bool:
        if isinstance(item, tuple):
            _, key, namespace, name = item
            self._delete_if_dangling(key, namespace, name)
            return False
        assert isinstance(item, str)
        found = self.store.by_uid(item)
        dependents = self.store.dependents(item)
        if found is None:
            for key, dependent in dependents:
                self._release_or_delete(key, dependent, item)
            return False
        owner_key, owner = found
        if not owner["metadata"].get("deletionTimestamp"):
            return False
        finalizers = owner["metadata"].get("finalizers") or ()
        if ORPHAN_FINALIZER in finalizers:
            for key, dependent in dependents:
                self._drop_reference(key, dependent, item)
            self._remove_finalizer(owner_key, owner, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            for key, dependent in dependents:
                if not dependent["metadata"].get("deletionTimestamp"):
                    self._delete(key, dependent, "Foreground")
            if not any(self._blocks(d, item) for _, d in self.store.dependents(item)):
                current = self.store.by_uid(item)
                if current is not None:
                    self._remove_finalizer(owner_key, current[1], FOREGROUND_FINALIZER)
        return False

    @staticmethod
    def _blocks(dependent: dict[str, Any], owner_uid: str) -> bool:
        return any(
            ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion")
            for ref in dependent["metadata"].get("ownerReferences") or ()
        )

    def _release_or_delete(self, key: ResourceKey, dependent: dict[str, Any], owner_uid: str) -> None:
        others = [
            ref for ref in dependent["metadata"].get("ownerReferences") or () if ref.get("uid") != owner_uid
        ]
        if any(self.store.by_uid(ref.get("uid", "")) is not None for ref in others):
            self._drop_reference(key, dependent, owner_uid)
        elif not dependent["metadata"].get("deletionTimestamp"):
            self._delete(key, dependent, "Background")

    def _delete_if_dangling(self, key: ResourceKey, namespace: str, name: str) -> None:
        obj = self.store.get(key, namespace, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or ()
        if refs and all(self.store.by_uid(ref.get("uid", "")) is None for ref in refs):
            self._delete(key, obj, "Background")

    def _delete(self, key: ResourceKey, obj: dict[str, Any], policy: str) -> None:
        rtype = self.resources.registry.get(*key)
        if rtype is None:
            return
        metadata = obj["metadata"]
        try:
            self.resources.delete(
                rtype,
                rtype.storage_version,
                metadata.get("namespace", ""),
                metadata["name"],
                DeleteOptions(propagation=policy, preconditions={"uid": metadata["uid"]}),
            )
        except ApiError as exc:
            if exc.code != 404:
                raise

    def _drop_reference(self, key: ResourceKey, obj: dict[str, Any], owner_uid: str) -> None:
        refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") != owner_uid]
        self._patch_metadata(key, obj, {"ownerReferences": refs or None})

    def _remove_finalizer(self, key: ResourceKey, obj: dict[str, Any], finalizer: str) -> None:
        finalizers = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]
        self._patch_metadata(key, obj, {"finalizers": finalizers or None})

    def _patch_metadata(self, key: ResourceKey, obj: dict[str, Any], changes: dict[str, Any]) -> None:
        rtype = self.resources.registry.get(*key)
        if rtype is None:
            return
        metadata = obj["metadata"]
        self.resources.patch(
            rtype,
            rtype.storage_version,
            metadata.get("namespace", ""),
            metadata["name"],
            MERGE_PATCH,
            {"metadata": {**changes, "resourceVersion": metadata["resourceVersion"]}},
            "",
            WriteOptions(field_manager=MANAGER, field_validation="Ignore"),
        )
