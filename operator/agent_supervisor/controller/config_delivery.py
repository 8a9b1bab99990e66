"""Hot reload: a changed config revision reaches an Agent's running pod without a restart.

The ConfigMap is updated first (config_objects.py), then `POST /v1/config/reload` is called on the pod
(repeated until the kubelet has synced the mounted file) and `GET /v1/status` is polled until the agent
reports the revision as applied. That revision is what status.appliedConfigRevision and the ConfigApplied
condition show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import aiohttp

from agent_supervisor import api
from agent_supervisor.controller.recorder import EventRecorder
from agent_supervisor.controller.tokens import MessagingTokens
from agent_supervisor.translate import labels
from agent_supervisor.translate.pods import serving_pod

log = logging.getLogger(__name__)

RELOAD_TIMEOUT_SECONDS: Final = 60.0
"""How long a delivery keeps trying: the kubelet syncs the file within seconds, a step may take longer."""
POLL_SECONDS: Final = 0.1
REQUEST_TIMEOUT_SECONDS: Final = 5.0
RETRY_SECONDS: Final = 5.0
"""After a failed delivery, the same revision is tried on the same pod again this much later."""


@dataclass(frozen=True, slots=True)
class Applied:
    """What the agent's running pod reported: the revision it runs, or why it did not take `wanted`."""

    pod: str
    revision: str | None
    error: str = ""
    wanted: str = ""
    at: float = 0.0
    """Monotonic time of the report."""


@dataclass(frozen=True, slots=True)
class Delivery:
    namespace: str
    agent: str
    pod: str
    address: str
    revision: str
    token: str


class ConfigDelivery:
    """Brings each agent's running pod to its current config revision, in the background.

    One delivery per agent at a time; a newer revision or pod replaces the one in flight. When a delivery
    ends, `on_done(namespace, agent)` asks for a reconcile, which writes what `applied()` reports to status.
    """

    def __init__(
        self,
        port: int,
        on_done: Callable[[str, str], None],
        tokens: MessagingTokens,
        recorder: EventRecorder,
    ) -> None:
        self._port = port
        self._on_done = on_done
        self._tokens = tokens
        self._recorder = recorder
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple[str, str], tuple[Delivery, asyncio.Task[None]]] = {}
        self._applied: dict[tuple[str, str], Applied] = {}

    def applied(self, namespace: str, agent: str) -> Applied | None:
        return self._applied.get((namespace, agent))

    async def applied_revision(
        self,
        agent: api.Agent,
        pods: list[Mapping[str, Any]],
        revision: str,
        previous: Mapping[str, Any],
    ) -> str | None:
        """The config revision the agent's running pod reports; delivers `revision` to it if needed."""
        namespace, name = agent.metadata.namespace or "", agent.metadata.name or ""
        reported = previous.get("appliedConfigRevision")
        last_known = str(reported) if reported else None
        pod = serving_pod(pods, name)
        address = None if pod is None else (pod.get("status") or {}).get("podIP")
        if pod is None or not address:
            return last_known
        pod_name = pod["metadata"]["name"]
        token = await self._tokens.read(namespace, labels.root_of(name, agent.metadata.labels))
        self.ensure(Delivery(namespace, name, pod_name, str(address), revision, token))
        applied = self.applied(namespace, name)
        if applied is None or applied.pod != pod_name:
            return last_known
        if applied.error:
            # The agent keeps running the revision it had; say why the new one is not applied.
            self._recorder.record(
                {"apiVersion": api.API_VERSION, "kind": "Agent", "metadata": agent.metadata.model_dump()},
                "Warning",
                "ConfigNotApplied",
                applied.error,
            )
            return last_known
        return applied.revision

    def ensure(self, delivery: Delivery) -> None:
        """Start delivering `delivery` unless it is applied already or on its way."""
        key = (delivery.namespace, delivery.agent)
        done = self._applied.get(key)
        if done is not None and done.pod == delivery.pod:
            if done.revision == delivery.revision:
                return
            if done.error and done.wanted == delivery.revision and time.monotonic() - done.at < RETRY_SECONDS:
                return
        inflight = self._inflight.get(key)
        if inflight is not None:
            if inflight[0] == delivery:
                return
            inflight[1].cancel()
        task = asyncio.create_task(
            self._deliver(delivery), name=f"config {delivery.namespace}/{delivery.agent}"
        )
        self._inflight[key] = (delivery, task)

    def forget(self, namespace: str, agent: str) -> None:
        inflight = self._inflight.pop((namespace, agent), None)
        if inflight is not None:
            inflight[1].cancel()
        self._applied.pop((namespace, agent), None)

    async def close(self) -> None:
        for _, task in self._inflight.values():
            task.cancel()
        self._inflight.clear()
        if self._session is not None:
            await self._session.close()

    async def _deliver(self, delivery: Delivery) -> None:
        key = (delivery.namespace, delivery.agent)
        try:
            result = await self._reload(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a delivery must never take the operator down; status shows why
            log.warning("config delivery to %s failed: %s", delivery.pod, error)
            result = Applied(
                delivery.pod, None, f"the agent did not take revision {delivery.revision}: {error}"
            )
        if self._inflight.get(key, (None,))[0] != delivery:
            return
        del self._inflight[key]
        self._applied[key] = replace(result, wanted=delivery.revision, at=time.monotonic())
        self._on_done(delivery.namespace, delivery.agent)
        if result.error:
            loop = asyncio.get_running_loop()
            loop.call_later(RETRY_SECONDS, self._on_done, delivery.namespace, delivery.agent)

    async def _reload(self, delivery: Delivery) -> Applied:
        session = self._client()
        base = f"http://{delivery.address}:{self._port}"
        headers = {"Authorization": f"Bearer {delivery.token}"}
        deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
        requested = False
        while time.monotonic() < deadline:
            if not requested:
                # The kubelet syncs the mounted ConfigMap asynchronously: ask again until the agent read
                # the new file (pendingRevision) or already runs it.
                body = await self._call(session, "POST", f"{base}/v1/config/reload", headers)
                if body.get("status") == 422:
                    return Applied(
                        delivery.pod, None, str(body.get("detail") or "the agent refused the config")
                    )
                pending = body.get("pendingRevision")
                if body.get("appliedRevision") == delivery.revision:
                    return Applied(delivery.pod, delivery.revision)
                requested = pending == delivery.revision
            else:
                body = await self._call(session, "GET", f"{base}/v1/status", headers)
                if body.get("configRevision") == delivery.revision:
                    return Applied(delivery.pod, delivery.revision)
            await asyncio.sleep(POLL_SECONDS)
        return Applied(
            delivery.pod,
            None,
            f"revision {delivery.revision} not applied within {RELOAD_TIMEOUT_SECONDS:.0f}s",
        )

    @staticmethod
    async def _call(
        session: aiohttp.ClientSession, verb: str, url: str, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        async with session.request(verb, url, headers=headers) as response:
            payload = await response.json(content_type=None)
            body: dict[str, Any] = payload if isinstance(payload, dict) else {}
            if response.status == 422:
                return {"status": 422, "detail": body.get("detail")}
            response.raise_for_status()
            return body

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
            )
        return self._session
