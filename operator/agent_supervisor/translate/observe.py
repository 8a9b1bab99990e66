"""What a supervising resource sees of its children, and the core events that follow from it.

The reconcile is level-triggered: it never relies on having seen a particular watch event. It compares the
persisted state (which incarnation of each child should be starting, running or stopping) with the pods and
child supervisors that exist now, and reports what must have happened - for the current attempt only, so
leftovers of older incarnations and repeated observations change nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent_runtime.incarnation_protocol import IncarnationState
from agent_supervisor.supervision import (
    ChildExited,
    ChildKind,
    ChildLifecycle,
    ChildReady,
    ChildStartFailed,
    ChildState,
    Event,
    ExitReason,
    ShutdownReason,
    SupervisorLifecycle,
    SupervisorState,
)
from agent_supervisor.translate import incarnations, labels, pod_exits
from agent_supervisor.translate.pods import pod_is_ready

DELETED = "Deleted"


@dataclass(frozen=True, slots=True)
class ObservedPod:
    """One pod of an agent or worker child: the incarnation `attempt` (the one it hosts now, see
    incarnations.py; a worker's pod only ever hosts the attempt it was created for)."""

    attempt: int
    pod: Mapping[str, Any]
    ready: bool
    created_at: int | None
    """Unix seconds of the incarnation's start (metadata.creationTimestamp for a pod's first incarnation), the
    start of the start deadline."""
    hosted: incarnations.Hosted | None = None
    """What the pod's pod supervisor reports of the incarnation; None without a report or pod supervisor."""
    alive: bool = False
    """The container runs and the pod is not being deleted (incarnations.pod_alive)."""
    awaiting_report: bool = False
    """The pod runs a pod supervisor that has not reported yet (the operator just started, or the pod did): it
    may run a newer incarnation than its labels say, so nothing about its child is concluded until it does."""

    @property
    def template_hash(self) -> str:
        return str(((self.pod.get("metadata") or {}).get("labels") or {}).get(labels.TEMPLATE_HASH, ""))


@dataclass(frozen=True, slots=True)
class ObservedSupervisor:
    """A nested AgentSupervisor as its own status reports it."""

    incarnation: int | None
    lifecycle: SupervisorLifecycle | None
    shutdown_reason: ShutdownReason | None
    phase: str | None
    deleting: bool


@dataclass(frozen=True, slots=True)
class ObservedChild:
    """Everything that exists of one child: its pods by attempt (agent, worker) and its resource (nested
    supervisor).

    Both can exist for a while when a child's kind changed.
    """

    pods: Mapping[int, ObservedPod] = field(default_factory=dict)
    supervisor: ObservedSupervisor | None = None


def observe_pod(
    pod: Mapping[str, Any], report: IncarnationState | None = None, *, uncontrolled: bool = False
) -> ObservedPod | None:
    """The observation of a pod; None when it carries no attempt label (not one of ours).

    With its pod supervisor's `report`, the pod is seen as the incarnation it hosts now, which may be newer
    than the attempt it was created for; its readiness and start are that incarnation's. `uncontrolled`: its
    pod supervisor refuses the operator, so the pod is treated as one without.
    """
    meta = pod.get("metadata") or {}
    attempt = labels.attempt_of(meta.get("labels"))
    if attempt is None:
        return None
    deleting = bool(meta.get("deletionTimestamp"))
    created_at = pod_exits.timestamp(meta.get("creationTimestamp"))
    alive = incarnations.pod_alive(pod)
    hosting = incarnations.hosted_attempt(report)
    if hosting is not None and hosting[0] >= attempt:
        hosted_attempt, hosted = hosting
        return ObservedPod(
            attempt=hosted_attempt,
            pod=pod,
            ready=hosted.phase == "Ready" and alive,
            # A pod's first incarnation has its start deadline from the pod's creation (image pull included).
            created_at=hosted.started_at if hosted_attempt > attempt else created_at,
            hosted=hosted,
            alive=alive,
        )
    return ObservedPod(
        attempt=attempt,
        pod=pod,
        ready=pod_is_ready(pod) and not deleting,
        created_at=created_at,
        alive=alive,
        awaiting_report=alive and not uncontrolled and incarnations.control_port(pod) is not None,
    )


def observe_supervisor(resource: Mapping[str, Any]) -> ObservedSupervisor:
    """The observation of a nested AgentSupervisor from its status (see controller.persisted)."""
    status = resource.get("status") or {}
    supervision = status.get("supervision") or {}
    state = supervision.get("state") or {}
    incarnation = supervision.get("incarnation")
    return ObservedSupervisor(
        incarnation=incarnation if isinstance(incarnation, int) else None,
        lifecycle=_enum(SupervisorLifecycle, state.get("lifecycle")),
        shutdown_reason=_enum(ShutdownReason, state.get("shutdownReason")),
        phase=status.get("phase") if isinstance(status.get("phase"), str) else None,
        deleting=bool((resource.get("metadata") or {}).get("deletionTimestamp")),
    )


_E = TypeVar("_E", SupervisorLifecycle, ShutdownReason)


def _enum(kind: type[_E], value: Any) -> _E | None:
    try:
        return kind(value)
    except ValueError:
        return None


def observe(
    pods: Iterable[Mapping[str, Any]],
    supervisors: Iterable[Mapping[str, Any]] = (),
    reports: incarnations.Reports | None = None,
    uncontrolled: Collection[str] = (),
) -> dict[str, ObservedChild]:
    """Group the pods and child AgentSupervisors of one supervising resource by their child label.

    Pass only the objects of that resource: for an AgentSupervisor those labelled with it as supervisor, for
    a standalone Agent its own pods. `reports`: the pod supervisors' reports by pod uid; `uncontrolled`: uids
    of pods whose pod supervisor refuses the operator.
    """
    pods_by_child: dict[str, dict[int, ObservedPod]] = {}
    for pod in pods:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        observed = observe_pod(pod, (reports or {}).get(uid), uncontrolled=uid in uncontrolled)
        child = ((pod.get("metadata") or {}).get("labels") or {}).get(labels.CHILD)
        if observed is not None and child:
            pods_by_child.setdefault(child, {})[observed.attempt] = observed
    sups: dict[str, ObservedSupervisor] = {}
    for resource in supervisors:
        child = ((resource.get("metadata") or {}).get("labels") or {}).get(labels.CHILD)
        if child:
            sups[child] = observe_supervisor(resource)
    return {
        name: ObservedChild(pods=pods_by_child.get(name, {}), supervisor=sups.get(name))
        for name in pods_by_child.keys() | sups.keys()
    }


# --- Observation -> core events ----------------------------------------------------------------------------


def events_from_observation(
    state: SupervisorState,
    observed: Mapping[str, ObservedChild],
    now: int,
    *,
    start_deadline_seconds: int,
) -> list[Event]:
    """The core events that explain the difference between `state` and what exists, at `now`."""
    events: list[Event] = []
    for child in state.children:
        if child.lifecycle not in (ChildLifecycle.STARTING, ChildLifecycle.RUNNING, ChildLifecycle.STOPPING):
            continue
        seen = observed.get(child.name, ObservedChild())
        if child.attempt not in seen.pods and awaiting(seen, child.attempt):
            continue  # the pod that may run this attempt has not reported yet
        event = (
            _pod_event(child, seen.pods.get(child.attempt), now, start_deadline_seconds)
            if child.kind is not ChildKind.SUPERVISOR
            else _supervisor_event(child, seen.supervisor)
        )
        if event is not None:
            events.append(event)
    return events


def _exited(child: ChildState, outcome: pod_exits.PodOutcome) -> ChildExited:
    return ChildExited(child.name, child.attempt, outcome.reason, outcome.code, outcome.detail)


def _ended(pod: ObservedPod | None, stopping: bool, runtime: bool, now: int) -> pod_exits.PodOutcome | None:
    """How the incarnation ended: the pod's own end first (it takes every incarnation with it), else the exit
    its pod supervisor reports while the pod lives on. `runtime`: an agent's pod, not a worker's."""
    reported = None if pod is None or pod.hosted is None else pod.hosted.exit
    outcome = pod_exits.classify(
        None if pod is None else pod.pod,
        stopping=stopping,
        now=now,
        runtime=runtime,
        process_ended=reported is not None,
    )
    if outcome is None and reported is not None:
        return incarnations.exit_outcome(reported, stopping)
    return outcome


def _pod_event(child: ChildState, pod: ObservedPod | None, now: int, deadline: int) -> Event | None:
    """What the pod of an agent or worker incarnation says happened to it."""
    runtime = child.kind is ChildKind.AGENT
    if child.lifecycle is ChildLifecycle.STOPPING:
        outcome = _ended(pod, stopping=True, runtime=runtime, now=now)
        return None if outcome is None else _exited(child, outcome)
    if pod is None:
        if child.lifecycle is ChildLifecycle.STARTING:
            return None  # not created yet (or gone before it started): the pending StartChild creates it
        return _exited(child, pod_exits.pod_gone(stopping=False))
    outcome = _ended(pod, stopping=False, runtime=runtime, now=now)
    if outcome is not None:
        if outcome.kind is pod_exits.OutcomeKind.START_FAILED and child.lifecycle is ChildLifecycle.STARTING:
            return ChildStartFailed(child.name, child.attempt, outcome.detail)
        return _exited(child, outcome)
    if child.lifecycle is ChildLifecycle.RUNNING:
        return None
    if pod.ready:
        return ChildReady(child.name, child.attempt)
    if pod.created_at is not None and now >= pod.created_at + deadline:
        message = f"not Ready within {deadline}s of its creation"
        return ChildStartFailed(child.name, child.attempt, pod_exits.detail(pod_exits.START_TIMEOUT, message))
    return None


def _supervisor_event(child: ChildState, sup: ObservedSupervisor | None) -> Event | None:
    current = sup is not None and sup.incarnation == child.attempt
    if child.lifecycle is ChildLifecycle.STOPPING:
        if sup is None:
            return ChildExited(child.name, child.attempt, ExitReason.SHUTDOWN, None, pod_exits.SHUTDOWN)
        if current and sup.lifecycle is SupervisorLifecycle.TERMINATED:
            return ChildExited(child.name, child.attempt, ExitReason.SHUTDOWN, None, _shutdown_detail(sup))
        if not current and sup.lifecycle in (None, SupervisorLifecycle.IDLE, SupervisorLifecycle.TERMINATED):
            # It never took up this incarnation, and the stop annotation keeps it from doing so now.
            message = "stopped before it started"
            return ChildExited(
                child.name,
                child.attempt,
                ExitReason.SHUTDOWN,
                None,
                pod_exits.detail(pod_exits.SHUTDOWN, message),
            )
        return None
    if sup is None:
        if child.lifecycle is ChildLifecycle.STARTING:
            return None  # the pending StartChild creates it
        message = "the child AgentSupervisor was deleted"
        return ChildExited(
            child.name, child.attempt, ExitReason.ABNORMAL, None, pod_exits.detail(DELETED, message)
        )
    if sup.deleting:
        message = "the child AgentSupervisor is being deleted"
        return ChildExited(
            child.name, child.attempt, ExitReason.ABNORMAL, None, pod_exits.detail(DELETED, message)
        )
    if not current:
        return None  # it has not taken up this incarnation yet
    if sup.lifecycle is SupervisorLifecycle.RUNNING and child.lifecycle is ChildLifecycle.STARTING:
        return ChildReady(child.name, child.attempt)
    if sup.lifecycle is SupervisorLifecycle.TERMINATED:
        if (
            sup.shutdown_reason is ShutdownReason.FAILED_TO_START_CHILD
            and child.lifecycle is ChildLifecycle.STARTING
        ):
            return ChildStartFailed(child.name, child.attempt, _shutdown_detail(sup))
        return ChildExited(child.name, child.attempt, ExitReason.SHUTDOWN, None, _shutdown_detail(sup))
    return None


def _shutdown_detail(sup: ObservedSupervisor) -> str:
    reason = sup.shutdown_reason.value if sup.shutdown_reason is not None else "unknown"
    return pod_exits.detail(pod_exits.SHUTDOWN, f"the child supervisor exited ({reason})")


def next_start_deadline(
    state: SupervisorState, observed: Mapping[str, ObservedChild], *, start_deadline_seconds: int
) -> int | None:
    """The earliest second at which a starting agent or worker child misses its start deadline (for a
    requeue)."""
    deadlines = []
    for child in state.children:
        if child.lifecycle is not ChildLifecycle.STARTING or child.kind is ChildKind.SUPERVISOR:
            continue
        pod = observed.get(child.name, ObservedChild()).pods.get(child.attempt)
        if pod is not None and pod.created_at is not None and not pod.ready:
            deadlines.append(pod.created_at + start_deadline_seconds)
    return min(deadlines, default=None)


def next_deletion_settle(state: SupervisorState, observed: Mapping[str, ObservedChild]) -> int | None:
    """The earliest second at which a deleted pod of a running child, its container still reported running,
    is taken for ended anyway (pod_exits.DELETION_SETTLE_SECONDS; for a requeue)."""
    settles = []
    for child in state.children:
        if child.lifecycle not in (ChildLifecycle.STARTING, ChildLifecycle.RUNNING):
            continue
        pod = observed.get(child.name, ObservedChild()).pods.get(child.attempt)
        if pod is not None:
            settles.append(pod_exits.deletion_settles_at(pod.pod))
    return min((at for at in settles if at is not None), default=None)


def awaiting(seen: ObservedChild, attempt: int) -> bool:
    """A living pod of the child, created for an older attempt, awaits its pod supervisor's first report: it
    may run `attempt` already (started in place before an operator restart)."""
    return any(pod.awaiting_report for hosted, pod in seen.pods.items() if hosted < attempt)


def in_place_host(seen: ObservedChild, attempt: int) -> ObservedPod | None:
    """The pod where incarnation `attempt` can start in place: the newest living pod whose pod supervisor
    reports an older incarnation. None: a new pod must be created."""
    hosts = [
        pod for hosted, pod in seen.pods.items() if hosted < attempt and pod.hosted is not None and pod.alive
    ]
    return max(hosts, key=lambda pod: pod.attempt, default=None)


def host_pod_name(seen: ObservedChild | None, attempt: int) -> str | None:
    """The name of the pod that runs (or is about to run) incarnation `attempt`, when one exists."""
    if seen is None:
        return None
    pod = seen.pods.get(attempt) or in_place_host(seen, attempt)
    return None if pod is None else str((pod.pod.get("metadata") or {}).get("name") or "") or None


def leftover_pods(state: SupervisorState, observed: Mapping[str, ObservedChild]) -> list[Mapping[str, Any]]:
    """Pods of older incarnations (or of children the state no longer knows) that should be deleted: at once
    while they run, after the finished-pod TTL once they have finished (finished.py).

    Nor is a pod that hosts a newer attempt than the state records (`ahead_of_state`).
    A pod of the current attempt is never a leftover, whatever its phase: it is the child's record of how its
    incarnation ended until a new attempt replaces it - unless that attempt failed to start and its pod has
    not finished (an image that cannot be pulled, a container never Ready in time): a failed start leaves no
    process behind; a pod that ended before Ready stays as the record. Nor is the pod where the current
    attempt is about to start in place, or one that may run it already.
    """
    current = {child.name: child for child in state.children if child.kind is not ChildKind.SUPERVISOR}
    leftovers = []
    for name, seen in sorted(observed.items()):
        child = current.get(name)
        failed = child is not None and _failed_to_start(child)
        attempt = None if child is None or failed else child.attempt
        host = None if attempt is None or attempt in seen.pods else in_place_host(seen, attempt)
        leftovers += [
            pod.pod
            for hosted, pod in sorted(seen.pods.items())
            if hosted != attempt
            and pod is not host
            and not (pod.awaiting_report and hosted < (attempt or 0))
            and not (failed and child is not None and hosted == child.attempt and _finished(pod))
            and not (child is not None and ahead_of_state(child, hosted))
        ]
    return leftovers


def ahead_of_state(child: ChildState, hosted: int) -> bool:
    """A pod of `child` hosts an incarnation newer than the one the state records: one started in place by a
    chain of starts whose status write was lost with the operator (reconciler.py). Its pod is not a leftover:
    the replayed decisions either start that very attempt again (and find it running), or
    in_place.unrecorded stops it in place before anything else happens."""
    return child.lifecycle is not ChildLifecycle.REMOVED and hosted > child.attempt


def past_unrecorded(state: SupervisorState, observed: Mapping[str, ObservedChild]) -> SupervisorState:
    """`state` with its attempt counter past every incarnation a pod hosts ahead of it (`ahead_of_state`).

    Those that the replayed decisions did not start again are stopped (in_place.unrecorded); a later start
    of the same child must not reuse one of their numbers, or it would find that incarnation's exit and take
    it for its own.
    """
    ahead = [
        hosted
        for child in state.children
        for hosted in observed.get(child.name, ObservedChild()).pods
        if ahead_of_state(child, hosted)
    ]
    if not ahead or max(ahead) <= state.last_attempt:
        return state
    return state.model_copy(update={"last_attempt": max(ahead)})


def _failed_to_start(child: ChildState) -> bool:
    record = child.last_exit
    return (
        child.lifecycle not in (ChildLifecycle.STARTING, ChildLifecycle.RUNNING, ChildLifecycle.STOPPING)
        and record is not None
        and record.attempt == child.attempt
        and record.start_failed
    )


def _finished(pod: ObservedPod) -> bool:
    return (pod.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
