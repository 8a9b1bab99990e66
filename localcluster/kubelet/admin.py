"""Kubelet fault endpoints under /localcluster/v1/kubelet, served by the API server's app.

GET  /localcluster/v1/kubelet          -> {"node", "paused", "pods": [...]}
POST /localcluster/v1/kubelet/pause    -> pods keep running, nothing is reported
POST /localcluster/v1/kubelet/resume
POST /localcluster/v1/kubelet/kill     {"namespace", "name", "signal": "KILL" | 9, "container"?}
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from localcluster.apiserver.errors import REASONS, status_body
from localcluster.kubelet.container import signal_number
from localcluster.kubelet.kubelet import Kubelet

PREFIX = "/localcluster/v1/kubelet"


def _error(code: int, message: str) -> web.Response:
    return web.json_response(status_body(code, message, REASONS[code]), status=code)


def kubelet_routes(kubelet: Kubelet) -> list[web.RouteDef]:
    async def describe(_request: web.Request) -> web.Response:
        return web.json_response(kubelet.describe())

    async def pause(_request: web.Request) -> web.Response:
        kubelet.pause()
        return web.json_response(kubelet.describe())

    async def resume(_request: web.Request) -> web.Response:
        kubelet.resume()
        return web.json_response(kubelet.describe())

    async def kill(request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "namespace" not in body or "name" not in body:
            return _error(
                400, 'kill needs a JSON body {"namespace", "name", "signal" (default KILL), "container"?}'
            )
        try:
            sig = signal_number(body.get("signal", "KILL"))
            container = body.get("container")
            signalled = kubelet.kill_pod(
                str(body["namespace"]), str(body["name"]), sig, None if container is None else str(container)
            )
        except ValueError as error:
            return _error(400, str(error))
        except LookupError as error:
            return _error(404, str(error.args[0]))
        return web.json_response({"signal": sig, "containers": signalled})

    return [
        web.get(PREFIX, describe),
        web.post(f"{PREFIX}/pause", pause),
        web.post(f"{PREFIX}/resume", resume),
        web.post(f"{PREFIX}/kill", kill),
    ]
