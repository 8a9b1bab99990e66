"""In-place restarts: a pod supervisor's report in the reconcile's terms (docs/in-place-restarts.md).

A pod created for attempt K may go on to host attempts K+1, K+2, ... as fresh processes started by its pod
supervisor. Its labels keep K; the pod supervisor's report (agent_runtime.incarnation_protocol) says which
incarnation it runs now and how the last ones ended. These functions are pure: the watch that keeps the
reports is controller/incarnation_watch.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from agent_runtime import exitcodes
from agent_runtime.incarnation_protocol import IncarnationExit, IncarnationState
from agent_supervisor.supervision import ChildLifecycle, ExitReason, SupervisorState
from agent_supervisor.translate import labels, pod_exits
from agent_supervisor.translate.pod_exits import OutcomeKind, PodOutcome

Reports = Mapping[str, IncarnationState]
"""The pod supervisors' reports by pod uid."""

CURRENT_ATTEMPT: Final = f"{labels.PREFIX}/current-attempt"
"""Pod annotation: the incarnation its pod supervisor was last told to run (written after an in-place
start, for people: the operator goes by the pod supervisor's report)."""
CONTROL_PORT: Final = f"{labels.PREFIX}/control-port"
"""Pod annotation: the pod runs a pod supervisor with its control API on this port (in-place restarts)."""


@dataclass(frozen=True, slots=True)
class Hosted:
    """One incarnation as the pod supervisor hosting it reports it."""

    phase: str
    started_at: int | None
    exit: IncarnationExit | None


def control_port(pod: Mapping[str, Any]) -> int | None:
    """The pod supervisor's control port, when the pod was created with one. Never for a worker's pod: it runs
    the worker's own program and no pod supervisor, whatever its annotations say, so neither the incarnation
    watch nor the observation ever takes it for a pod that restarts in place."""
    meta = pod.get("metadata") or {}
    if labels.WORKER in (meta.get("labels") or {}):
        return None
    value = (meta.get("annotations") or {}).get(CONTROL_PORT)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def hosted_attempt(report: IncarnationState | None) -> tuple[int, Hosted] | None:
    """The attempt a pod hosts now by its pod supervisor's report, and how that incarnation is doing."""
    if report is None:
        return None
    return report.attempt, Hosted(
        phase=report.phase,
        started_at=pod_exits.timestamp(report.started_at),
        exit=report.exit_of(report.attempt) if report.phase == "Exited" else None,
    )


def pod_alive(pod: Mapping[str, Any]) -> bool:
    """The pod's container still runs and nobody is deleting the pod: its pod supervisor can take a start."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    statuses = status.get("containerStatuses") or []
    state = (statuses[0].get("state") or {}) if statuses else {}
    return "running" in state


def exit_outcome(done: IncarnationExit, stopping: bool) -> PodOutcome:
    """How an incarnation that ended inside a living pod ended, as `pod_exits.classify` says it of a pod."""
    message = pod_exits.cut(done.message)
    if stopping:
        stopped, code = "stopped by its supervisor", done.exit_code
        return PodOutcome(OutcomeKind.EXITED, ExitReason.SHUTDOWN, pod_exits.SHUTDOWN, stopped, code)
    if done.terminating:
        # Stopped by its pod's SIGTERM, which the operator did not send: the pod is being deleted (perhaps
        # forcibly, and the pod watch has not told yet). A drained exit 0 is not the agent finishing.
        return pod_exits.deleted_pod_outcome(done.exit_code)
    if done.exit_code == exitcodes.EXIT_OK:
        return PodOutcome(OutcomeKind.EXITED, ExitReason.NORMAL, "Completed", message, done.exit_code)
    cause = exitcodes.REASONS.get(done.exit_code) or pod_exits.camel(done.reason) or "Error"
    if not message:
        message = (
            f"killed by signal {done.signal}" if done.signal is not None else f"exit code {done.exit_code}"
        )
    reason = pod_exits.runtime_exit_reason(done.exit_code)
    return PodOutcome(OutcomeKind.EXITED, reason, cause, message, done.exit_code)


def restart_planned(state: SupervisorState, child: str) -> bool:
    """A step of the current plan starts `child` again: stopping it in place keeps its pod for that start."""
    plan = state.plan
    return plan is not None and any(step.op == "start" and step.child == child for step in plan.steps)


RELEASABLE: Final = frozenset({ChildLifecycle.EXITED, ChildLifecycle.REMOVED, ChildLifecycle.STOPPED})
"""Lifecycles in which a child's exited incarnation is not followed by another (unless a plan says so)."""


def settled(report: IncarnationState | None, attempt: int) -> bool:
    """The pod supervisor's report shows incarnation `attempt` past starting: Ready, stopping, exited, or
    replaced by a newer one. A start in place that chains the next one waits for this (reconciler.py)."""
    if report is None or report.attempt < attempt:
        return False
    return report.attempt > attempt or report.phase != "Starting"
