"""Where the soak runs, behind one small interface the injector (soak.py) and the observer use.

`LocalTarget`: the soak's own local cluster and operator process (`make chaos`). `KubeconfigTarget`
(remote.py): an existing cluster reached through a kubeconfig, the operator already installed. The soak loop
is the same; a target says which faults it can inject and how it reaches the pod supervisors.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent_supervisor.cli.chaos.ledger import FaultKind

REPO = Path(__file__).resolve().parents[4]
KUBECTL = REPO / ".tools" / "bin" / "kubectl"


class OperatorControl(Protocol):
    """The operator under test, which the soak kills and which comes back under a new identity."""

    @property
    def generation(self) -> int:
        """How many operator processes (or pods) the soak has seen: the first and each replacement."""
        ...

    def kill_and_replace(self) -> str:
        """SIGKILL the operator and return once its successor runs; a detail line for the ledger."""
        ...


class Target(Protocol):
    namespace: str

    @property
    def api_url(self) -> str:
        """Plain HTTP base URL of the API server for the observer (the local server or a kubectl proxy)."""
        ...

    @property
    def api_token(self) -> str | None: ...

    @property
    def local_processes(self) -> bool:
        """Pods are local processes: the observer may check an old incarnation's pid itself, and reaches
        the pod supervisors at their pod addresses. Otherwise it goes through the API server's pod proxy."""
        ...

    @property
    def operator(self) -> OperatorControl | None:
        """None: operator kills are not possible here (`unavailable` says why)."""
        ...

    def unavailable(self) -> dict[FaultKind, str]:
        """Fault kinds this target cannot inject, with the reason the table shows in their rows."""
        ...

    def kill_process(self, pod: str, pid: int) -> tuple[bool, str]:
        """SIGKILL the process `pid` of `pod`'s agent container: (landed, detail). Not landed when the
        process was gone already."""
        ...

    def delete_pod(self, pod: str) -> tuple[bool, str]: ...

    def fail_next(self, method: str, path: str, status: int, count: int) -> None: ...

    def drop_watches(self) -> int: ...

    def compact_history(self) -> str: ...


@dataclass
class Kubectl:
    """The real kubectl with the soak's kubeconfig and context."""

    binary: str
    kubeconfig: Path
    context: str | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def args(self) -> list[str]:
        context = ["--context", self.context] if self.context else []
        return [self.binary, "--kubeconfig", str(self.kubeconfig), *context]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.args(), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def delete_pod(self, pod: str, namespace: str) -> tuple[bool, str]:
        """`kubectl delete pod` with the pod's own grace, not waiting for it to go."""
        result = self.run("delete", "pod", pod, "-n", namespace, "--wait=false")
        landed = result.returncode == 0
        return landed, f"pod {pod}" + ("" if landed else f": {result.stderr.strip()}")


class LocalCluster(Protocol):
    """What LocalTarget needs of localcluster's LocalClusterThread (soak.py passes one in)."""

    @property
    def url(self) -> str: ...

    def fail_next(self, method: str, path_regex: str, status: int = 500, count: int = 1) -> None: ...

    def drop_watches(self) -> int: ...

    def compact_history(self) -> int: ...


@dataclass
class LocalTarget:
    cluster: LocalCluster
    token: str | None
    kubectl: Kubectl
    operator_process: OperatorControl
    namespace: str = "chaos"
    local_processes: bool = True

    @property
    def api_url(self) -> str:
        return self.cluster.url

    @property
    def api_token(self) -> str | None:
        return self.token

    @property
    def operator(self) -> OperatorControl | None:
        return self.operator_process

    def unavailable(self) -> dict[FaultKind, str]:
        return {}

    def kill_process(self, pod: str, pid: int) -> tuple[bool, str]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return False, f"pid {pid} in pod {pod}: no such process"
        return True, f"pid {pid} in pod {pod}"

    def delete_pod(self, pod: str) -> tuple[bool, str]:
        return self.kubectl.delete_pod(pod, self.namespace)

    def fail_next(self, method: str, path: str, status: int, count: int) -> None:
        self.cluster.fail_next(method, path, status, count)

    def drop_watches(self) -> int:
        return self.cluster.drop_watches()

    def compact_history(self) -> str:
        return str(self.cluster.compact_history())
