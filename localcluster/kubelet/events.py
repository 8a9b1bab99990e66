"""Kubelet events (Scheduled, Pulled, Created, Started, Killing, Unhealthy, BackOff...) sent to the API.

Repeats of the same event for the same object bump ``count`` and ``lastTimestamp`` on the existing Event
instead of creating a new one, as the kubelet's event correlator does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from localcluster.kubelet.client import ApiClient, ApiError
from localcluster.kubelet.states import timestamp

logger = logging.getLogger(__name__)

REMEMBERED_EVENTS = 4096
# Reported with the component that emits them in a real cluster.
SCHEDULER_REASONS = {"Scheduled"}


@dataclass(frozen=True)
class _Pending:
    pod: Mapping[str, Any]
    event_type: str
    reason: str
    message: str
    field_path: str | None


class EventRecorder:
    """Queues events and writes them in the background (not while ``running`` is clear: a paused kubelet)."""

    def __init__(self, client: ApiClient, node_name: str, running: asyncio.Event) -> None:
        self._client = client
        self._node = node_name
        self._running = running
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._written: OrderedDict[tuple[str, ...], tuple[str, int]] = OrderedDict()

    def record(
        self, pod: Mapping[str, Any], event_type: str, reason: str, message: str, field_path: str | None
    ) -> None:
        self._queue.put_nowait(_Pending(pod, event_type, reason, message, field_path))

    async def run(self) -> None:
        while True:
            pending = await self._queue.get()
            await self._running.wait()
            try:
                await self._write(pending)
            except ApiError as error:
                logger.debug("event %s not written: %s", pending.reason, error)

    async def _write(self, pending: _Pending) -> None:
        metadata = pending.pod.get("metadata") or {}
        namespace = str(metadata.get("namespace", "default"))
        key = (
            str(metadata.get("uid")),
            pending.event_type,
            pending.reason,
            pending.message,
            str(pending.field_path),
        )
        now = timestamp()
        events = f"/api/v1/namespaces/{namespace}/events"
        if key in self._written:
            name, count = self._written[key]
            try:
                await self._client.merge_patch(f"{events}/{name}", {"count": count + 1, "lastTimestamp": now})
                self._remember(key, name, count + 1)
                return
            except ApiError as error:
                if error.status != 404:
                    raise
        component = "default-scheduler" if pending.reason in SCHEDULER_REASONS else "kubelet"
        involved: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": namespace,
            "name": metadata.get("name"),
            "uid": metadata.get("uid"),
        }
        if pending.field_path:
            involved["fieldPath"] = pending.field_path
        # Like the kubelet: the name ends in the time in hex, so listing by name is listing in order.
        name = f"{metadata.get('name')}.{time.time_ns():x}"
        await self._client.post(
            events,
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved,
                "reason": pending.reason,
                "message": pending.message,
                "type": pending.event_type,
                "source": {"component": component, "host": self._node},
                "reportingComponent": component,
                "reportingInstance": self._node,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
            },
        )
        self._remember(key, name, 1)

    def _remember(self, key: tuple[str, ...], name: str, count: int) -> None:
        self._written[key] = (name, count)
        self._written.move_to_end(key)
        while len(self._written) > REMEMBERED_EVENTS:
            self._written.popitem(last=False)
