"""Service DNS for HTTP: a forward proxy that sends `http://<service>[.<namespace>[.svc[.cluster.local]]]`
to a Ready pod of that Service.

The local cluster has no DNS server (pods are host processes using the host's resolver), so Service names
cannot resolve. Instead the kubelet gives every container HTTP_PROXY pointing here; HTTP clients then send
their requests for any host to this proxy in absolute form (`GET http://worker.default.svc:8080/x`), and it
resolves the name against the store as cluster DNS plus kube-proxy would. Plain HTTP only: clients tunnel
https through CONNECT, which this proxy refuses.

Which namespace a bare `<service>` means depends on the caller. Every local connection comes from 127.0.0.1,
whatever the pod's address, so the kubelet names the pod in the proxy URL's credentials
(`http://<namespace>:<pod>@127.0.0.1:<port>`), which clients send as Proxy-Authorization. A client that sends
none but binds its pod address is recognised by that address; anyone else gets `default`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from yarl import URL

from .forwarding import HOP_HEADERS, forward
from .service_backends import BackendError, NoEndpointsError, ServiceBackends

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"
CLUSTER_DOMAIN = "cluster.local"
# The NO_PROXY the kubelet gives containers: the API server and pod addresses are reached directly. (httpx
# and urllib ignore the CIDR entry and send pod-address requests here; they are passed on, see _route.)
DIRECT_HOSTS = "localhost,127.0.0.1,127.0.0.0/8,::1"
# A Service name is an RFC 1035 label, a namespace an RFC 1123 label.
_SERVICE_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_NAMESPACE_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# The Host header names the Service, as it would after a DNS lookup; everything else of one hop stays here.
_DROPPED = HOP_HEADERS - {"host"}
SERVICE_FORM = "http://<service>[.<namespace>[.svc[.cluster.local]]][:port]"


@dataclass(frozen=True)
class ServiceHost:
    """A host name naming a Service; `namespace` None means the calling pod's namespace. `maybe_outside`:
    the `<name>.<namespace>` form, which an outside host such as example.com has too."""

    name: str
    namespace: str | None
    maybe_outside: bool = False


_SVC_SUFFIXES = (["svc"], ["svc", *CLUSTER_DOMAIN.split(".")])


def parse_service_host(host: str) -> ServiceHost | None:
    """The Service a host name names, in the forms cluster DNS answers; None for any other host."""
    name, *rest = host.lower().removesuffix(".").split(".")
    if not _SERVICE_LABEL.fullmatch(name):
        return None
    if not rest:
        return ServiceHost(name, None)
    namespace, *suffix = rest
    if not _NAMESPACE_LABEL.fullmatch(namespace) or (suffix and suffix not in _SVC_SUFFIXES):
        return None
    return ServiceHost(name, namespace, maybe_outside=not suffix)


def pod_proxy_url(proxy_url: str, namespace: str, pod: str) -> str:
    """The proxy URL given to one pod: its credentials name the pod, so bare Service names resolve in its
    namespace."""
    return str(URL(proxy_url).with_user(namespace).with_password(pod))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _not_a_service(host: str, why: str) -> str:
    return (
        f'"{host}" is not a Service name ({why}). The local cluster has no DNS: its HTTP proxy (HTTP_PROXY '
        f"in every pod) only routes {SERVICE_FORM} to the Service's pods. To reach another host directly, "
        f"list it in the pod's NO_PROXY and no_proxy env, e.g. NO_PROXY={DIRECT_HOSTS},{host}"
    )


class RefusedError(Exception):
    """A request this proxy does not route; answered with `status` and the message as plain text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServiceDnsProxy:
    """The HTTP forward proxy; start() binds it to `host` (a free port unless `port` is given)."""

    def __init__(
        self, store: Store, backends: ServiceBackends, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.host = host
        self.port = port
        # requests by what became of them: "service" (routed to a Service's pod), "relayed" (a loopback
        # address, passed on unchanged), "refused"
        self.counts: Counter[str] = Counter()
        self._store = store
        self._backends = backends
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        # One connection per request: a pooled connection to a pod that has since gone would fail the next
        # request, and loopback connections are cheap. No total timeout: answers may stream for long.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("service DNS proxy listening on %s", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        assert self._session is not None, "handling requests before start()"
        try:
            target, outcome = self._route(request)
        except RefusedError as refused:
            self.counts["refused"] += 1
            log.debug("service proxy refused %s %s: %s", request.method, request.raw_path, refused)
            response = web.Response(status=refused.status, text=f"localcluster service proxy: {refused}\n")
            # what follows on the connection (an unread body, or a tunnel after CONNECT) is not for us
            response.force_close()
            return response
        self.counts[outcome] += 1
        log.debug("service proxy: %s %s -> %s", request.method, request.raw_path, target)
        try:
            return await forward(self._session, request, target, _DROPPED)
        except BackendError as error:
            return web.Response(status=502, text=f"localcluster service proxy: {error}\n")

    def _route(self, request: web.BaseRequest) -> tuple[URL, str]:
        """Where the request goes, and how it got there ("service" or "relayed")."""
        if request.method == "CONNECT":
            raise RefusedError(
                501,
                f"CONNECT ({request.raw_path}) is not supported: the local cluster proxies plain HTTP to "
                f"{SERVICE_FORM} only. Reach https hosts directly (do not set HTTPS_PROXY).",
            )
        # The absolute-form request target names the host, whatever the Host header says (RFC 9112 3.2.2).
        url = URL(request.raw_path)
        if not url.is_absolute():
            raise RefusedError(
                400,
                f"this is the local cluster's Service proxy; send requests through it as an HTTP proxy "
                f"(HTTP_PROXY={self.url}) for {SERVICE_FORM}",
            )
        host = url.host or ""
        if url.scheme != "http":
            raise RefusedError(502, f"only http:// is proxied, not {url.scheme}://")
        if _is_loopback(host):
            # Pod addresses are loopback addresses. Python clients (httpx, urllib) do not understand the
            # 127.0.0.0/8 entry of NO_PROXY, so their requests to pod IPs arrive here: pass them on unchanged.
            return url, "relayed"
        service = parse_service_host(host)
        if service is None:
            raise RefusedError(502, _not_a_service(host, "not of the form <service>[.<namespace>[.svc...]]"))
        if service.maybe_outside and self._store.get(("", "namespaces"), "", str(service.namespace)) is None:
            raise RefusedError(502, _not_a_service(host, f'there is no namespace "{service.namespace}"'))
        namespace = service.namespace or self._caller_namespace(request)
        port = url.port or 80
        try:
            address, number = self._backends.pick(namespace, service.name, str(port))
        except NoEndpointsError as error:
            raise RefusedError(503, str(error)) from error
        except BackendError as error:
            raise RefusedError(502, str(error)) from error
        target = URL.build(
            scheme="http",
            host=address,
            port=number,
            path=url.raw_path,
            query_string=url.raw_query_string,
            encoded=True,
        )
        return target, "service"

    def _caller_namespace(self, request: web.BaseRequest) -> str:
        header = request.headers.get("Proxy-Authorization")
        if header:
            with contextlib.suppress(ValueError):
                namespace = str(aiohttp.BasicAuth.decode(header).login)
                if namespace:
                    return namespace
        for pod in self._store.objects(("", "pods")):
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            # host-network pods share 127.0.0.1, the address every unbound local connection comes from
            if not spec.get("hostNetwork") and status.get("podIP") == request.remote:
                return str(pod["metadata"]["namespace"])
        return DEFAULT_NAMESPACE
