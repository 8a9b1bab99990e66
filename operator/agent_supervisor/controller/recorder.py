"""Kubernetes Events about Agents and AgentSupervisors, throttled and posted off the reconcile path.

An Event is a record, not work: it is posted only after the status write that decided it, in the background
(a slow events API must not delay a restart), and the same object + reason + message is posted at most once
per THROTTLE_SECONDS so that a crash loop cannot flood the API server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from agent_supervisor.controller.kube import EVENTS, ApiError, KubeClient

log = logging.getLogger(__name__)

THROTTLE_SECONDS: Final = 10.0
COMPONENT: Final = "agent-supervisor"
MAX_MESSAGE: Final = 1024


class EventRecorder:
    def __init__(self, kube: KubeClient, instance: str) -> None:
        self._kube = kube
        self._instance = instance
        self._last_posted: dict[tuple[str, str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def record(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Post an Event about `obj` in the background, unless the same one was posted just now."""
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("uid")), reason, message)
        now = time.monotonic()
        last = self._last_posted.get(key)
        if last is not None and now - last < THROTTLE_SECONDS:
            return
        self._last_posted[key] = now
        self._forget_old(now)
        task = asyncio.create_task(self._post(obj, event_type, reason, message[:MAX_MESSAGE]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _forget_old(self, now: float) -> None:
        if len(self._last_posted) < 4096:
            return
        for key, posted in list(self._last_posted.items()):
            if now - posted >= THROTTLE_SECONDS:
                del self._last_posted[key]

    async def _post(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        metadata = obj.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "default")
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata.get('name')}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": metadata.get("name"),
                "namespace": namespace,
                "uid": metadata.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._kube.create(EVENTS, namespace, event)
        except ApiError as error:
            log.warning("could not post event %s about %s: %s", reason, metadata.get("name"), error)

    async def drain(self) -> None:
        """Wait for the Events being posted (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
