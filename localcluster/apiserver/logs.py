"""pods/{name}/log: container output from the files the kubelet appends to, with tailLines and follow."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request, method_not_allowed
from .resources import Resources
from .target import Target

FOLLOW_POLL_SECONDS = 0.1


def pod_log_path(state_dir: Path, namespace: str, pod: str, uid: str, container: str) -> Path:
    """Where the kubelet writes a container's output (shared contract with localcluster.kubelet)."""
    return state_dir / "pods" / f"{namespace}_{pod}_{uid}" / f"{container}.log"


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


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


class PodLogs:
    """The `pods/{name}/log` subresource: reads pods through `resources` (so a missing pod is a 404 as for
    any get) and their output under `state_dir`, where the kubelet writes it."""

    def __init__(self, resources: Resources, state_dir: Path) -> None:
        self._resources = resources
        self._state_dir = state_dir

    def _pod(self, target: Target) -> dict[str, Any]:
        return self._resources.get(target.rtype, target.version, target.namespace or "", target.name)

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        if request.method != "GET":
            raise method_not_allowed()
        pod = self._pod(target)
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
        if request.query.get("previous", "").lower() == "true":
            raise bad_request(f'previous terminated container "{container}" in pod "{target.name}" not found')
        path = pod_log_path(
            self._state_dir, target.namespace or "", target.name, pod["metadata"]["uid"], container
        )
        if not path.exists():
            waiting = _container_state(pod, container).get("waiting") or {}
            reason = waiting.get("reason", "ContainerCreating")
            raise bad_request(f'container "{container}" in pod "{target.name}" is waiting to start: {reason}')
        raw = await asyncio.to_thread(path.read_bytes)
        data = raw
        tail_text = request.query.get("tailLines")
        if tail_text:
            try:
                data = _tail(data, int(tail_text))
            except ValueError as exc:
                raise bad_request(f"tailLines: invalid value {tail_text!r}") from exc
        limit_text = request.query.get("limitBytes")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else None
        if limit is not None:
            data = data[:limit]
        if request.query.get("follow", "").lower() != "true":
            return web.Response(body=data, content_type="text/plain", charset="utf-8")
        return await self._follow(
            request, target, pod["metadata"]["uid"], container, path, data, len(raw), limit
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
        limit: int | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        sent = len(initial)
        try:
            await response.write(initial)
            while limit is None or sent < limit:
                chunk = await asyncio.to_thread(_read_from, path, offset)
                if chunk:
                    offset += len(chunk)
                    if limit is not None:
                        chunk = chunk[: limit - sent]
                    sent += len(chunk)
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
