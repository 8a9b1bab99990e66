"""pods/{name}/exec, attach and portforward: the API server checks the pod, then hands the connection to
the node's streaming backend (the process kubelet's, see localcluster/kubelet/streaming.py), as
kube-apiserver hands it to the kubelet.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from .errors import ApiError, bad_request
from .resources import Resources
from .target import Target

STREAMING_SUBRESOURCES = ("exec", "attach", "portforward")


class StreamingBackend(Protocol):
    async def serve(self, request: web.Request, subresource: str, pod: dict[str, Any]) -> web.StreamResponse:
        """Upgrades the request and serves the stream (or answers with an ApiError)."""
        ...


class PodStreams:
    def __init__(self, resources: Resources) -> None:
        self._resources = resources
        self.backend: StreamingBackend | None = None

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise ApiError(405, "the server does not allow this method on the requested resource")
        pod = self._resources.get(target.rtype, target.version, target.namespace or "", target.name)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            raise bad_request(
                f"cannot {target.subresource} into a container in a completed pod; current phase is {phase}"
            )
        if self.backend is None:
            raise bad_request(
                f"pods/{target.subresource} needs the process kubelet, and this API server runs without one "
                "(start it with LocalCluster or `agent-supervisor local up`)"
            )
        return await self.backend.serve(request, target.subresource, pod)
