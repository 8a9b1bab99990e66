"""Service and pod proxy: /api/v1/namespaces/{ns}/services/{[scheme:]name[:port]}/proxy/{path}.

The Service's backend is chosen by `ServiceBackends` (service_backends.py) and the request passed on by
`forward` (forwarding.py), both shared with the Service DNS proxy (`service_dns_proxy.py`).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from yarl import URL

from .errors import ApiError, bad_request, not_found
from .forwarding import HOP_HEADERS, BackendUnreachableError, forward
from .service_backends import BackendError, ServiceBackends, ServiceNotFoundError, container_port
from .store import Store
from .target import Target


def _split_name(text: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]` -> (scheme, name, port)."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


class Proxy:
    """The API server's `services/{name}/proxy` and `pods/{name}/proxy` subresources.

    Receives the store (to find a pod's address) and the Service backend chooser it shares with the Service
    DNS proxy.
    """

    # The bearer token is the API server's credential, not the backend's.
    _DROPPED = HOP_HEADERS | {"authorization"}

    def __init__(self, store: Store, backends: ServiceBackends) -> None:
        self._store = store
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
        pod = self._store.get(("", "pods"), namespace, name)
        if pod is None:
            raise not_found("pods", "", name)
        address = (pod.get("status") or {}).get("podIP")
        if not address:
            raise bad_request(f'pod "{name}" has no IP address yet')
        number = int(port) if port.isdigit() else container_port(pod, port) if port else 80
        if number is None:
            raise bad_request(f'pod "{name}" has no port named "{port}"')
        return address, number
