"""Writes one pod's status to the API server whenever it changes (coalescing bursts of changes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from localcluster.kubelet.client import ApiClient, ApiError
from localcluster.kubelet.pod import PodWorker
from localcluster.kubelet.status import KUBELET_CONDITIONS

logger = logging.getLogger(__name__)

RETRY_INITIAL = 0.2
RETRY_MAX = 5.0


class StatusReporter:
    """PATCHes ``pods/<name>/status`` (JSON merge patch) with the worker's status after each change."""

    def __init__(
        self,
        client: ApiClient,
        worker: PodWorker,
        running: asyncio.Event,
        latest_pod: Callable[[], Mapping[str, Any] | None],
    ) -> None:
        self._client = client
        self._worker = worker
        self._running = running
        self._latest_pod = latest_pod
        self._dirty = asyncio.Event()
        self._sent: dict[str, Any] = {}
        # One write at a time, so that an older status can never land after a newer one.
        self._writing = asyncio.Lock()
        self._path = f"/api/v1/namespaces/{worker.namespace}/pods/{worker.name}/status"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"status {self._worker.namespace}/{self._worker.name}"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def changed(self) -> None:
        self._dirty.set()

    async def flush(self) -> None:
        """Write the current status now (before the kubelet deletes a finished pod)."""
        await self._send()

    def resend(self) -> None:
        """Forget what was written: the next change writes the whole status (after a pause)."""
        self._sent = {}
        self._dirty.set()

    async def _run(self) -> None:
        delay = RETRY_INITIAL
        while True:
            await self._dirty.wait()
            await self._running.wait()
            self._dirty.clear()
            try:
                await self._send()
                delay = RETRY_INITIAL
            except (ApiError, aiohttp.ClientError, TimeoutError) as error:
                if isinstance(error, ApiError) and error.status == 404:
                    return
                logger.debug("status of %s not written (%s); retrying", self._path, error)
                self._dirty.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _previous(self) -> dict[str, Any]:
        pod = self._latest_pod() or {}
        stored: dict[str, Any] = dict(pod.get("status") or {})
        if self._sent:
            foreign = [c for c in stored.get("conditions") or [] if c.get("type") not in KUBELET_CONDITIONS]
            stored["conditions"] = [*self._sent.get("conditions", []), *foreign]
            stored["startTime"] = self._sent.get("startTime")
        return stored

    async def _send(self) -> None:
        async with self._writing:
            status = self._worker.status(self._previous())
            if status == self._sent:
                return
            removed = {key: None for key in self._sent if key not in status}
            await self._client.merge_patch(self._path, {"status": {**removed, **status}})
            self._sent = status
