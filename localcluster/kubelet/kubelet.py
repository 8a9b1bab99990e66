"""The process kubelet of node ``local``: watches its pods through the API, runs them as local processes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp

from localcluster.kubelet.addresses import PodAddressPool
from localcluster.kubelet.client import ApiClient, ApiError
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.events import EventRecorder
from localcluster.kubelet.informer import Informer, object_key
from localcluster.kubelet.pod import DEFAULT_GRACE_SECONDS, PodWorker
from localcluster.kubelet.reporter import StatusReporter

logger = logging.getLogger(__name__)

TERMINAL_PHASES = ("Succeeded", "Failed")
RETRY_INITIAL = 0.2
RETRY_MAX = 5.0


class InformerObjects:
    """ConfigMaps and Secrets as the kubelet's watches currently see them."""

    def __init__(self, configmaps: Informer, secrets: Informer) -> None:
        self._configmaps = configmaps
        self._secrets = secrets

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._configmaps.cache.get((namespace, name))

    def secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._secrets.cache.get((namespace, name))


@dataclasses.dataclass(frozen=True)
class _Connection:
    """The kubelet's link to the API server, made by start()."""

    session: aiohttp.ClientSession
    client: ApiClient
    pods: Informer
    objects: InformerObjects
    recorder: EventRecorder


@dataclasses.dataclass
class _PodEntry:
    worker: PodWorker
    reporter: StatusReporter
    finalizing: asyncio.Task[None] | None = None


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def _grace(pod: Mapping[str, Any]) -> float:
    metadata = pod.get("metadata") or {}
    if metadata.get("deletionGracePeriodSeconds") is not None:
        return float(metadata["deletionGracePeriodSeconds"])
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))


class Kubelet:
    """Runs the pods bound to ``config.node_name``; see docs/local-cluster.md for what is emulated."""

    def __init__(self, config: KubeletConfig) -> None:
        self.config = config
        self._running = asyncio.Event()
        self._running.set()
        self._pods: dict[str, _PodEntry] = {}
        self._addresses = PodAddressPool()
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._chores: set[asyncio.Task[None]] = set()
        self._connection: _Connection | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def start(self, api_url: str, token: str, service_proxy_url: str | None = None) -> None:
        """Connect to the API server and start running pods once ConfigMaps, Secrets and pods are listed.

        ``service_proxy_url``: the API server's Service DNS proxy, given to containers as HTTP_PROXY.
        """
        self.config = dataclasses.replace(
            self.config,
            api_url=api_url,
            token=token,
            service_proxy_url=service_proxy_url or self.config.service_proxy_url,
        )
        self.config.pods_dir.mkdir(parents=True, exist_ok=True)
        session = aiohttp.ClientSession()
        client = ApiClient(api_url, token, session)
        configmaps = Informer(client, "/api/v1/configmaps", self._on_object)
        secrets = Informer(client, "/api/v1/secrets", self._on_object)
        pods = Informer(
            client, "/api/v1/pods", self._on_pod, {"fieldSelector": f"spec.nodeName={self.config.node_name}"}
        )
        recorder = EventRecorder(client, self.config.node_name, self._running)
        self._connection = _Connection(session, client, pods, InformerObjects(configmaps, secrets), recorder)
        for name, coroutine in (
            ("configmaps", configmaps.run()),
            ("secrets", secrets.run()),
            ("events", recorder.run()),
        ):
            self._tasks.append(asyncio.create_task(coroutine, name=f"kubelet {name}"))
        await asyncio.gather(configmaps.synced.wait(), secrets.synced.wait())
        self._tasks.append(asyncio.create_task(pods.run(), name="kubelet pods"))
        self._tasks.append(asyncio.create_task(self._dispatch(), name="kubelet dispatch"))
        await pods.synced.wait()
        self._remove_stale_pod_dirs(set(map(_uid, pods.cache.values())))

    def _connected(self) -> _Connection:
        if self._connection is None:
            raise RuntimeError("the kubelet is not started")
        return self._connection

    def _remove_stale_pod_dirs(self, known_uids: set[str]) -> None:
        """Drop the files of pods deleted while no kubelet ran (directories are named <ns>_<pod>_<uid>)."""
        for directory in self.config.pods_dir.iterdir():
            if directory.is_dir() and directory.name.rpartition("_")[2] not in known_uids:
                shutil.rmtree(directory, ignore_errors=True)

    async def stop(self, grace_cap: float | None = None) -> None:
        """A graceful node shutdown: stop every pod's processes (each within its grace period, at most
        ``grace_cap``), report the pods Failed with reason Terminated, and disconnect.
        """
        tasks = [*self._tasks, *self._chores]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(self._shut_down(entry, grace_cap) for entry in self._pods.values()))
        self._pods.clear()
        # Every pod process is gone: another cluster may hand out these addresses now.
        self._addresses.close()
        if self._connection is not None:
            await self._connection.session.close()
            self._connection = None

    async def _shut_down(self, entry: _PodEntry, grace_cap: float | None) -> None:
        grace = _grace(entry.worker.pod)
        await entry.worker.terminate(
            grace if grace_cap is None else min(grace, grace_cap), node_shutdown=True
        )
        if not self.paused:
            with contextlib.suppress(ApiError, aiohttp.ClientError):
                await entry.reporter.flush()
        await entry.reporter.stop()

    # --- faults ------------------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        """Stop talking to the API (no status, events or pod handling); the processes keep running."""
        self._running.clear()

    def resume(self) -> None:
        """Catch up: handle queued pod changes and write every pod's current status."""
        for entry in self._pods.values():
            entry.reporter.resend()
        self._running.set()

    def kill_pod(self, namespace: str, name: str, sig: int, container: str | None = None) -> list[str]:
        """Send ``sig`` to a pod's container process groups; returns the containers signalled."""
        for entry in self._pods.values():
            if (entry.worker.namespace, entry.worker.name) == (namespace, name) and not entry.worker.done:
                return entry.worker.kill(sig, container)
        raise LookupError(f"pod {namespace}/{name} is not running on node {self.config.node_name}")

    def worker(self, uid: str) -> PodWorker | None:
        """The running pod with this uid, if it runs here (for exec, attach and port-forward)."""
        entry = self._pods.get(uid)
        return entry.worker if entry is not None and not entry.worker.done else None

    def describe(self) -> dict[str, Any]:
        """A summary for the admin endpoint and `local status`."""
        pods = []
        for entry in self._pods.values():
            status = entry.worker.status()
            pods.append(
                {
                    "namespace": entry.worker.namespace,
                    "name": entry.worker.name,
                    "uid": entry.worker.uid,
                    "podIP": entry.worker.pod_ip,
                    "phase": status["phase"],
                    "containers": {c["name"]: next(iter(c["state"])) for c in status["containerStatuses"]},
                }
            )
        return {"node": self.config.node_name, "paused": self.paused, "pods": pods}

    # --- watch handling ----------------------------------------------------------------------------------

    async def _on_object(self, kind: str, obj: dict[str, Any]) -> None:
        namespace, _ = object_key(obj)
        for entry in self._pods.values():
            if entry.worker.namespace == namespace:
                entry.worker.inputs_changed()

    async def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        self._queue.put_nowait((kind, pod))

    async def _dispatch(self) -> None:
        while True:
            kind, pod = await self._queue.get()
            await self._running.wait()
            try:
                self._handle(kind, pod)
            except Exception:  # one bad pod must not stop the node
                logger.exception("kubelet failed to handle %s of pod %s", kind, object_key(pod))

    def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        uid = _uid(pod)
        entry = self._pods.get(uid)
        if kind == "DELETED":
            self._background(self._forget(uid, pod), f"forget pod {uid}")
            return
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            if entry is None:
                self._background(self._finalize(pod), f"finalize pod {uid}")
            elif entry.finalizing is None:
                entry.finalizing = self._background(self._finalize(pod), f"finalize pod {uid}")
            return
        if entry is not None:
            entry.worker.update_pod(pod)
        elif (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
            self._start_pod(pod)

    def _background(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)
        return task

    def _start_pod(self, pod: dict[str, Any]) -> None:
        connection = self._connected()
        uid = _uid(pod)
        key = object_key(pod)
        host_network = bool((pod.get("spec") or {}).get("hostNetwork"))
        pod_ip = self.config.host_ip if host_network else self._addresses.allocate(uid)
        worker = PodWorker(
            pod,
            config=self.config,
            pod_ip=pod_ip,
            objects=connection.objects,
            events=connection.recorder,
            on_change=lambda: self._status_changed(uid),
            http=connection.session,
        )
        reporter = StatusReporter(
            connection.client, worker, self._running, lambda: connection.pods.cache.get(key)
        )
        self._pods[uid] = _PodEntry(worker, reporter)
        # The API server binds pods to the node itself (its one-node scheduler); the event is written here.
        if not (pod.get("status") or {}).get("startTime"):
            connection.recorder.record(
                pod,
                "Normal",
                "Scheduled",
                f"Successfully assigned {key[0]}/{key[1]} to {self.config.node_name}",
                None,
            )
        reporter.start()
        worker.start()
        logger.info("pod %s/%s started on %s", key[0], key[1], pod_ip)

    def _status_changed(self, uid: str) -> None:
        entry = self._pods.get(uid)
        if entry is not None:
            entry.reporter.changed()

    async def _finalize(self, pod: dict[str, Any]) -> None:
        """A deleted pod: stop its containers within the grace period, then remove it for good (grace 0)."""
        client = self._connected().client
        entry = self._pods.get(_uid(pod))
        if entry is not None:
            await entry.worker.terminate(_grace(pod))
            with contextlib.suppress(ApiError, aiohttp.ClientError):
                await entry.reporter.flush()
        namespace, name = object_key(pod)
        delay = RETRY_INITIAL
        while True:
            try:
                await client.delete(
                    f"/api/v1/namespaces/{namespace}/pods/{name}",
                    {"gracePeriodSeconds": 0, "preconditions": {"uid": _uid(pod)}},
                )
                return
            except (ApiError, aiohttp.ClientError) as error:
                # 404: gone already; 409: the name now belongs to a new pod
                if isinstance(error, ApiError) and error.status in (404, 409):
                    return
                logger.debug("pod %s/%s not deleted yet (%s); retrying", namespace, name, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def _forget(self, uid: str, pod: dict[str, Any]) -> None:
        """The pod is gone from the API: make sure its processes are gone too, then drop its files."""
        entry = self._pods.get(uid)
        if entry is not None:
            await entry.worker.terminate(_grace(pod))
            await entry.reporter.stop()
            self._pods.pop(uid, None)
            shutil.rmtree(entry.worker.paths.pod_dir, ignore_errors=True)
            logger.info("pod %s/%s deleted", entry.worker.namespace, entry.worker.name)
        self._addresses.release(uid)
