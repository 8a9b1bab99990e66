"""pods/{name}/log: a container's output from the files the kubelet writes (see localcluster/logformat.py),
with container, previous, timestamps, tailLines, sinceSeconds, sinceTime, limitBytes and follow.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from localcluster import logformat

from .errors import ApiError, bad_request, method_not_allowed
from .resources import Resources
from .target import Target

FOLLOW_POLL_SECONDS = 0.1


def pod_log_path(state_dir: Path, namespace: str, pod: str, uid: str, container: str) -> Path:
    """Where the kubelet writes a container's current run (shared contract with localcluster.kubelet)."""
    return logformat.current_path(state_dir / "pods" / f"{namespace}_{pod}_{uid}", container)


def _read_from(path: Path, offset: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read()


def _container_state(pod: dict[str, Any], container: str) -> dict[str, Any]:
    status = pod.get("status") or {}
    for entry in [*status.get("initContainerStatuses", ()), *status.get("containerStatuses", ())]:
        if entry.get("name") == container:
            return dict(entry.get("state") or {})
    return {}


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


def _integer(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request(f"{name}: invalid value {text!r}") from exc


def _since(request: web.Request) -> str | None:
    """The RFC 3339 time from which lines are shown (comparable as text with the records' times)."""
    seconds = _integer(request, "sinceSeconds")
    if seconds is not None:
        moment = datetime.now(UTC) - timedelta(seconds=seconds)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"
    text = request.query.get("sinceTime")
    if text:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError as exc:
            raise bad_request(f"sinceTime: invalid value {text!r}") from exc
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"
    return None


class PodLogs:
    """The `pods/{name}/log` subresource: reads pods through `resources` (so a missing pod is a 404 as for
    any get) and their output under `state_dir`, where the kubelet writes it."""

    def __init__(self, resources: Resources, state_dir: Path) -> None:
        self._resources = resources
        self._state_dir = state_dir

    def _pod(self, target: Target) -> dict[str, Any]:
        return self._resources.get(target.rtype, target.version, target.namespace or "", target.name)

    def _container(self, request: web.Request, target: Target, pod: dict[str, Any]) -> str:
        spec = pod.get("spec") or {}
        names = [c["name"] for c in [*spec.get("initContainers", ()), *spec.get("containers", ())]]
        regular = [c["name"] for c in spec.get("containers", ())]
        container = request.query.get("container", "")
        if not container:
            if len(regular) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {target.name}, "
                    f"choose one of: [{' '.join(regular)}]"
                )
            container = regular[0]
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {target.name}")
        return container

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        if request.method != "GET":
            raise method_not_allowed()
        pod = self._pod(target)
        container = self._container(request, target, pod)
        current = pod_log_path(
            self._state_dir, target.namespace or "", target.name, pod["metadata"]["uid"], container
        )
        previous = _flag(request, "previous")
        path = current.with_name(f"{container}.previous.log") if previous else current
        if previous and not path.exists():
            raise bad_request(f'previous terminated container "{container}" in pod "{target.name}" not found')
        if not path.exists():
            waiting = _container_state(pod, container).get("waiting") or {}
            reason = waiting.get("reason", "ContainerCreating")
            raise bad_request(f'container "{container}" in pod "{target.name}" is waiting to start: {reason}')
        raw = await asyncio.to_thread(path.read_bytes)
        timestamps = _flag(request, "timestamps")
        since = _since(request)
        selected = [
            line for line in logformat.lines(raw) if since is None or line.time is None or line.time >= since
        ]
        tail = _integer(request, "tailLines")
        if tail is not None:
            selected = selected[-tail:] if tail > 0 else []
        data = logformat.render(selected, timestamps)
        limit = _integer(request, "limitBytes")
        if limit is not None:
            data = data[:limit]
        if previous or not _flag(request, "follow"):
            return web.Response(body=data, content_type="text/plain", charset="utf-8")
        follower = logformat.Follower(timestamps, at_line_start=not selected or selected[-1].complete)
        complete_end = raw.rfind(b"\n") + 1
        return await self._follow(
            request, target, pod["metadata"]["uid"], container, path, data, complete_end, follower, limit
        )

    async def _follow(
        self,
        request: web.Request,
        target: Target,
        uid: str,
        container: str,
        path: Path,
        initial: bytes,
        offset: int,
        follower: logformat.Follower,
        limit: int | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        sent = len(initial)
        try:
            await response.write(initial)
            while limit is None or sent < limit:
                raw = await asyncio.to_thread(_read_from, path, offset)
                if raw:
                    offset += len(raw)
                    chunk = follower.feed(raw)
                    if limit is not None:
                        chunk = chunk[: limit - sent]
                    sent += len(chunk)
                    if chunk:
                        await response.write(chunk)
                    continue
                if self._finished(target, uid, container):
                    break
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
        except (ConnectionResetError, FileNotFoundError):
            pass
        return response

    def _finished(self, target: Target, uid: str, container: str) -> bool:
        try:
            pod = self._pod(target)
        except ApiError:
            return True
        if pod["metadata"]["uid"] != uid:
            return True
        return "terminated" in _container_state(pod, container)
