"""An Agent's configuration objects and hot reload.

Every Agent (standalone or a supervisor's child) gets its config ConfigMap, Service, checkpoint ConfigMap, and
the Role and RoleBinding for that checkpoint; they are written with server-side apply, only when the rendered
revision is new to this process. A changed revision reaches the running pod without a restart: the ConfigMap
is updated, then `POST /v1/config/reload` is called on the pod (repeated until the kubelet has synced the
mounted file) and `GET /v1/status` is polled until the agent reports the revision as applied. That revision is
what status.appliedConfigRevision and the ConfigApplied condition show.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import aiohttp

from agent_supervisor import api
from agent_supervisor.controller import builders, labels
from agent_supervisor.controller.kube import (
    CONFIG_MAPS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICES,
    AlreadyExistsError,
    KubeClient,
)
from agent_supervisor.controller.runtime_config import RenderContext, RenderedConfig, render

log = logging.getLogger(__name__)

RELOAD_TIMEOUT_SECONDS: Final = 60.0
"""How long a delivery keeps trying: the kubelet syncs the file within seconds, a step may take longer."""
POLL_SECONDS: Final = 0.1
REQUEST_TIMEOUT_SECONDS: Final = 5.0
RETRY_SECONDS: Final = 5.0
"""After a failed delivery, the same revision is tried on the same pod again this much later."""


class MessagingTokens:
    """The bearer token each tree's agents share, kept in the root's `<root>-messaging` Secret.

    The operator creates the Secret (owned by the root) and reads the token back to call the agents' API.
    """

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._tokens: dict[tuple[str, str], str] = {}

    async def ensure(self, root: api.Agent | api.AgentSupervisor) -> str:
        namespace, name = root.metadata.namespace or "", root.metadata.name or ""
        known = self._tokens.get((namespace, name))
        if known is not None:
            return known
        token = secrets.token_urlsafe(32)
        try:
            await self._kube.create(SECRETS, namespace, builders.messaging_secret(root, token))
        except AlreadyExistsError:
            return await self.read(namespace, name)
        self._tokens[(namespace, name)] = token
        return token

    async def read(self, namespace: str, root: str) -> str:
        known = self._tokens.get((namespace, root))
        if known is not None:
            return known
        secret = await self._kube.get(SECRETS, namespace, labels.messaging_secret_name(root))
        encoded = (secret.get("data") or {}).get(labels.MESSAGING_TOKEN_KEY, "")
        try:
            token = base64.b64decode(encoded).decode()
        except (binascii.Error, UnicodeDecodeError):
            token = ""
        if token:
            self._tokens[(namespace, root)] = token
        return token

    def forget(self, namespace: str, root: str) -> None:
        self._tokens.pop((namespace, root), None)


def render_context(agent: api.Agent, settings: builders.OperatorSettings) -> RenderContext:
    return RenderContext(
        namespace=agent.metadata.namespace or "default",
        supervisor_path=(agent.metadata.annotations or {}).get(labels.SUPERVISOR_PATH, ""),
        peer_template=settings.peer_template,
        peers_via_api_server=settings.peers_via_api_server,
        api_url=settings.api_url_for_pods,
    )


class AgentConfigs:
    """Writes an Agent's config objects once per (uid, revision) in this process."""

    def __init__(self, kube: KubeClient, settings: builders.OperatorSettings) -> None:
        self._kube = kube
        self._settings = settings
        self._written: dict[tuple[str, str], tuple[str, str]] = {}

    async def ensure(self, agent: api.Agent) -> RenderedConfig:
        """The rendered config, with every object the agent's pod needs in place. Raises RenderError."""
        rendered = render(agent, render_context(agent, self._settings))
        namespace, name = agent.metadata.namespace or "", agent.metadata.name or ""
        uid = str((agent.metadata.model_extra or {}).get("uid", ""))
        if self._written.get((namespace, name)) == (uid, rendered.revision):
            return rendered
        await self._kube.apply(CONFIG_MAPS, namespace, builders.config_map(agent, rendered))
        await self._kube.apply(SERVICES, namespace, builders.service(agent, self._settings))
        # Created once and never overwritten: the runtime writes the checkpoints into it.
        with contextlib.suppress(AlreadyExistsError):
            await self._kube.create(CONFIG_MAPS, namespace, builders.checkpoint_config_map(agent))
        await self._kube.apply(ROLES, namespace, builders.checkpoint_role(agent))
        await self._kube.apply(ROLE_BINDINGS, namespace, builders.checkpoint_role_binding(agent))
        self._written[(namespace, name)] = (uid, rendered.revision)
        return rendered

    def forget(self, namespace: str, name: str) -> None:
        self._written.pop((namespace, name), None)


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

    def __init__(self, port: int, on_done: Callable[[str, str], None]) -> None:
        self._port = port
        self._on_done = on_done
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple[str, str], tuple[Delivery, asyncio.Task[None]]] = {}
        self._applied: dict[tuple[str, str], Applied] = {}

    def applied(self, namespace: str, agent: str) -> Applied | None:
        return self._applied.get((namespace, agent))

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


def serving_pod(pods: list[Mapping[str, Any]], agent: str) -> Mapping[str, Any] | None:
    """The agent's Ready pod that is not being deleted (the newest attempt if, briefly, there are two)."""
    best: tuple[int, Mapping[str, Any]] | None = None
    for pod in pods:
        meta = pod.get("metadata") or {}
        pod_labels = meta.get("labels") or {}
        if pod_labels.get(labels.AGENT) != agent or meta.get("deletionTimestamp"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        attempt = labels.attempt_of(pod_labels) or 0
        if best is None or attempt > best[0]:
            best = (attempt, pod)
    return None if best is None else best[1]
