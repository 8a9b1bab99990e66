"""Service and pod proxy: /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}.

The Service's selector picks a Ready pod, whose podIP (a 127.x address the kubelet allocates) and target port
receive the request. The backend choice (`ServiceBackends`) and the forwarding (`forward`) are shared with the
Service DNS proxy (`service_dns_proxy.py`).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from yarl import URL

from localcluster import selectors

from .errors import ApiError, bad_request, not_found
from .handlers import Target

if TYPE_CHECKING:
    from .server import ApiServer
    from .store import Store

# Headers that describe one hop, not the message (RFC 9110 section 7.6.1), plus Host, which aiohttp sets from
# the backend's URL.
HOP_HEADERS = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
    )
)
# The answer is re-framed (chunked) on the way back, so the backend's length no longer describes it.
# Content-Encoding passes through: sessions used here must not decompress (auto_decompress=False).
_RESPONSE_DROPPED = HOP_HEADERS | {"content-length"}
_CHUNK = 64 * 1024


class BackendError(Exception):
    """A Service that cannot take a request now; the message says why, in the client's terms."""


class ServiceNotFoundError(BackendError):
    pass


class ServicePortNotFoundError(BackendError):
    pass


class NoEndpointsError(BackendError):
    pass


class BackendUnreachableError(BackendError):
    pass


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


class ServiceBackends:
    """Picks the pod address and port behind a Service port, turn by turn among the Ready pods."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._turn = itertools.count()

    def pick(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        """`port` is a service port's name or number ("" for the first port); raises BackendError."""
        service = self._store.get(("", "services"), namespace, name)
        if service is None:
            raise ServiceNotFoundError(f'service "{name}" not found in namespace "{namespace}"')
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        chosen = next(
            (p for p in ports if not port or port in (p.get("name"), str(p.get("port")))),
            None,
        )
        if chosen is None:
            offered = ", ".join(str(p.get("port")) for p in ports) or "none"
            raise ServicePortNotFoundError(
                f'service "{name}" in namespace "{namespace}" has no port {port} (its ports: {offered})'
            )
        pod_selector = selectors.selector_from_labels(spec.get("selector") or {})
        pods = [
            pod
            for pod in self._store.objects(("", "pods"), namespace)
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
            raise NoEndpointsError(f'no endpoints available for service "{name}" in namespace "{namespace}"')
        return backends[next(self._turn) % len(backends)]


async def forward(
    session: aiohttp.ClientSession,
    request: web.BaseRequest,
    url: URL,
    dropped_headers: frozenset[str] = HOP_HEADERS,
) -> web.StreamResponse:
    """Send ``request`` to ``url`` and stream the answer back; both bodies stream, neither is buffered.

    Raises BackendUnreachableError when no answer starts; a failure mid-answer drops the client connection.
    """
    headers = {k: v for k, v in request.headers.items() if k.lower() not in dropped_headers}
    body = request.content.iter_chunked(_CHUNK) if request.body_exists else None
    try:
        upstream = await session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        )
    except aiohttp.ClientError as exc:
        raise BackendUnreachableError(f"cannot reach {url.host}:{url.port}: {exc}") from exc
    async with upstream:
        response = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in _RESPONSE_DROPPED},
        )
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except aiohttp.ClientError as exc:
            # The answer has begun, so the client can only learn of the failure by the connection dropping.
            raise ConnectionResetError(f"{url.host}:{url.port} failed while answering: {exc}") from exc
        await response.write_eof()
        return response


class Proxy:
    """The API server's `services/{name}/proxy` and `pods/{name}/proxy` subresources."""

    # The bearer token is the API server's credential, not the backend's.
    _DROPPED = HOP_HEADERS | {"authorization"}

    def __init__(self, server: ApiServer, backends: ServiceBackends) -> None:
        self.server = server
        self._backends = backends

    async def handle(self, request: web.Request, target: Target) -> web.StreamResponse:
        scheme, name, port = _split_name(target.name)
        namespace = target.namespace or ""
        if target.rtype.plural == "services":
            address, number = self._service_backend(namespace, name, port)
        else:
            address, number = self._pod_backend(namespace, name, port)
        url = URL(f"{scheme or 'http'}://{address}:{number}/{target.rest}").with_query(request.query)
        try:
            async with aiohttp.ClientSession(auto_decompress=False) as session:
                return await forward(session, request, url, self._DROPPED)
        except BackendUnreachableError as exc:
            raise ApiError(503, f"error trying to reach service: {exc}", "ServiceUnavailable") from exc

    def _service_backend(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        try:
            return self._backends.pick(namespace, name, port)
        except ServiceNotFoundError:
            raise not_found("services", "", name) from None
        except BackendError:
            raise ApiError(
                503, f'no endpoints available for service "{name}"', "ServiceUnavailable"
            ) from None

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
