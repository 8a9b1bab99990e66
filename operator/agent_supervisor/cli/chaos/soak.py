"""The soak: a real operator and the tree, then faults at random until the time is up.

Where it runs (its own local cluster, or an existing one through a kubeconfig) is a `Target` (target.py): the
faults go through it, and the kinds a target cannot inject are skipped.

Faults come one at a time. A crash fault (SIGKILL of an agent's process, or `kubectl delete pod`) is aimed
at an incarnation that is Ready and that its supervisor has seen Ready, so OTP's answer to it does not depend
on the order in which the operator hears of things: it is a counted crash. Before the next crash fault the
injector waits until the operator has counted this one (the restart counter in status moved). Then it
either waits for the tree to settle, or (overlap) strikes again at once: at an incarnation started after
the restart began, or at the operator, or at the API server, while the restart is under way.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx

from agent_supervisor.cli.chaos.ledger import CRASHES, Fault, FaultKind, FinalState, Ledger
from agent_supervisor.cli.chaos.observe import Observer, wait_until
from agent_supervisor.cli.chaos.target import REPO, Target
from agent_supervisor.cli.chaos.tree import SupervisorNode, leaves, restart_set, siblings, supervisors
from localcluster.cluster import LocalCluster, LocalClusterThread

T = TypeVar("T")
NAMESPACE = "chaos"
SETTLE_TIMEOUT = 120.0
ACK_TIMEOUT = 60.0
AGENT_TEMPLATE: dict[str, Any] = {
    # A service agent of the real runtime: it idles, so the endpoint is never called.
    "model": {"endpoint": "http://127.0.0.1:9/v1", "name": "idle"},
    "systemPrompt": "You are an agent of the chaos soak.",
}
# (method, path regex, status, count) of the request failures, all on requests the operator makes.
REQUEST_FAULTS = (
    ("PATCH", r"/agentsupervisors/[^/]+/status", 500, 2),
    ("PATCH", r"/agents/[^/]+/status", 500, 2),
    ("POST", rf"/namespaces/{NAMESPACE}/pods(\?|$)", 500, 2),
    ("PATCH", r"/agentsupervisors/[^/]+(\?|$)", 503, 1),
    ("GET", r"/agentsupervisors\?.*watch=", 500, 2),
    ("GET", r"/pods\?.*watch=", 500, 2),
)


@dataclass
class Settings:
    duration: float
    seed: int
    operator_every: float = 60.0
    overlap: float = 0.35
    api_every: float = 15.0


@dataclass
class OperatorProcess:
    """The operator as a real process, SIGKILLed and restarted under a new identity, as a new pod would be."""

    env: dict[str, str]
    log_path: Path
    generation: int = 0
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0

    def start(self) -> None:
        self.generation += 1
        self.metrics_port = _free_port()
        command = [
            *(sys.executable, "-m", "agent_supervisor", "operator", "--namespace", NAMESPACE),
            *("--lease-namespace", NAMESPACE, "--id", f"chaos-operator-{self.generation}"),
            *("--metrics-host", "127.0.0.1", "--metrics-port", str(self.metrics_port)),
            # A killed leader's Lease expires in 3 s, so its successor takes over quickly.
            *("--lease-duration", "3", "--lease-renew", "1"),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        if not wait_until(self._healthy, 60):
            raise RuntimeError(f"the operator did not serve /healthz; see {self.log_path}")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.process.returncode}; see {self.log_path}")
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/healthz"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)

    def kill_and_replace(self) -> str:
        killed = self.generation
        self.kill()
        self.start()
        return f"operator {killed} SIGKILLed, operator {self.generation} started"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Soak:
    tree: SupervisorNode
    settings: Settings
    target: Target
    observer: Observer
    say: Callable[[str], None]
    rng: random.Random = field(init=False)
    faults: list[Fault] = field(default_factory=list)
    settled_marks: list[float] = field(default_factory=list)
    _bags: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.settings.seed)
        self.leaves = leaves(self.tree)
        self.parent = {leaf.agent: (leaf.supervisor, leaf.child) for leaf in self.leaves}

    # --- state -----------------------------------------------------------------------------------------

    def settled(self) -> bool:
        """Every supervisor Running with all children Ready; every agent runs exactly the incarnation its
        status and its supervisor's status name, and its pod supervisor reports it Ready."""
        for name, children in supervisors(self.tree).items():
            status = self.observer.supervisor_status(name)
            if (
                status.get("phase") != "Running"
                or status.get("readyChildren") != f"{len(children)}/{len(children)}"
            ):
                return False
        views = self.observer.views()
        for leaf in self.leaves:
            view = views.get(leaf.agent)
            child = self.observer.child_status(leaf.supervisor, leaf.child)
            agent = self.observer.agent_status(leaf.agent)
            if view is None or view.phase != "Ready" or not child.get("ready"):
                return False
            if not view.attempt == child.get("attempt") == agent.get("attempt"):
                return False
        return True

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        if wait_until(self.settled, timeout):
            self.settled_marks.append(time.time())
            return True
        return False

    def _condemned(self, agent: str, started: float | None) -> bool:
        """An incarnation some counted crash already requires to be replaced: its supervisor may be about to
        stop it, and whether its end counts would depend on timing. Below a nested supervisor that a crash
        restarts, even an incarnation started after the crash is condemned until the tree settles: the
        nested supervisor may have started it for a restart of its own before its parent stopped it."""
        last_settled = self.settled_marks[-1] if self.settled_marks else float("-inf")
        for fault in self.faults:
            if not fault.crash or agent not in restart_set(self.tree, str(fault.target)):
                continue
            # Started before the operator was seen to count the crash: maybe for an earlier plan, which the
            # crash's own plan will stop.
            if started is None or fault.acked_at is None or started < fault.acked_at:
                return True
            if agent not in siblings(self.tree, str(fault.target)) and fault.at > last_settled:
                return True
        return False

    def targets(self) -> list[tuple[str, int, int, str]]:
        """(agent, attempt, pid, pod) of incarnations whose crash OTP counts for certain."""
        found = []
        for agent, view in self.observer.views().items():
            supervisor, child = self.parent[agent]
            status = self.observer.child_status(supervisor, child)
            incarnation = self.observer.incarnation(agent, view.attempt)
            if view.phase != "Ready" or view.pid is None or incarnation is None:
                continue
            if not status.get("ready") or status.get("attempt") != view.attempt:
                continue
            if self._condemned(agent, incarnation.started):
                continue
            found.append((agent, view.attempt, view.pid, view.pod))
        return sorted(found)

    # --- faults ----------------------------------------------------------------------------------------

    def _draw(self, name: str, choices: Sequence[T]) -> T:
        """Each choice once, in a random order, then again: even a short soak injects every kind of fault."""
        bag = self._bags.setdefault(name, [])
        if not bag:
            bag.extend(choices)
            self.rng.shuffle(bag)
        return cast(T, bag.pop())

    def _record(self, kind: FaultKind, **fields: Any) -> Fault:
        fault = Fault(seq=len(self.faults) + 1, at=time.time(), kind=kind, **fields)
        self.faults.append(fault)
        return fault

    def crash(self) -> Fault | None:
        """Kill one targetable incarnation (its process or its pod); wait until the operator counts it."""
        targets = self.targets()
        if not targets:
            return None
        agent, attempt, pid, pod = self.rng.choice(targets)
        supervisor, child = self.parent[agent]
        before = int(self.observer.child_status(supervisor, child).get("restarts") or 0)
        kind = self._draw("crash", [FaultKind.KILL_PROCESS, FaultKind.DELETE_POD])
        at = time.time()
        if kind is FaultKind.KILL_PROCESS:
            landed, detail = self.target.kill_process(pod, pid)
        else:
            landed, detail = self.target.delete_pod(pod)
        fault = Fault(len(self.faults) + 1, at, kind, agent, attempt, landed, detail)
        self.faults.append(fault)
        self.say(f"#{fault.seq} {kind} {agent} attempt {attempt} ({detail})")
        if landed:
            acked = wait_until(
                lambda: int(self.observer.child_status(supervisor, child).get("restarts") or 0) > before,
                ACK_TIMEOUT,
            )
            if acked:
                fault = replace(fault, acked_at=time.time())
                self.faults[-1] = fault
            else:
                self.say(f"   the operator did not count #{fault.seq} within {ACK_TIMEOUT:.0f}s")
        return fault

    def kill_operator(self) -> None:
        operator = self.target.operator
        if operator is None:
            return
        fault = self._record(FaultKind.KILL_OPERATOR, detail=f"generation {operator.generation}")
        self.say(f"#{fault.seq} {fault.kind}: killing operator {operator.generation}")
        fault = _with_detail(fault, operator.kill_and_replace())
        self.faults[fault.seq - 1] = fault
        self.say(f"   {fault.detail}")

    def api_fault(self) -> None:
        possible = [FaultKind.FAIL_REQUESTS, FaultKind.DROP_WATCHES, FaultKind.COMPACT_HISTORY]
        possible = [k for k in possible if k not in self.target.unavailable()]
        if not possible:
            return
        kind = self._draw("api", possible)
        if kind is FaultKind.FAIL_REQUESTS:
            method, path, status, count = self._draw("request", REQUEST_FAULTS)
            fault = self._record(kind, detail=f"next {count} {method} {path} -> {status}")
            self.target.fail_next(method, path, status, count)
        elif kind is FaultKind.DROP_WATCHES:
            fault = self._record(kind)
            fault = _with_detail(fault, f"{self.target.drop_watches()} watches dropped")
        else:
            fault = self._record(kind)
            # Compaction matters to watches that reconnect: drop them, so they meet 410 Gone.
            version = self.target.compact_history()
            fault = _with_detail(
                fault, f"compacted to {version}, {self.target.drop_watches()} watches dropped"
            )
        self.faults[-1] = fault
        self.say(f"#{fault.seq} {fault.kind}: {fault.detail}")

    # --- the run ---------------------------------------------------------------------------------------

    def run(self) -> None:
        deadline = time.monotonic() + self.settings.duration
        due = {
            "operator": self._next(self.settings.operator_every),
            "api": self._next(self.settings.api_every),
        }
        while time.monotonic() < deadline:
            if not self.wait_settled():
                self.say("the tree did not settle; going on with the faults")
            fault = self.crash()
            # While the restart runs (the operator has counted the crash, its plan is under way): the faults
            # that are due, and with --overlap chance another crash.
            while fault is not None and time.monotonic() < deadline:
                self._due_faults(due)
                if self.rng.random() >= self.settings.overlap:
                    break
                fault = self.crash()
            self._due_faults(due)

    def _next(self, every: float) -> float:
        return time.monotonic() + self.rng.uniform(0.5, 1.5) * every

    def _due_faults(self, due: dict[str, float]) -> None:
        if time.monotonic() >= due["operator"]:
            self.kill_operator()
            due["operator"] = self._next(self.settings.operator_every)
        if time.monotonic() >= due["api"]:
            self.api_fault()
            due["api"] = self._next(self.settings.api_every)

    def final_state(self) -> FinalState:
        settled = self.wait_settled()
        restarts: dict[tuple[str, str], int] = {}
        totals: dict[str, int] = {}
        for name in supervisors(self.tree):
            status = self.observer.supervisor_status(name)
            totals[name] = int(status.get("totalRestarts") or 0)
            for child in status.get("children") or []:
                restarts[(name, str(child["name"]))] = int(child.get("restarts") or 0)
        live = self.observer.live_attempts([leaf.agent for leaf in self.leaves])
        return FinalState(settled, restarts, totals, live)

    def ledger(self) -> Ledger:
        return Ledger(list(self.faults), list(self.settled_marks))

    def crash_count(self) -> int:
        return sum(1 for f in self.faults if f.kind in CRASHES)


def _with_detail(fault: Fault, detail: str) -> Fault:
    return replace(fault, detail=detail)


def start_cluster(state_dir: Path) -> LocalClusterThread:
    cluster = LocalCluster.in_thread(state_dir / "cluster", shutdown_grace=2.0).start()
    cluster.install_crds([REPO / "crds"])
    return cluster
