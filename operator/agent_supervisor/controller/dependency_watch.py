"""How the operator learns of dependency outages: one `/v1/events` stream per serving agent pod.

The agent runtime announces an outage (`dependency_unavailable`) and its end (`dependency_available`) on its
event stream, and lists what is unavailable now under `dependencies` in `/v1/status`. Push, not polling: the
stream costs nothing while nothing happens. On each such event, and on every (re)connect (the stream does not
replay what happened while it was down), the status is read again, only its `dependencies` are kept
(translate/dependencies.py), and `on_change(pod)` queues a reconcile of the pod's Agent and supervisor, which
judge the conditions from `report`. Authentication is the tree's messaging token, as for hot reload
(config_delivery.py); it is only ever sent as a header.

Nothing here reaches the supervision core: an outage restarts no one and spends no restart intensity.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from agent_supervisor.controller.kube import ApiError
from agent_supervisor.controller.tokens import MessagingTokens
from agent_supervisor.translate import budgets, dependencies, labels

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS: Final = 5.0
SILENCE_SECONDS: Final = 60.0
"""The runtime sends a heartbeat every 15 s: silence for this long means the pod is gone."""
RETRY_FIRST_SECONDS: Final = 0.2
RETRY_MAX_SECONDS: Final = 10.0


@dataclass
class _Stream:
    pod: Mapping[str, Any]
    key: tuple[str, str]
    """(namespace, agent)."""
    url: str
    task: asyncio.Task[None] | None = None


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


class DependencyWatch:
    """The latest dependency report of each Agent's serving pod, kept current by one stream per such pod."""

    def __init__(
        self,
        port: int,
        tokens: MessagingTokens,
        on_change: Callable[[Mapping[str, Any]], None],
        on_budget: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._port = port
        self._tokens = tokens
        self._on_change = on_change
        self._on_budget = on_budget or on_change
        """Only the token budget changed: the Agent's own status moves, its supervisor's Degraded cannot."""
        self._streams: dict[str, _Stream] = {}
        self._reports: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        """(namespace, agent) -> (uid of the pod that reported, what it reported)."""
        self._session: aiohttp.ClientSession | None = None

    def report(self, namespace: str, agent: str) -> Mapping[str, Any] | None:
        """What the Agent's serving pod last reported; None when no status was read from it yet."""
        found = self._reports.get((namespace, agent))
        return None if found is None else found[1]

    def following(self) -> int:
        return len(self._streams)

    def sync(self, pod: Mapping[str, Any]) -> None:
        """A watch event of `pod`: follow it while it serves an agent, stop when it no longer does."""
        uid = _uid(pod)
        agent = dependencies.followed_agent(pod)
        stream = self._streams.get(uid)
        if agent is None:
            self.forget(pod)
            return
        meta = pod.get("metadata") or {}
        ip = str(pod["status"]["podIP"])
        host = f"[{ip}]" if ":" in ip else ip
        url = f"http://{host}:{self._port}"
        if stream is not None and stream.url == url:
            stream.pod = pod
            return
        self.forget(pod)
        stream = _Stream(pod, (str(meta.get("namespace") or ""), agent), url)
        self._streams[uid] = stream
        stream.task = asyncio.create_task(self._follow(uid, stream), name=f"dependencies {meta.get('name')}")

    def forget(self, pod: Mapping[str, Any]) -> None:
        uid = _uid(pod)
        stream = self._streams.pop(uid, None)
        if stream is None:
            return
        if stream.task is not None:
            stream.task.cancel()
        if self._reports.get(stream.key, ("",))[0] == uid:
            del self._reports[stream.key]
            self._on_change(stream.pod)  # nothing of this pod waits any more

    async def close(self) -> None:
        for stream in self._streams.values():
            if stream.task is not None:
                stream.task.cancel()
        self._streams.clear()
        if self._session is not None:
            await self._session.close()

    async def _follow(self, uid: str, stream: _Stream) -> None:
        delay = RETRY_FIRST_SECONDS
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=SILENCE_SECONDS
        )
        while True:
            try:
                headers = await self._headers(stream)
                async with self._client().get(
                    f"{stream.url}/v1/events", headers=headers, timeout=timeout
                ) as response:
                    response.raise_for_status()
                    # Whatever happened while no stream was open is in the status, not in the stream.
                    await self._read_status(uid, stream, headers)
                    delay = RETRY_FIRST_SECONDS
                    async for line in response.content:
                        if self._worth_reading(stream, _event_type(line)):
                            await self._read_status(uid, stream, headers)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, ApiError, TimeoutError, OSError, ValueError) as error:
                log.debug("dependency stream of %s: %s", stream.url, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def _read_status(self, uid: str, stream: _Stream, headers: Mapping[str, str]) -> None:
        async with self._client().get(
            f"{stream.url}/v1/status",
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=CONNECT_TIMEOUT_SECONDS),
        ) as response:
            response.raise_for_status()
            body = await response.json(content_type=None)
        if self._streams.get(uid) is not stream or not isinstance(body, Mapping):
            return  # the pod stopped serving while the call was in flight
        report = {**dependencies.kept_report(body), "tokenBudget": budgets.kept(body)}
        previous = self._reports.get(stream.key)
        self._reports[stream.key] = (uid, report)
        if previous is None or previous[0] != uid or previous[1]["dependencies"] != report["dependencies"]:
            self._on_change(stream.pod)
        elif previous[1] != report:
            self._on_budget(stream.pod)

    def _worth_reading(self, stream: _Stream, kind: str | None) -> bool:
        """Whether an event of the runtime's stream is worth reading its status again for."""
        if kind in dependencies.STREAM_EVENTS or kind in budgets.STREAM_EVENTS:
            return True
        if kind not in budgets.TASK_EVENTS:
            return False
        # Only an agent with an hourly budget shows its window in its status: the others cost no read.
        found = self._reports.get(stream.key)
        return found is not None and budgets.has_hourly_budget(found[1].get("tokenBudget"))

    async def _headers(self, stream: _Stream) -> dict[str, str]:
        namespace = stream.key[0]
        pod_labels = (stream.pod.get("metadata") or {}).get("labels") or {}
        token = await self._tokens.read(namespace, labels.root_of(stream.key[1], pod_labels))
        return {"Authorization": f"Bearer {token}"}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Its own session, without a connection limit: every serving pod holds one stream open, which
            # would starve hot reload's requests in a shared, limited pool.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session


def _event_type(line: bytes) -> str | None:
    """The type of a server-sent event from its `event:` line; None for other lines."""
    text = line.decode("utf-8", "replace").strip()
    return text[len("event:") :].strip() if text.startswith("event:") else None
