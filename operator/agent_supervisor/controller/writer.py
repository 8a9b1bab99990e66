"""The operator's writes of its own resources: each onto the version it read, and each remembered, so the
watch event that echoes it back queues no reconcile.

The last AgentSupervisor written is kept whole, too: while no other change of it has been seen, the next
reconcile starts from it instead of reading it again. A change it missed can only be one whose watch event has
not arrived yet; the write onto the kept version then fails with a conflict, which drops it (`drop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.kube import AGENT_SUPERVISORS, KubeClient, Resource
from agent_supervisor.translate import status


class ResourceWriter:
    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._written: dict[ObjectKey, str] = {}
        """The resourceVersion of this process's last write of each resource."""
        self._latest: dict[ObjectKey, dict[str, Any]] = {}
        """The last AgentSupervisor this process wrote or read, until another change of it is seen."""

    def is_echo(self, key: ObjectKey, resource_version: str) -> bool:
        """The event carries this process's own last write of `key`."""
        return self._written.get(key) == resource_version

    def forget(self, key: ObjectKey) -> None:
        self._written.pop(key, None)
        self._latest.pop(key, None)

    def latest(self, key: ObjectKey) -> dict[str, Any] | None:
        """The resource as this process last wrote or read it, if no other change of it was seen since."""
        return self._latest.get(key)

    def keep(self, key: ObjectKey, obj: dict[str, Any]) -> None:
        """Keep `obj` (just read) as the latest version of an AgentSupervisor."""
        if key.kind == AGENT_SUPERVISORS.kind:
            self._latest[key] = obj

    def drop(self, key: ObjectKey) -> None:
        """Another change of the resource was seen (or a write onto the kept version conflicted): read it."""
        self._latest.pop(key, None)

    async def patch(
        self, key: ObjectKey, resource: Resource, obj: dict[str, Any], patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A merge patch of the resource, only onto the version read (ConflictError otherwise)."""
        written = await self._kube.merge_patch(
            resource, key.namespace, key.name, patch, resource_version=obj["metadata"]["resourceVersion"]
        )
        self._written[key] = written["metadata"]["resourceVersion"]
        self.keep(key, written)
        return written

    async def write_status(
        self, key: ObjectKey, resource: Resource, obj: dict[str, Any], desired: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write `desired` as the status, in one request onto the version read, unless it is there already."""
        patch = status.status_patch(obj.get("status"), desired)
        if not patch:
            return obj
        written = await self._kube.merge_patch(
            resource,
            key.namespace,
            key.name,
            {"status": patch},
            subresource="status",
            resource_version=obj["metadata"]["resourceVersion"],
        )
        self._written[key] = written["metadata"]["resourceVersion"]
        self.keep(key, written)
        return written
