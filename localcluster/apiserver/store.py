"""The in-memory object store: one global resourceVersion, per-type indexes, change events, JSON persistence.

Stored objects are never mutated in place: writers build a new dict and hand it over, so readers may keep
references (the watch history does) without copying.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .watch import ChangeEvent, ResourceKey, WatchHub

ObjectRef = tuple[ResourceKey, str, str]  # (resource key, namespace, name)
Listener = Callable[[ChangeEvent], None]


class Store:
    def __init__(self, history: int = 20_000) -> None:
        self.rv = 0
        self.hub = WatchHub(history)
        # resource key -> namespace ("" for cluster-scoped) -> name -> object
        self._objects: dict[ResourceKey, dict[str, dict[str, dict[str, Any]]]] = {}
        # sorted "namespace/name" keys per resource, kept in step with _objects for ordered lists and paging
        self._order: dict[ResourceKey, list[tuple[str, str]]] = {}
        self._by_uid: dict[str, ObjectRef] = {}
        self._dependents: dict[str, set[ObjectRef]] = {}
        self._listeners: list[Listener] = []

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, key: ResourceKey, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(key, {}).get(namespace, {}).get(name)

    def objects(
        self, key: ResourceKey, namespace: str | None = None, after: tuple[str, str] | None = None
    ) -> Iterable[dict[str, Any]]:
        """Objects ordered by (namespace, name), optionally only those after the `after` position."""
        by_ns = self._objects.get(key, {})
        if namespace is not None:
            names = by_ns.get(namespace, {})
            for name in sorted(names):
                if after is None or (namespace, name) > after:
                    yield names[name]
            return
        order = self._order.get(key, [])
        start = 0 if after is None else bisect.bisect_right(order, after)
        for ns, name in order[start:]:
            yield by_ns[ns][name]

    def count(self, key: ResourceKey) -> int:
        return len(self._order.get(key, ()))

    def by_uid(self, uid: str) -> tuple[ResourceKey, dict[str, Any]] | None:
        ref = self._by_uid.get(uid)
        if ref is None:
            return None
        obj = self.get(*ref)
        return None if obj is None else (ref[0], obj)

    def dependents(self, owner_uid: str) -> list[tuple[ResourceKey, dict[str, Any]]]:
        out = []
        for key, ns, name in sorted(self._dependents.get(owner_uid, ())):
            obj = self.get(key, ns, name)
            if obj is not None:
                out.append((key, obj))
        return out

    def namespaced_keys(self, namespace: str) -> list[ResourceKey]:
        return [key for key, by_ns in self._objects.items() if by_ns.get(namespace)]

    def add_listener(self, listener: Listener) -> None:
        """Internal controllers hear every change synchronously, after watchers were offered it."""
        self._listeners.append(listener)

    # -- writes --------------------------------------------------------------------------------------------
    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: ResourceKey, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Stores a new version of an object (ADDED or MODIFIED), stamping the next resourceVersion."""
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        meta = obj["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        by_name = self._objects.setdefault(key, {}).setdefault(ns, {})
        old = by_name.get(name)
        by_name[name] = obj
        if old is None:
            bisect.insort(self._order.setdefault(key, []), (ns, name))
        self._index(key, old, obj)
        self._emit(ChangeEvent(rv, event_type, key, obj, old))
        return obj

    def remove(self, key: ResourceKey, namespace: str, name: str) -> dict[str, Any]:
        by_ns = self._objects[key]
        old = by_ns[namespace].pop(name)
        if not by_ns[namespace]:
            del by_ns[namespace]
        order = self._order[key]
        del order[bisect.bisect_left(order, (namespace, name))]
        self._index(key, old, None)
        rv = self.next_rv()
        final = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        self._emit(ChangeEvent(rv, "DELETED", key, final, old))
        return final

    def _emit(self, event: ChangeEvent) -> None:
        self.hub.publish(event)
        for listener in self._listeners:
            listener(event)

    def _index(self, key: ResourceKey, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for obj, adding in ((old, False), (new, True)):
            if obj is None:
                continue
            meta = obj["metadata"]
            ref = (key, meta.get("namespace", ""), meta["name"])
            uid = meta.get("uid")
            if uid:
                if adding:
                    self._by_uid[uid] = ref
                else:
                    self._by_uid.pop(uid, None)
            for owner in meta.get("ownerReferences", ()):
                owner_uid = owner.get("uid", "")
                if adding:
                    self._dependents.setdefault(owner_uid, set()).add(ref)
                else:
                    refs = self._dependents.get(owner_uid)
                    if refs is not None:
                        refs.discard(ref)
                        if not refs:
                            del self._dependents[owner_uid]

    # -- persistence ---------------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        items = [
            [key[0], key[1], obj]
            for key, by_ns in self._objects.items()
            for by_name in by_ns.values()
            for obj in by_name.values()
        ]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"resourceVersion": self.rv, "objects": items}))
        tmp.replace(path)

    def load(self, path: Path) -> list[tuple[ResourceKey, dict[str, Any]]]:
        """Restores objects saved by `save`, emitting no events; returns them for re-registration."""
        data = json.loads(path.read_text())
        restored: list[tuple[ResourceKey, dict[str, Any]]] = []
        for group, plural, obj in data["objects"]:
            key = (group, plural)
            meta = obj["metadata"]
            self._objects.setdefault(key, {}).setdefault(meta.get("namespace", ""), {})[meta["name"]] = obj
            bisect.insort(self._order.setdefault(key, []), (meta.get("namespace", ""), meta["name"]))
            self._index(key, None, obj)
            restored.append((key, obj))
        self.rv = int(data["resourceVersion"])
        self.hub.compacted_rv = self.rv
        return restored
