"""Fixtures for running pods through the kubelet's runtime without an API server."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from localcluster.cluster import LocalCluster, LocalClusterThread
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.objects import StaticObjects
from localcluster.kubelet.pod import PodWorker
from localcluster.kubelet.timing import Notifier

_addresses = itertools.count(10)


@dataclass
class RecordedEvents:
    events: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def record(
        self, pod: Mapping[str, Any], event_type: str, reason: str, message: str, field_path: str | None
    ) -> None:
        self.events.append((event_type, reason, message, field_path))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _, _ in self.events]


@dataclass
class PodHarness:
    """Runs PodWorkers and waits for their status to satisfy a condition (woken by every status change)."""

    state_dir: Path
    http: aiohttp.ClientSession
    objects: StaticObjects = field(default_factory=StaticObjects)
    events: RecordedEvents = field(default_factory=RecordedEvents)
    changes: Notifier = field(default_factory=Notifier)
    workers: list[PodWorker] = field(default_factory=list)
    backoff: float = 0.2

    def start(self, containers: list[dict[str, Any]], **spec: Any) -> PodWorker:
        name = f"pod-{uuid.uuid4().hex[:6]}"
        pod = {
            "metadata": {
                "name": name,
                "namespace": "ns1",
                "uid": str(uuid.uuid4()),
                "labels": {"app": "demo"},
            },
            "spec": {"containers": containers, "nodeName": "local", "restartPolicy": "Never", **spec},
        }
        worker = PodWorker(
            pod,
            config=KubeletConfig(
                self.state_dir, restart_backoff_initial=self.backoff, restart_backoff_max=1.0
            ),
            pod_ip=f"127.0.1.{next(_addresses)}",
            objects=self.objects,
            events=self.events,
            on_change=self.changes.notify,
            http=self.http,
        )
        worker.start()
        self.workers.append(worker)
        return worker

    async def until(
        self, worker: PodWorker, predicate: Callable[[dict[str, Any]], bool], seconds: float = 10
    ) -> dict[str, Any]:
        """The first status satisfying ``predicate``; fails with the last status after ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        status = worker.status()
        while not predicate(status):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {seconds}s; last status: {status}")
            await self.changes.wait(min(remaining, 0.5))
            status = worker.status()
        return status


def container_status(status: Mapping[str, Any], name: str = "main") -> dict[str, Any]:
    return next(c for c in status["containerStatuses"] if c["name"] == name)


def condition(status: Mapping[str, Any], kind: str) -> str:
    return next(c["status"] for c in status["conditions"] if c["type"] == kind)


@pytest.fixture
async def pods(tmp_path: Path) -> AsyncIterator[PodHarness]:
    async with aiohttp.ClientSession() as http:
        harness = PodHarness(tmp_path, http)
        try:
            yield harness
        finally:
            await asyncio.gather(*(worker.terminate(0) for worker in harness.workers))


def eventually(probe: Callable[[], Any], seconds: float = 10, interval: float = 0.05) -> Any:
    """Poll ``probe`` until it returns something truthy (for state only visible by looking, e.g. a file)."""
    deadline = time.monotonic() + seconds
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{probe} still false after {seconds}s")
        time.sleep(interval)
    return result


# --- a whole local cluster (API server + kubelet) for end-to-end tests ------------------------------------

REPO = Path(__file__).resolve().parents[3]
TOOLS_BIN = REPO / ".tools" / "bin"


@dataclass
class ClusterHarness:
    cluster: LocalClusterThread
    core: k8s.CoreV1Api
    env: dict[str, str]

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
        return result

    def namespace(self) -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    def wait_for_pod(
        self, namespace: str, name: str, predicate: Callable[[Any], bool], seconds: float = 20
    ) -> Any:
        """The first version of the pod satisfying ``predicate``, seen through a watch (no polling)."""

        def done(kind: str, pod: Any) -> bool:
            return pod is not None and kind != "DELETED" and predicate(pod)

        return self._watch_pod(namespace, name, done, seconds)

    def wait_for_deletion(self, namespace: str, name: str, seconds: float = 20) -> None:
        self._watch_pod(namespace, name, lambda kind, pod: pod is None or kind == "DELETED", seconds)

    def _watch_pod(self, namespace: str, name: str, done: Callable[[str, Any], bool], seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        selector = f"metadata.name={name}"
        listing = self.core.list_namespaced_pod(namespace, field_selector=selector)
        last = listing.items[0] if listing.items else None
        if done("LISTED", last):
            return last
        version = listing.metadata.resource_version
        while (remaining := deadline - time.monotonic()) > 0:
            stream = k8s_watch.Watch().stream(
                self.core.list_namespaced_pod,
                namespace,
                field_selector=selector,
                resource_version=version,
                timeout_seconds=max(1, int(remaining)),
            )
            for event in stream:
                last = event["object"]
                version = last.metadata.resource_version
                if done(event["type"], last):
                    return last
        raise AssertionError(f"pod {namespace}/{name} did not get there in {seconds}s; last seen: {last}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHarness]:
    base = tmp_path_factory.mktemp("cluster")
    with LocalCluster.in_thread(base / "state", restart_backoff=(0.2, 1.0)) as running:
        api = k8s_config.new_client_from_config(config_file=str(running.kubeconfig_path))
        env = {**os.environ, "KUBECONFIG": str(running.kubeconfig_path), "KUBECACHEDIR": str(base / "kube")}
        try:
            yield ClusterHarness(running, k8s.CoreV1Api(api), env)
        finally:
            api.close()
