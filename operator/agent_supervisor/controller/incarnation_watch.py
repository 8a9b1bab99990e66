"""The operator's side of in-place restarts: one watch per pod supervisor, and the calls that control it.

Each agent pod created with a pod supervisor (annotation `otp.agents.dev/control-port`) is watched on its
control API (`GET /v1/incarnation?watch=true`) from the moment it runs. Every report replaces the pod's last
one and queues a reconcile of the pod's supervising resource, which reads the reports through `reports` (pure
translation: translate/incarnations.py). A new watch begins with the whole state, so nothing is lost while the
operator was down or a connection broke: the reconcile is level-triggered on the latest report.

The calls (start, stop, release) are idempotent on the pod supervisor's side, which never replaces a newer
incarnation with an older one. A call that fails returns False and the executor falls back to the pod-level
path (a new pod, or deleting the pod), so a pod supervisor that is gone or refuses never blocks a decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from pydantic import BaseModel, ValidationError

from agent_runtime.incarnation_protocol import (
    HEARTBEAT_SECONDS,
    IncarnationState,
    ReleaseRequest,
    StartRequest,
    StopRequest,
    WatchLine,
)
from agent_supervisor.translate import incarnations

log = logging.getLogger(__name__)

CALL_TIMEOUT_SECONDS: Final = 5.0
RETRY_FIRST_SECONDS: Final = 0.05
"""A new pod's pod supervisor listens a moment after the pod runs: retry soon, then back off."""
RETRY_MAX_SECONDS: Final = 2.0
REFUSED_RETRY_SECONDS: Final = 30.0
"""A pod supervisor that refuses the operator's token (another operator installation made the pod)."""


@dataclass
class _Watch:
    pod: Mapping[str, Any]
    address: str
    task: asyncio.Task[None] | None = None
    refused: bool = False
    connected: asyncio.Event = field(default_factory=asyncio.Event)


def _address(pod: Mapping[str, Any]) -> str | None:
    port = incarnations.control_port(pod)
    ip = (pod.get("status") or {}).get("podIP")
    if port is None or not isinstance(ip, str) or not ip:
        return None
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


class IncarnationWatch:
    """The pod supervisors' latest reports by pod uid, kept current by one watch per living pod."""

    def __init__(self, token: str, on_change: Callable[[Mapping[str, Any]], None]) -> None:
        self._token = token
        self._on_change = on_change
        self._reports: dict[str, IncarnationState] = {}
        self._watches: dict[str, _Watch] = {}
        self._session: aiohttp.ClientSession | None = None
        self._changed: dict[str, asyncio.Event] = {}
        """Pod uid -> set when its report changes, for `settled`."""
        self._lines: dict[str, int] = {}
        """Pod uid -> how many state lines its watch has delivered: a call's answer may be older than them."""

    @property
    def reports(self) -> Mapping[str, IncarnationState]:
        return self._reports

    @property
    def refused(self) -> frozenset[str]:
        """Uids of pods whose pod supervisor refuses the operator's token: they are restarted as pods."""
        return frozenset(uid for uid, watch in self._watches.items() if watch.refused)

    def watching(self) -> int:
        return sum(1 for watch in self._watches.values() if watch.connected.is_set())

    # --- which pods are watched ---------------------------------------------------------------------------

    def sync(self, pod: Mapping[str, Any]) -> None:
        """A watch event of `pod`: watch its pod supervisor while the pod runs; stop when it no longer does.

        The last report is kept until the pod is deleted (`forget`): it says how the pod's last incarnation
        ended even after the pod supervisor exited.
        """
        uid = _uid(pod)
        address = _address(pod)
        watch = self._watches.get(uid)
        if address is None or not incarnations.pod_alive(pod):
            if watch is not None:
                self._cancel(uid)
            return
        if watch is not None and watch.address == address:
            watch.pod = pod
            return
        if watch is not None:
            self._cancel(uid)
        watch = _Watch(pod, address)
        self._watches[uid] = watch
        watch.task = asyncio.create_task(self._watch(uid, watch), name=f"incarnations {address}")

    def forget(self, pod: Mapping[str, Any]) -> None:
        uid = _uid(pod)
        self._cancel(uid)
        self._reports.pop(uid, None)
        self._lines.pop(uid, None)

    def _cancel(self, uid: str) -> None:
        watch = self._watches.pop(uid, None)
        if watch is not None and watch.task is not None:
            watch.task.cancel()

    async def close(self) -> None:
        for uid in list(self._watches):
            self._cancel(uid)
        if self._session is not None:
            await self._session.close()

    # --- the watch ----------------------------------------------------------------------------------------

    async def _watch(self, uid: str, watch: _Watch) -> None:
        delay = RETRY_FIRST_SECONDS
        # The heartbeat keeps a quiet connection busy: silence for three of them means the pod is gone.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CALL_TIMEOUT_SECONDS, sock_read=3 * HEARTBEAT_SECONDS
        )
        while True:
            try:
                async with self._client().get(
                    f"http://{watch.address}/v1/incarnation",
                    params={"watch": "true"},
                    headers=self._headers(),
                    timeout=timeout,
                ) as response:
                    if response.status in (401, 403):
                        if not watch.refused:
                            log.warning(
                                "the pod supervisor of pod %s refuses the operator (%d): it is restarted "
                                "by replacing the pod",
                                (watch.pod.get("metadata") or {}).get("name"),
                                response.status,
                            )
                            watch.refused = True
                            # Its child's decisions wait for a report that will not come: decide again.
                            self._on_change(watch.pod)
                        await asyncio.sleep(REFUSED_RETRY_SECONDS)
                        continue
                    response.raise_for_status()
                    watch.refused = False  # a token that works again (the Secret restored) is used again
                    watch.connected.set()
                    delay = RETRY_FIRST_SECONDS
                    async for line in response.content:
                        self._take(uid, watch, line)
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                log.debug("incarnation watch of %s: %s", watch.address, error)
            watch.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _take(self, uid: str, watch: _Watch, raw: bytes) -> None:
        if not raw.strip():
            return
        try:
            line = WatchLine.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as error:
            log.warning("incarnation watch of %s: unreadable line: %s", watch.address, error)
            return
        if line.state is not None:
            self._lines[uid] = self._lines.get(uid, 0) + 1
            self._report(uid, watch.pod, line.state)

    def _report(self, uid: str, pod: Mapping[str, Any], state: IncarnationState) -> None:
        if uid not in self._watches and uid not in self._reports:
            return  # the pod was forgotten while the call was in flight
        if self._reports.get(uid) == state:
            return
        self._reports[uid] = state
        changed = self._changed.pop(uid, None)
        if changed is not None:
            changed.set()
        self._on_change(pod)

    async def settled(self, pod: Mapping[str, Any], attempt: int, within_seconds: float) -> bool:
        """Wait until `pod` reports incarnation `attempt` Ready, or past it (stopped, exited, replaced);
        False when that takes longer than `within_seconds` (the watch's next report still queues a reconcile).
        """
        uid = _uid(pod)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while not incarnations.settled(self._reports.get(uid), attempt):
            remaining = deadline - loop.time()
            if remaining <= 0 or uid not in self._watches:
                return False
            changed = self._changed.setdefault(uid, asyncio.Event())
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    # --- control calls ------------------------------------------------------------------------------------

    async def start(self, pod: Mapping[str, Any], attempt: int, grace_seconds: int) -> bool:
        """Start incarnation `attempt` in `pod` (stopping an older one that still runs)."""
        request = StartRequest(attempt=attempt, graceSeconds=grace_seconds)
        return await self._call(pod, "/v1/incarnation", request)

    async def stop(self, pod: Mapping[str, Any], attempt: int, grace_seconds: int) -> bool:
        """Stop incarnation `attempt` in `pod`, keeping the pod for the next incarnation."""
        request = StopRequest(attempt=attempt, graceSeconds=grace_seconds)
        return await self._call(pod, "/v1/incarnation/stop", request)

    async def release(self, pod: Mapping[str, Any], attempt: int) -> bool:
        """End `pod` with how its exited incarnation `attempt` ended: nothing will start in it again."""
        return await self._call(pod, "/v1/incarnation/release", ReleaseRequest(attempt=attempt))

    async def _call(self, pod: Mapping[str, Any], path: str, request: BaseModel) -> bool:
        address = _address(pod)
        uid = _uid(pod)
        watch = self._watches.get(uid)
        if address is None or (watch is not None and watch.refused):
            return False
        lines_before = self._lines.get(uid, 0)
        try:
            async with self._client().post(
                f"http://{address}{path}",
                json=request.model_dump(mode="json", by_alias=True),
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS),
            ) as response:
                body = await response.json(content_type=None)
                ok = response.status in (200, 202)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            log.warning("pod supervisor of %s: %s failed: %s", address, path, error)
            return False
        if self._lines.get(uid, 0) == lines_before:
            with contextlib.suppress(ValidationError):
                # Every answer, a refusal's too, is the state after the call: the next reconcile need not wait
                # for the watch line. Unless the watch delivered a line meanwhile: that line may be newer than
                # the answer (a brutal kill's Exited can overtake the answer that says Stopping), and nothing
                # would follow to replace a stale answer, so the watch's ordered lines are kept.
                self._report(uid, pod, IncarnationState.model_validate(body))
        if not ok:
            log.warning("pod supervisor of %s refused %s: %s", address, path, body)
        return ok

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No connection limit: every living pod holds one watch.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self._session
