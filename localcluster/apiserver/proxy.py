"""Service and pod proxy: /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}.

The local form of Service DNS: the Service's selector picks a Ready pod, whose podIP (a 127.x address the
kubelet allocates) and target port receive the request.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from localcluster import selectors

from .errors import ApiError, bad_request, not_found
from .handlers import Target

if TYPE_CHECKING:
    from .server import ApiServer

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus those aiohttp sets itself.
_HOP_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Authorization",
        "Content-Length",
        "Content-Encoding",
    )
)


def _split_name(text: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` -> (scheme, name, port)."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


def _is_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp") or not (pod.get("status") or {}).get("podIP"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container_port(pod: dict[str, Any], name: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers", ()):
        for port in container.get("ports", ()):
            if port.get("name") == name:
                return int(port["containerPort"])
    return None


class Proxy:
    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self._turn = itertools.count()

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        scheme, name, port = _split_name(target.name)
        namespace = target.namespace or ""
        if target.rtype.plural == "services":
            address, number = self._service_backend(namespace, name, port)
        else:
            address, number = self._pod_backend(namespace, name, port)
        url = f"{scheme or 'http'}://{address}:{number}/{target.rest}"
        return await self._forward(request, url)

    def _service_backend(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        service = self.server.store.get(("", "services"), namespace, name)
        if service is None:
            raise not_found("services", "", name)
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        chosen = None
        for candidate in ports:
            if not port or port in (candidate.get("name"), str(candidate.get("port"))):
                chosen = candidate
                break
        if chosen is None:
            raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
        pod_selector = selectors.selector_from_labels(spec.get("selector") or {})
        pods = [
            pod
            for pod in self.server.store.objects(("", "pods"), namespace)
            if spec.get("selector")
            and pod_selector.matches(pod["metadata"].get("labels") or {})
            and _is_ready(pod)
        ]
        target_port = chosen.get("targetPort", chosen.get("port"))
        backends = []
        for pod in pods:
            number = _container_port(pod, target_port) if isinstance(target_port, str) else int(target_port)
            if number is not None:
                backends.append((pod["status"]["podIP"], number))
        if not backends:
            raise ApiError(503, f'no endpoints available for service "{name}"', "ServiceUnavailable")
        return backends[next(self._turn) % len(backends)]

    def _pod_backend(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        pod = self.server.store.get(("", "pods"), namespace, name)
        if pod is None:
            raise not_found("pods", "", name)
        address = (pod.get("status") or {}).get("podIP")
        if not address:
            raise bad_request(f'pod "{name}" has no IP address yet')
        number = int(port) if port.isdigit() else _container_port(pod, port) if port else 80
        if number is None:
            raise bad_request(f'pod "{name}" has no port named "{port}"')
        return address, number

    async def _forward(self, request: web.Request, url: str) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        body = await request.read()
        try:
            async with (
                aiohttp.ClientSession(auto_decompress=False) as session,
                session.request(
                    request.method,
                    url,
                    params=request.query,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                ) as upstream,
            ):
                response = web.StreamResponse(
                    status=upstream.status,
                    headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS},
                )
                if "Content-Encoding" in upstream.headers:
                    response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except aiohttp.ClientError as exc:
            raise ApiError(503, f"error trying to reach service: {exc}", "ServiceUnavailable") from exc
