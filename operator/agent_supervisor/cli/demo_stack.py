"""The local demo stack: local cluster, CRDs, the scripted model server as a pod, and the operator.

`DemoStack` is a context manager; leaving it stops the operator process and the cluster (which stops every
pod process), also on Ctrl-C. While it runs, the operator is restarted whenever it exits (keeper.py), as its
Deployment would restart it in a cluster. The examples' model endpoint,
http://model-server.agent-supervisor-system.svc:8000/v1, reaches the model server pod through the local
cluster's Service DNS for HTTP.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from agent_runtime.incarnation_protocol import DEFAULT_CONTROL_PORT
from agent_supervisor.cli.keeper import Backoff, Keeper
from agent_supervisor.translate import labels as label_keys
from agent_supervisor.translate.incarnations import CURRENT_ATTEMPT
from agent_supervisor.translate.pods import pod_is_ready
from localcluster.cluster import LocalCluster, LocalClusterThread

REPO = Path(__file__).resolve().parents[3]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
SYSTEM_NAMESPACE = "agent-supervisor-system"
MODEL_SERVER = "model-server"
MODEL_PORT = 8000
GROUP_PATH = "/apis/otp.agents.dev/v1alpha1"
CHILD_LABEL = "otp.agents.dev/child"
ATTEMPT_LABEL = "otp.agents.dev/attempt"
# The operator drains its work on SIGTERM; past this it is killed.
_STOP_TIMEOUT = 30.0

T = TypeVar("T")


class DemoError(Exception):
    """The demo stack could not reach the state it waited for."""


def wait_until(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; DemoError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _model_server_manifests() -> list[tuple[str, dict[str, Any]]]:
    labels = {"app": MODEL_SERVER}
    pod = {
        "metadata": {"name": MODEL_SERVER, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "server",
                    "image": "python",
                    "command": ["python", "-m", "agent_runtime", "model-server"],
                    "args": ["--host", "$(POD_IP)", "--port", str(MODEL_PORT)],
                    "ports": [{"name": "http", "containerPort": MODEL_PORT}],
                    "readinessProbe": {
                        "httpGet": {"path": "/v1/models", "port": MODEL_PORT},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    }
    service = {
        "metadata": {"name": MODEL_SERVER},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http"}]},
    }
    return [("pods", pod), ("services", service)]


class DemoStack:
    """Everything `agent-supervisor demo` runs, started in order and stopped in reverse."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="agent-supervisor-demo-")
            state_dir = Path(self._temp.name)
        self.state_dir = state_dir
        self.cluster: LocalClusterThread | None = None
        self.operator: Keeper | None = None
        self.operator_log = state_dir / "operator.log"
        self.metrics_port = _free_port()
        self.operator_backoff = Backoff()
        self._http: httpx.Client | None = None

    # --- starting -----------------------------------------------------------------------------------------

    def start_cluster(self) -> None:
        self.cluster = LocalCluster.in_thread(self.state_dir / "cluster", shutdown_grace=2.0).start()
        self._http = httpx.Client(
            base_url=self.cluster.url, headers={"Authorization": f"Bearer {self.cluster.cluster.token}"}
        )
        self.cluster.install_crds([CRDS])

    def start_model_server(self, timeout: float = 30.0) -> None:
        self._create("namespaces", None, {"metadata": {"name": SYSTEM_NAMESPACE}})
        for kind, manifest in _model_server_manifests():
            self._create(kind, SYSTEM_NAMESPACE, manifest)
        wait_until(
            lambda: self.pod_ready(SYSTEM_NAMESPACE, MODEL_SERVER),
            timeout,
            "the model server pod to be Ready",
        )

    def start_operator(self, timeout: float = 30.0) -> None:
        command = [
            *(sys.executable, "-m", "agent_supervisor", "operator", "--all-namespaces"),
            *("--lease-namespace", SYSTEM_NAMESPACE, "--id", "demo-operator"),
            *("--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics_port)),
        ]
        self.operator = Keeper("operator", command, self.tool_env(), self.operator_log, self.operator_backoff)
        self.operator.start()
        wait_until(self._operator_healthy, timeout, "the operator to serve /healthz")

    def _operator_healthy(self) -> bool:
        if self.operator is not None and self.operator.restarts == 0:
            # An exit before it ever served is a setup error (no CRDs, ...): say so rather than retry it.
            process = self.operator.process
            if process is not None and process.poll() is not None:
                raise DemoError(f"the operator exited with {process.returncode}:\n{self.operator_log_tail()}")
        return self.operator_serving()

    def operator_serving(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/healthz"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def operator_log_tail(self, lines: int = 40) -> str:
        if not self.operator_log.exists():
            return ""
        return "\n".join(self.operator_log.read_text(errors="replace").splitlines()[-lines:])

    # --- stopping -----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the operator, then the cluster and its pods; safe to call more than once."""
        try:
            if self.operator is not None:
                self.operator.stop(timeout=_STOP_TIMEOUT)
        finally:
            if self._http is not None:
                self._http.close()
                self._http = None
            if self.cluster is not None:
                self.cluster.stop()
                self.cluster = None
            if self._temp is not None:
                self._temp.cleanup()
                self._temp = None

    def __enter__(self) -> DemoStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- using --------------------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self._running_cluster().kubeconfig_path

    def _running_cluster(self) -> LocalClusterThread:
        if self.cluster is None:
            raise DemoError("the local cluster is not running")
        return self.cluster

    def tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{KUBECTL.parent}{os.pathsep}{env.get('PATH', '')}"
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.state_dir / "kubecache")
        return env

    def kubectl(self, *args: str) -> str:
        """Run the real kubectl against the stack; its output (stdout, then stderr)."""
        if not KUBECTL.exists():
            raise DemoError(f"kubectl is missing at {KUBECTL}; run `make tools` first")
        result = subprocess.run(
            [str(KUBECTL), *args], capture_output=True, text=True, env=self.tool_env(), timeout=60
        )
        if result.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout + result.stderr

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise DemoError("the local cluster is not running")
        return self._http

    @staticmethod
    def _path(kind: str, namespace: str | None, name: str | None = None) -> str:
        base = GROUP_PATH if kind in ("agents", "agentsupervisors") else "/api/v1"
        parts = [base, *((f"namespaces/{namespace}",) if namespace else ()), kind, *((name,) if name else ())]
        return "/".join(parts)

    def _create(self, kind: str, namespace: str | None, body: dict[str, Any]) -> None:
        response = self._client().post(self._path(kind, namespace), json=body)
        if response.status_code not in (201, 409):
            raise DemoError(f"creating {kind} {body['metadata']['name']} failed: {response.text}")

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        response = self._client().get(self._path(kind, namespace, name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        response = self._client().get(self._path("pods", namespace))
        response.raise_for_status()
        return list(response.json()["items"])

    def pod_ready(self, namespace: str, name: str) -> bool:
        return pod_is_ready(self.get("pods", namespace, name) or {})

    def live_attempts(self, namespace: str) -> dict[str, int]:
        """Child name -> attempt of the pods that are running and not being deleted."""
        attempts: dict[str, int] = {}
        for pod in self.pods(namespace):
            labels = pod["metadata"].get("labels") or {}
            if CHILD_LABEL not in labels or not _live(pod):
                continue
            # A pod that restarted its agent in place runs a newer attempt than the one in its name.
            current = (pod["metadata"].get("annotations") or {}).get(CURRENT_ATTEMPT)
            attempts[labels[CHILD_LABEL]] = int(current or labels.get(ATTEMPT_LABEL, "0"))
        return attempts

    def kill_agent_process(self, namespace: str, pod: str) -> int:
        """SIGKILL the agent process that a pod's pod supervisor runs, as an agent crash would end it: the pod
        stays. Authenticates as the operator does (its control Secret). Returns the pid."""
        secret = self.get("secrets", SYSTEM_NAMESPACE, label_keys.CONTROL_SECRET) or {}
        token = base64.b64decode((secret.get("data") or {}).get(label_keys.CONTROL_TOKEN_KEY, "")).decode()
        address = ((self.get("pods", namespace, pod) or {}).get("status") or {}).get("podIP")
        if not token or not address:
            raise DemoError(f"pod {pod} has no pod supervisor the demo can reach (operator token or pod IP)")
        response = self._client().get(
            f"http://{address}:{DEFAULT_CONTROL_PORT}/v1/incarnation",
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        pid = response.json().get("pid")
        if not isinstance(pid, int):
            raise DemoError(f"pod {pod} runs no agent process right now")
        os.kill(pid, signal.SIGKILL)
        return pid

    def live_pods(self, namespace: str) -> dict[str, str]:
        """Name -> uid of the pods that are running and not being deleted."""
        live = (pod["metadata"] for pod in self.pods(namespace) if _live(pod))
        return {str(metadata["name"]): str(metadata["uid"]) for metadata in live}

    def live_pods_ready(self, namespace: str) -> bool:
        """Every running pod of the namespace (not being deleted) is Ready."""
        return all(pod_is_ready(pod) for pod in self.pods(namespace) if _live(pod))

    def pod_of_child(self, namespace: str, child: str) -> str:
        for pod in self.pods(namespace):
            labels = pod["metadata"].get("labels") or {}
            phase = (pod.get("status") or {}).get("phase")
            if labels.get(CHILD_LABEL) == child and phase == "Running":
                return str(pod["metadata"]["name"])
        raise DemoError(f"no running pod for child {child!r} in namespace {namespace}")

    def kill_pod(self, namespace: str, name: str) -> None:
        if not self._running_cluster().kill_pod(namespace, name, "SIGKILL"):
            raise DemoError(f"pod {name} has no running container to kill")


def _live(pod: dict[str, Any]) -> bool:
    """Running and not being deleted."""
    running = (pod.get("status") or {}).get("phase") == "Running"
    return running and not pod["metadata"].get("deletionTimestamp")
