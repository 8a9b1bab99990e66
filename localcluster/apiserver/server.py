"""ApiServer: the store, registry, controllers and HTTP app put together, started and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from . import crds
from .app import create_app
from .faults import Faults
from .gc import GarbageCollector
from .handlers import ResourceHandler
from .kinds import Registry
from .kubeconfig import write_kubeconfig
from .logs import PodLogs
from .namespaces import CrdCleanupController, NamespaceController
from .node import local_node, local_node_status
from .openapi_docs import OpenApiDocuments
from .proxy import Proxy
from .resources import JSON_PATCH, Resources, WriteOptions
from .service_backends import ServiceBackends
from .service_dns_proxy import ServiceDnsProxy
from .store import Store
from .streaming import PodStreams
from .watchstream import WatchStreams

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "localcluster-token"
BOOTSTRAP_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
STORE_FILE = "store.json"
SAVE_INTERVAL = 5.0


class ApiServer:
    """An in-process Kubernetes API server for development and tests (never for production).

    Authentication and authorization are permissive: any bearer token (or none) is accepted for every verb.
    """

    def __init__(
        self,
        state_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        persist: bool = False,
        graceful_pod_deletion: bool = False,
        token: str = DEFAULT_TOKEN,
        bookmark_interval: float = 20.0,
        history: int = 20_000,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.token = token
        self.persist = persist
        self.store = Store(history)
        self.registry = Registry()
        self.custom = crds.CustomResources(self.registry)
        self.resources = Resources(self.store, self.registry, self.custom, graceful_pod_deletion)
        self.faults = Faults(self.store.hub)
        # Each part receives only the pieces it uses, never this object: server.py composes them, so none of
        # them may import it.
        self.watches = WatchStreams(self.store, self.resources, bookmark_interval)
        self.logs = PodLogs(self.resources, self.state_dir)
        backends = ServiceBackends(self.store)
        self.proxy = Proxy(self.store, backends)
        # exec/attach/portforward: the kubelet plugs its backend into `streams.backend`
        self.streams = PodStreams(self.resources)
        self.handler = ResourceHandler(
            self.registry,
            self.store,
            self.resources,
            watches=self.watches,
            logs=self.logs,
            proxy=self.proxy,
            streams=self.streams,
        )
        # Service DNS for HTTP: pods' HTTP_PROXY, on a port of its own (see service_dns_proxy.py)
        self.service_dns = ServiceDnsProxy(self.store, backends, host)
        self.openapi = OpenApiDocuments(self.registry)
        self.controllers = [
            GarbageCollector(self.resources),
            NamespaceController(self.resources),
            CrdCleanupController(self.resources),
        ]
        self.extra_routes: list[web.AbstractRouteDef] = []
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._saved_rv = -1
        self.store.add_listener(self.custom.on_change)
        for controller in self.controllers:
            self.store.add_listener(controller.on_change)

    # -- lifecycle -----------------------------------------------------------------------------------------
    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        """Extra HTTP routes (e.g. kubelet admin endpoints under /localcluster/v1/); call before start()."""
        if self._runner is not None:
            raise RuntimeError("add_routes() must be called before start()")
        self.extra_routes.extend(routes)

    def app(self) -> web.Application:
        """A fresh aiohttp application serving this server's state (for callers running their own runner)."""
        return create_app(
            self.registry,
            self.handler,
            address=lambda: f"{self.host}:{self.port}",
            middlewares=[self.faults.middleware],
            routes=[*self.openapi.routes(), *self.faults.routes(), *self.extra_routes],
        )

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store_file = self.state_dir / STORE_FILE
        if self.persist and store_file.exists():
            self._restore(store_file)
        self._bootstrap()
        for controller in self.controllers:
            self._tasks.append(asyncio.create_task(controller.run(), name=controller.name))
        if self.persist:
            self._tasks.append(asyncio.create_task(self._save_periodically(), name="store-saver"))
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])
        await self.service_dns.start()
        log.info("local API server listening on %s", self.url)

    async def stop(self) -> None:
        self.faults.clear()
        self.store.hub.close_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.service_dns.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.persist:
            self._save()

    async def settle(self, within: float = 10.0) -> None:
        """Waits until the built-in controllers (GC, namespaces, CRD cleanup) have no queued work."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not all(c.idle() for c in self.controllers):
            if loop.time() > deadline:
                raise TimeoutError("controllers still busy")
            await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def service_proxy_url(self) -> str:
        """The HTTP proxy that routes http://<service>[.<namespace>[.svc[.cluster.local]]] to Services."""
        return self.service_dns.url

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return write_kubeconfig(Path(path), self.url, self.token, namespace)

    # -- state ---------------------------------------------------------------------------------------------
    def _bootstrap(self) -> None:
        namespaces = self.registry.get("", "namespaces")
        nodes = self.registry.get("", "nodes")
        assert namespaces is not None and nodes is not None
        options = WriteOptions(field_manager="localcluster")
        for name in BOOTSTRAP_NAMESPACES:
            if self.store.get(namespaces.key, "", name) is None:
                self.resources.create(namespaces, "v1", "", {"metadata": {"name": name}}, options)
        node = self.store.get(nodes.key, "", "local")
        if node is None:
            self.resources.create(nodes, "v1", "", local_node(), options)
        else:  # restored from store.json: describe this boot of this machine, nothing older
            replace = [{"op": "replace", "path": "/status", "value": local_node_status()}]
            self.resources.patch(nodes, "v1", "", "local", JSON_PATCH, replace, "status", options)

    def _restore(self, path: Path) -> None:
        for key, obj in self.store.load(path):
            if key == crds.CRD_KEY:
                self.custom.serve(obj)
        self._saved_rv = self.store.rv

    def _save(self) -> None:
        if self._saved_rv != self.store.rv:
            self.store.save(self.state_dir / STORE_FILE)
            self._saved_rv = self.store.rv

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(SAVE_INTERVAL)
            self._save()
