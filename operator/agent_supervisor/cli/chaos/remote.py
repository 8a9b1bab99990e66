"""The soak on an existing cluster (`agent-supervisor chaos --kubeconfig`), with real clients only.

API access goes through `kubectl proxy` started with the user's kubeconfig and context: every credential
kubectl understands (tokens, client certificates, exec plugins and their refresh) works unchanged, and the
observer speaks plain HTTP to 127.0.0.1. Faults: SIGKILL of an incarnation through `kubectl exec` (the agent
image has Python; the pid is the one its pod supervisor reports, in the container's own pid namespace, which
exec shares), `kubectl delete pod`, and with `--operator-namespace` the operator's pods deleted with grace 0
(their Deployment replaces them). A real API server takes no injected faults, so those rows say n/a.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_supervisor.cli.chaos.ledger import FaultKind
from agent_supervisor.cli.chaos.observe import wait_until
from agent_supervisor.cli.chaos.target import KUBECTL, Kubectl
from agent_supervisor.translate.agent_pod import CONTAINER

API_FAULTS = (FaultKind.FAIL_REQUESTS, FaultKind.DROP_WATCHES, FaultKind.COMPACT_HISTORY)
NOT_ON_A_REAL_CLUSTER = "n/a on a real cluster"
NO_OPERATOR = "skipped: no --operator-namespace given"
# The chart's operator pods (selectorLabels in charts/agent-supervisor/templates/_helpers.tpl).
DEFAULT_OPERATOR_SELECTOR = "app.kubernetes.io/name=agent-supervisor,app.kubernetes.io/component=operator"
REPLACEMENT_TIMEOUT = 180.0
_SERVING = re.compile(r"Starting to serve on 127\.0\.0\.1:(\d+)")


class SetupError(Exception):
    """The cluster is not ready for the soak; the message says what to fix."""


def find_kubectl() -> str:
    """The user's kubectl (the one their kubeconfig is used with), else the checkout's pinned one."""
    found = shutil.which("kubectl")
    if found:
        return found
    if KUBECTL.exists():
        return str(KUBECTL)
    raise SetupError("kubectl is not on PATH: install it (the soak uses it for exec, delete and proxy)")


@dataclass
class KubectlProxy:
    """`kubectl proxy` on a free port of 127.0.0.1, for the observer's watches and the pod proxy."""

    kubectl: Kubectl
    log_path: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*self.kubectl.args(), "proxy", "--port=0", "--address=127.0.0.1"],
                env=self.kubectl.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        # Its first line names the port, or it exits (a bad kubeconfig or context) and the line is empty.
        match = _SERVING.search(self.process.stdout.readline())
        if match is None:
            self.stop()
            raise SetupError(f"kubectl proxy did not start: {self.log_path.read_text().strip()}")
        return f"http://127.0.0.1:{match.group(1)}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass
class DeploymentOperator:
    """The installed operator: its pods are deleted with grace 0 (a SIGKILL) and its Deployment starts new
    ones, under new names and so new identities, as the local soak restarts its operator process."""

    kubectl: Kubectl
    namespace: str
    selector: str
    seen: set[str] = field(default_factory=set)

    @property
    def generation(self) -> int:
        return len(self.seen)

    def _pods(self) -> list[dict[str, Any]]:
        result = self.kubectl.run("get", "pods", "-n", self.namespace, "-l", self.selector, "-o", "json")
        if result.returncode != 0:
            raise SetupError(f"cannot list the operator's pods: {result.stderr.strip()}")
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return [pod for pod in items if not pod["metadata"].get("deletionTimestamp")]

    def _ready(self) -> set[str]:
        return {pod["metadata"]["name"] for pod in self._pods() if _ready(pod)}

    def check(self) -> None:
        ready = self._ready()
        if not ready:
            raise SetupError(
                f"no Ready pod matches --operator-selector {self.selector!r} in namespace "
                f"{self.namespace!r}: give the namespace the chart was installed in (and "
                "--operator-selector if its labels differ)"
            )
        self.seen |= ready

    def kill_and_replace(self) -> str:
        old = sorted(pod["metadata"]["name"] for pod in self._pods())
        result = self.kubectl.run(
            *("delete", "pod", *old, "-n", self.namespace),
            *("--grace-period=0", "--force", "--wait=false"),
        )
        if result.returncode != 0:
            return f"deleting {', '.join(old)} failed: {result.stderr.strip()}"
        new: set[str] = set()

        def replaced() -> bool:
            new.update(self._ready() - set(old))
            return bool(new)

        if not wait_until(replaced, REPLACEMENT_TIMEOUT, interval=1.0):
            return f"{', '.join(old)} deleted; no new pod Ready within {REPLACEMENT_TIMEOUT:.0f}s"
        self.seen |= new
        return f"{', '.join(old)} deleted with grace 0; {', '.join(sorted(new))} Ready"


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass
class KubeconfigTarget:
    kubectl: Kubectl
    namespace: str
    url: str
    operator_control: DeploymentOperator | None = None
    local_processes: bool = False

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def api_token(self) -> str | None:
        return None  # kubectl proxy authenticates

    @property
    def operator(self) -> DeploymentOperator | None:
        return self.operator_control

    def unavailable(self) -> dict[FaultKind, str]:
        reasons = dict.fromkeys(API_FAULTS, NOT_ON_A_REAL_CLUSTER)
        if self.operator_control is None:
            reasons[FaultKind.KILL_OPERATOR] = NO_OPERATOR
        return reasons

    def kill_process(self, pod: str, pid: int) -> tuple[bool, str]:
        script = f"import os, signal; os.kill({int(pid)}, signal.SIGKILL)"
        result = self.kubectl.run(
            "exec", pod, "-n", self.namespace, "-c", CONTAINER, "--", "python", "-c", script
        )
        if result.returncode == 0:
            return True, f"pid {pid} in pod {pod}, by kubectl exec"
        if "ProcessLookupError" in result.stderr:
            return False, f"pid {pid} in pod {pod}: no such process"
        return False, f"pid {pid} in pod {pod}: kubectl exec failed: {result.stderr.strip()[-400:]}"

    def delete_pod(self, pod: str) -> tuple[bool, str]:
        return self.kubectl.delete_pod(pod, self.namespace)

    def fail_next(self, method: str, path: str, status: int, count: int) -> None:
        raise NotImplementedError(NOT_ON_A_REAL_CLUSTER)

    def drop_watches(self) -> int:
        raise NotImplementedError(NOT_ON_A_REAL_CLUSTER)

    def compact_history(self) -> str:
        raise NotImplementedError(NOT_ON_A_REAL_CLUSTER)
