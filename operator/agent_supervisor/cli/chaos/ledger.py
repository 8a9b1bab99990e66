"""What the soak records: the ledger of injected faults and the observed history. Plain data, no I/O.

Times are wall-clock seconds (Unix time, fractional). The injector stamps a fault just before it acts; the
pod supervisors stamp incarnations' starts, readiness and exits on the same clock (the soak runs on the
machine the local cluster's pods run on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    KILL_PROCESS = "kill-process"
    DELETE_POD = "delete-pod"
    KILL_OPERATOR = "kill-operator"
    FAIL_REQUESTS = "fail-requests"
    DROP_WATCHES = "drop-watches"
    COMPACT_HISTORY = "compact-history"


CRASHES = frozenset({FaultKind.KILL_PROCESS, FaultKind.DELETE_POD})
"""Faults that end an agent's incarnation abnormally, so OTP restarts for them; the others restart nothing."""

DESCRIPTIONS = {
    FaultKind.KILL_PROCESS: "SIGKILL of an agent process",
    FaultKind.DELETE_POD: "kubectl delete pod",
    FaultKind.KILL_OPERATOR: "operator SIGKILL + restart",
    FaultKind.FAIL_REQUESTS: "failed API requests",
    FaultKind.DROP_WATCHES: "dropped watches",
    FaultKind.COMPACT_HISTORY: "watch history compaction",
}


@dataclass(frozen=True)
class Fault:
    """One injected fault. A crash fault names the agent and the incarnation (attempt) it ended; `landed`
    is false when that incarnation was already gone when the fault arrived (nothing was ended)."""

    seq: int
    at: float
    kind: FaultKind
    target: str | None = None
    attempt: int | None = None
    landed: bool = True
    detail: str = ""
    acked_at: float | None = None
    """For a crash: when the injector saw the operator count it (its restart counter in status moved); the
    operator decided about it no later than that. None: never seen counted."""

    @property
    def crash(self) -> bool:
        return self.kind in CRASHES and self.landed and self.target is not None


@dataclass(frozen=True)
class Incarnation:
    """One incarnation of an agent, as its pod supervisor (or, failing that, the pod) reported it.

    `started`, `ready` and `ended` are the pod supervisor's own timestamps; `ended` is None when its exit was
    never reported (the pod was deleted with it), `started` when its pod supervisor was never reached (then
    `created`, its pod's creation second, bounds it). `alive_until` is a time it was still running: when the
    observer found its process alive as a newer incarnation started, or the second its container's end was
    recorded in (Kubernetes keeps whole seconds).
    """

    agent: str
    attempt: int
    pod: str
    started: float | None
    ready: float | None = None
    ended: float | None = None
    alive_until: float | None = None
    created: float | None = None
    pod_ready: float | None = None
    """For a pod's first incarnation: the second (rounded down) its pod's Ready condition turned True. The
    operator may act on that (the kubelet's probe) before the pod supervisor reports readiness."""
    seen: float | None = None
    """For a pod's first incarnation: when the observer first saw its pod, so a time by which the operator
    had decided to start it (the creation time has whole seconds only)."""

    def earliest_ready(self) -> float | None:
        """No later than the first moment anyone could see it Ready."""
        times = [t for t in (self.ready, self.pod_ready) if t is not None]
        return min(times) if times else None

    def earliest_start(self) -> float:
        """No later than its start (for a gap that must contain its cause: the widest one)."""
        if self.started is not None:
            return self.started
        return self.created if self.created is not None else float("-inf")

    def latest_start(self) -> float:
        """No earlier than its start."""
        if self.started is not None:
            return self.started
        # The creation time is whole seconds, rounded down: the pod may have been created up to 1 s later.
        return self.created + 1 if self.created is not None else float("inf")

    def decided_by(self) -> float:
        """A time by which the operator had decided to start it: its start, or for the first incarnation of a
        pod its pod's creation (the end of its whole second, or when the observer saw the pod): the process
        may start seconds later on a loaded machine, but the decision was the pod's creation."""
        bounds = [self.started, None if self.created is None else self.created + 1, self.seen]
        return min((t for t in bounds if t is not None), default=float("inf"))

    def known_alive_until(self) -> float | None:
        times = [t for t in (self.ended, self.alive_until, self.ready, self.started) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True)
class ChildReading:
    """One status reading of a supervisor's child: `status.children[]` of its AgentSupervisor."""

    supervisor: str
    child: str
    attempt: int | None
    restarts: int


@dataclass(frozen=True)
class AgentReading:
    """One status reading of an Agent: the incarnation its status names."""

    agent: str
    attempt: int | None


@dataclass(frozen=True)
class FinalState:
    """Read once the soak stopped injecting and the tree settled (or the wait for it gave up)."""

    settled: bool
    child_restarts: dict[tuple[str, str], int]
    total_restarts: dict[str, int]
    live: dict[str, list[int]]
    """Agent -> attempts of its incarnations that still run."""


@dataclass(frozen=True)
class History:
    incarnations: list[Incarnation]
    child_readings: list[ChildReading] = field(default_factory=list)
    agent_readings: list[AgentReading] = field(default_factory=list)
    final: FinalState | None = None


@dataclass(frozen=True)
class Ledger:
    faults: list[Fault]
    settled: list[float] = field(default_factory=list)
    """Times at which the injector saw the whole tree settled (every agent Ready, nothing restarting)."""
