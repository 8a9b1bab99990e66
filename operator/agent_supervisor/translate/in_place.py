"""Where the core's StartChild and StopChild land when pods run a pod supervisor (docs/in-place-restarts.md).

Pure choices, made from the persisted state and what is observed; the executor carries them out and falls back
to the pod-level path (a new pod, deleting the pod) when a pod supervisor cannot take a call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agent_supervisor.supervision import (
    Action,
    ChildKind,
    ChildState,
    EmitEvent,
    StartChild,
    StopChild,
    SupervisorState,
    WaitUntil,
)
from agent_supervisor.translate import incarnations
from agent_supervisor.translate.observe import (
    ObservedChild,
    ObservedPod,
    ahead_of_state,
    awaiting,
    in_place_host,
)


class Awaiting:
    """Neither in place nor a new pod yet: a pod of the child has not reported what it runs (see
    observe.awaiting); its first report queues the next reconcile."""


AWAITING = Awaiting()


def start_host(
    observed: Mapping[str, ObservedChild], action: StartChild, kind: ChildKind = ChildKind.AGENT
) -> ObservedPod | Awaiting | None:
    """The pod to start `action`'s incarnation in as a new process; None: create its pod.

    Only an agent can restart in place: a worker's pod runs its own program and no pod supervisor, so a
    worker (`kind` WORKER) always gets a new pod, whatever its older pods claim.

    Only a pod made from the same template qualifies: a cold spec change (image, resources, env, ...) needs a
    new pod, as does a pod that is gone, being deleted, or whose container ended. A pod that may already run
    the incarnation (it has not reported since the operator started) is waited for, or the incarnation could
    run twice.
    """
    seen = observed.get(action.name, ObservedChild())
    if kind is not ChildKind.AGENT or action.attempt in seen.pods:
        return None
    if awaiting(seen, action.attempt):
        return AWAITING
    host = in_place_host(seen, action.attempt)
    return host if host is not None and host.template_hash == action.template_hash else None


def stop_host(
    state: SupervisorState, observed: Mapping[str, ObservedChild], action: StopChild
) -> ObservedPod | None:
    """The pod whose incarnation `action` stops in place, keeping the pod for the start the plan makes next
    (a group restart); None: stop it by deleting its pod, as when nothing will start in it again - always for
    a worker, which is never restarted in place."""
    child = state.find(action.name)
    if child is not None and child.kind is not ChildKind.AGENT:
        return None
    pod = observed.get(action.name, ObservedChild()).pods.get(action.attempt)
    if pod is None or pod.hosted is None or not pod.alive:
        return None
    return pod if incarnations.restart_planned(state, action.name) else None


def releases(state: SupervisorState, observed: Mapping[str, ObservedChild]) -> list[tuple[ObservedPod, int]]:
    """Pods (with the attempt) whose last incarnation exited for good: they end with its exit code, as a pod
    of one process would have, instead of idling in a pod supervisor nothing will call again."""
    found = []
    for child in state.children:
        if (
            child.kind is not ChildKind.AGENT
            or child.lifecycle not in incarnations.RELEASABLE
            or incarnations.restart_planned(state, child.name)
        ):
            continue
        pod = observed.get(child.name, ObservedChild()).pods.get(child.attempt)
        if pod is not None and pod.alive and pod.hosted is not None and pod.hosted.phase == "Exited":
            found.append((pod, child.attempt))
    return found


def unrecorded(
    state: SupervisorState, observed: Mapping[str, ObservedChild]
) -> list[tuple[ChildState, ObservedPod, int]]:
    """Living incarnations the state does not record: started in place by a chain of starts (reconciler.py)
    whose one status write was lost with the operator, and not started again by the replayed decisions
    (something else happened in between, e.g. an earlier child of the chain crashed).

    They are stopped before any other action is taken: OTP's order (a group is all stopped before it is
    started again, in order) holds only if nothing the state does not know of runs.
    """
    found = []
    for child in state.children:
        if child.kind is not ChildKind.AGENT:
            continue
        for hosted, pod in sorted(observed.get(child.name, ObservedChild()).pods.items()):
            if (
                ahead_of_state(child, hosted)
                and pod.alive
                and pod.hosted is not None
                and pod.hosted.phase in ("Starting", "Ready")
            ):
                found.append((child, pod, hosted))
    return found


def chained_starts(
    state: SupervisorState, observed: Mapping[str, ObservedChild], actions: Sequence[Action]
) -> list[tuple[StartChild, ObservedPod]] | None:
    """The starts of a chain round, each with its pod; None when the round does anything else.

    After a start in place is Ready, the reconciler decides again at once and goes on while every action is
    an agent's start in an existing pod (a group restart's next step, a supervisor's next child at start-up),
    without a status write in between; the status is written once at the end. That is safe because those
    starts only ever replay: an operator that dies in between leaves a state whose decisions launch the same
    children with the same supervisor-wide attempts, finding them running, and whatever it decides
    differently is stopped first (`unrecorded`). Anything else - a stop, a new pod, a removal, a release -
    is written before it is done, as always.
    """
    starts = []
    for action in actions:
        if isinstance(action, EmitEvent | WaitUntil):
            continue
        if not isinstance(action, StartChild):
            return None
        child = state.find(action.name)
        if child is None or child.kind is not ChildKind.AGENT:
            return None
        host = start_host(observed, action)
        if not isinstance(host, ObservedPod):
            return None
        starts.append((action, host))
    return starts or None
