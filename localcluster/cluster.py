"""LocalCluster: the API server and the process kubelet of node ``local``, started and stopped as one.

A development and test tool, never a production runtime.

    async with LocalCluster(state_dir) as cluster:       # blocking callers: LocalCluster.in_thread(state_dir)
        cluster.kubeconfig_path                          # for kubectl, helm, kopf, the kubernetes client
        await cluster.install_crds([Path("crds")])
        cluster.kill_pod("default", "web-0", "SIGKILL")  # kubelet faults
        cluster.faults.fail_next("PATCH", r"/pods/", 500)  # request faults of the API server
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

from localcluster.apiserver import ApiServer, Faults
from localcluster.kubelet import orphans
from localcluster.kubelet.admin import kubelet_routes
from localcluster.kubelet.client import ApiClient, ApiError
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.container import signal_number
from localcluster.kubelet.images import ImageTable
from localcluster.kubelet.kubelet import Kubelet
from localcluster.kubelet.streaming import KubeletStreaming
from localcluster.loopthread import LoopThread

KUBECONFIG = "kubeconfig"
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# How long pods get to stop when the whole cluster stops; their own grace period applies if it is shorter.
SHUTDOWN_GRACE_SECONDS = 5.0


def crd_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the given YAML files and directories (``*.yaml``/``*.yml``)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted([*path.glob("*.yaml"), *path.glob("*.yml")]))
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"CRD path {path} does not exist")
    documents = []
    for file in files:
        for document in yaml.safe_load_all(file.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                documents.append(document)
    return documents


class LocalCluster:
    """An API server plus a process kubelet, sharing one state directory."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        images: ImageTable | None = None,
        restart_backoff: tuple[float, float] = (10.0, 300.0),
        persist: bool = False,
        shutdown_grace: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.server = ApiServer(self.state_dir, host, port, persist=persist, graceful_pod_deletion=True)
        self.kubelet = Kubelet(
            KubeletConfig(
                self.state_dir,
                images=images or ImageTable(),
                restart_backoff_initial=restart_backoff[0],
                restart_backoff_max=restart_backoff[1],
            )
        )
        self.server.add_routes(kubelet_routes(self.kubelet))
        self.server.streams.backend = KubeletStreaming(self.kubelet)
        self._shutdown_grace = shutdown_grace

    async def start(self) -> None:
        # Processes left by a previous instance that died without stopping its pods would hold pod addresses.
        orphans.kill_recorded(self.kubelet.config.pods_dir)
        await self.server.start()
        self.server.write_kubeconfig(self.kubeconfig_path)
        await self.kubelet.start(self.server.url, self.server.token, self.server.service_proxy_url)

    async def stop(self) -> None:
        try:
            await self.kubelet.stop(grace_cap=self._shutdown_grace)
        finally:
            await self.server.stop()

    async def __aenter__(self) -> LocalCluster:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @classmethod
    def in_thread(cls, state_dir: Path, port: int = 0, **options: Any) -> LocalClusterThread:
        """The same cluster on its own event loop in a background thread, for blocking callers."""
        return LocalClusterThread(cls(state_dir, port, **options))

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def service_proxy_url(self) -> str:
        """The HTTP proxy pods get as HTTP_PROXY: it routes http://<service>[.<namespace>[.svc]][:port]."""
        return self.server.service_proxy_url

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / KUBECONFIG

    async def install_crds(self, paths: Sequence[Path]) -> list[str]:
        """Create or update every CRD found in ``paths``; returns their names once they are served.

        Like ``kubectl apply``, it records the last-applied-configuration annotation, so that a later
        ``kubectl apply -f crds/`` sees them as its own.
        """
        names = []
        async with aiohttp.ClientSession() as session:
            client = ApiClient(self.url, self.token, session)
            for document in crd_documents(paths):
                crd = _with_last_applied(document)
                name = str(crd["metadata"]["name"])
                try:
                    await client.post(CRD_PATH, crd)
                except ApiError as error:
                    if error.status != 409:
                        raise
                    current = await client.get(f"{CRD_PATH}/{name}")
                    crd = {**crd, "metadata": {**crd["metadata"], **_version_of(current)}}
                    await client.put(f"{CRD_PATH}/{name}", crd)
                names.append(name)
        return names

    # --- faults ------------------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """Request faults of the API server: ``fail_next``, ``delay``, ``drop_watches``, ``clear``."""
        return self.server.faults

    def kill_pod(
        self, namespace: str, name: str, sig: int | str = signal.SIGKILL, container: str | None = None
    ) -> list[str]:
        """Send a signal to the process group of a pod's containers (one, or all); returns those signalled."""
        return self.kubelet.kill_pod(namespace, name, signal_number(sig), container)

    def pause_kubelet(self) -> None:
        """Pods keep running but the kubelet stops reporting and stops reacting to pod changes."""
        self.kubelet.pause()

    def resume_kubelet(self) -> None:
        self.kubelet.resume()


def _with_last_applied(document: dict[str, Any]) -> dict[str, Any]:
    """The document annotated as ``kubectl apply`` annotates it. kubectl compares its own rendering with
    the stored one: Go's JSON encoder (sorted keys, HTML characters escaped, a final newline)."""
    metadata = dict(document.get("metadata") or {})
    annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if k != LAST_APPLIED}
    applied = {**document, "metadata": {**metadata, "annotations": annotations}}
    rendered = json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        rendered = rendered.replace(char, escape)
    rendered += "\n"
    return {**applied, "metadata": {**metadata, "annotations": {**annotations, LAST_APPLIED: rendered}}}


def _version_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {"resourceVersion": (obj.get("metadata") or {}).get("resourceVersion")}


class LocalClusterThread(LoopThread):
    """Runs a LocalCluster on an event loop in a background thread; every method blocks until done.

    ``with LocalCluster.in_thread(tmp_path) as cluster: ...`` starts it and stops it (and every pod process).
    """

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__("localcluster")
        self.cluster = cluster

    def start(self) -> LocalClusterThread:
        self.start_loop()
        try:
            self.run(self.cluster.start(), timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_loop(self.cluster.stop, timeout=60)

    def __enter__(self) -> LocalClusterThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def service_proxy_url(self) -> str:
        return self.cluster.service_proxy_url

    @property
    def kubeconfig_path(self) -> Path:
        return self.cluster.kubeconfig_path

    @property
    def state_dir(self) -> Path:
        return self.cluster.state_dir

    def install_crds(self, paths: Sequence[Path]) -> list[str]:
        return self.run(self.cluster.install_crds(paths))

    def kill_pod(
        self, namespace: str, name: str, sig: int | str = signal.SIGKILL, container: str | None = None
    ) -> list[str]:
        return self.call(self.cluster.kill_pod, namespace, name, sig, container)

    def pause_kubelet(self) -> None:
        self.call(self.cluster.pause_kubelet)

    def resume_kubelet(self) -> None:
        self.call(self.cluster.resume_kubelet)

    def fail_next(self, method: str, path_regex: str, status: int = 500, count: int = 1) -> None:
        self.call(self.cluster.faults.fail_next, method, path_regex, status, count)

    def delay(self, method: str, path_regex: str, seconds: float, count: int | None = None) -> None:
        self.call(self.cluster.faults.delay, method, path_regex, seconds, count)

    def drop_watches(self) -> int:
        return self.call(self.cluster.faults.drop_watches)

    def compact_history(self) -> int:
        return self.call(self.cluster.faults.compact_history)
