"""Which pod answers for a Service port: the Service's selector picks the Ready pods, whose podIP (a 127.x
address the kubelet allocates) and target port receive the request, turn by turn.

Shared by the API server's `services/{name}/proxy` subresource (proxy.py) and the Service DNS proxy
(service_dns_proxy.py).
"""

from __future__ import annotations

import itertools
from typing import Any

from . import selectors
from .store import Store


class BackendError(Exception):
    """A Service that cannot take a request now; the message says why, in the client's terms."""


class ServiceNotFoundError(BackendError):
    pass


class ServicePortNotFoundError(BackendError):
    pass


class NoEndpointsError(BackendError):
    pass


def _is_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp") or not (pod.get("status") or {}).get("podIP"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def container_port(pod: dict[str, Any], name: str) -> int | None:
    """The number of the container port called `name`, in any of the pod's containers."""
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
            number = container_port(pod, target_port) if isinstance(target_port, str) else int(target_port)
            if number is not None:
                backends.append((pod["status"]["podIP"], number))
        if not backends:
            raise NoEndpointsError(f'no endpoints available for service "{name}" in namespace "{namespace}"')
        return backends[next(self._turn) % len(backends)]
