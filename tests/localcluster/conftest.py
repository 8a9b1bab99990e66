"""Shared fixtures for local-cluster tests: a running API server, its kubeconfig, and a kubectl runner."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localcluster.apiserver import ApiServer, ServerThread
from tests.polling import poll_until

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"


def tool_env(kubeconfig: Path, cache_dir: Path) -> dict[str, str]:
    """Environment for kubectl/helm/kopf subprocesses: project tools first on PATH, isolated caches."""
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(kubeconfig)
    env["KUBECACHEDIR"] = str(cache_dir / "kube")
    env["HELM_CACHE_HOME"] = str(cache_dir / "helm-cache")
    env["HELM_CONFIG_HOME"] = str(cache_dir / "helm-config")
    env["HELM_DATA_HOME"] = str(cache_dir / "helm-data")
    return env


@dataclass
class RunningServer:
    """A started ApiServer on a background thread, with its kubeconfig and a tool environment."""

    server: ApiServer
    thread: ServerThread
    kubeconfig: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.thread.call(function, *args)


@pytest.fixture(scope="module")
def local_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One API server per test module (tests use their own namespaces so they do not interfere)."""
    base = tmp_path_factory.mktemp("apiserver")
    thread = ServerThread(ApiServer(base / "state", bookmark_interval=2.0))
    server = thread.start()
    kubeconfig = server.write_kubeconfig(base / "kubeconfig")
    try:
        yield RunningServer(server, thread, kubeconfig, tool_env(kubeconfig, base / "cache"))
    finally:
        thread.stop()


@pytest.fixture
def kubectl(local_apiserver: RunningServer) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the real kubectl against the server: kubectl("get", "pods", input=..., check=True)."""

    def run(
        *args: str, input: str | None = None, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=local_apiserver.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run


@pytest.fixture
def namespace(
    local_apiserver: RunningServer, kubectl: Callable[..., subprocess.CompletedProcess[str]]
) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    return name


def _wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = ""
) -> Any:
    return poll_until(condition, timeout, what, interval)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """wait_for(condition, timeout=10, what=...): polls until `condition()` is truthy, or fails."""
    return _wait_for
