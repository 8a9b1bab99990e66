"""Observation -> core events: the current attempt only, start deadlines, nested supervisors."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from agent_supervisor.supervision import (
    ChildExited,
    ChildKind,
    ChildLifecycle,
    ChildReady,
    ChildSpec,
    ChildStartFailed,
    ChildState,
    Event,
    ExitReason,
    SpecChanged,
    Start,
    Stop,
    Strategy,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    decide,
)
from agent_supervisor.translate import labels
from agent_supervisor.translate.observe import (
    ObservedChild,
    events_from_observation,
    leftover_pods,
    next_start_deadline,
    observe,
    observe_pod,
)
from agent_supervisor.translate.step import wake_at

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, the factory pods' creationTimestamp
DEADLINE = 60
SPEC = SupervisorSpec(
    strategy=Strategy.ONE_FOR_ONE,
    children=(ChildSpec(name="a", template_hash="h1"), ChildSpec(name="b", template_hash="h2")),
)


def seen(
    state: SupervisorState,
    pods: Iterable[dict[str, Any]] = (),
    supervisors: Iterable[dict[str, Any]] = (),
    now: int = T0,
) -> list[Event]:
    return events_from_observation(state, observe(pods, supervisors), now, start_deadline_seconds=DEADLINE)


def apply(
    spec: SupervisorSpec, state: SupervisorState, events: list[Event], now: int = T0
) -> SupervisorState:
    for event in events:
        state = decide(spec, state, event, now).state
    return state


def started(spec: SupervisorSpec = SPEC) -> SupervisorState:
    """A supervisor that has started child a (attempt 1) and waits for it to be Ready."""
    return decide(spec, SupervisorState.initial(spec), Start(), T0).state


def running(make_pod: Callable[..., dict[str, Any]], spec: SupervisorSpec = SPEC) -> SupervisorState:
    state = started(spec)
    state = apply(spec, state, seen(state, [make_pod("a", 1, ready=True)]))
    return apply(spec, state, seen(state, [make_pod("a", 1, ready=True), make_pod("b", 2, ready=True)]))


def child(state: SupervisorState, name: str) -> ChildState:
    found = state.find(name)
    assert found is not None
    return found


def test_ready_pod_of_the_current_attempt_is_child_ready(make_pod):
    state = started()
    assert seen(state, [make_pod("a", 1, ready=True)]) == [ChildReady("a", 1)]


def test_whole_start_up_is_driven_by_observation(make_pod):
    state = running(make_pod)
    assert state.lifecycle is SupervisorLifecycle.RUNNING
    assert [(c.name, c.lifecycle, c.attempt) for c in state.children] == [
        ("a", ChildLifecycle.RUNNING, 1),
        ("b", ChildLifecycle.RUNNING, 2),
    ]


def test_nothing_is_reported_twice_or_for_settled_children(make_pod):
    state = running(make_pod)
    pods = [make_pod("a", 1, ready=True), make_pod("b", 2, ready=True)]
    assert seen(state, pods) == []


def test_pods_of_older_attempts_are_ignored(make_pod):
    state = running(make_pod)
    stale = [
        make_pod("a", 0, phase="Failed", terminated={"exitCode": 1, "reason": "Error"}),
        make_pod("a", 1, ready=True),
        make_pod("b", 2, ready=True),
    ]
    assert seen(state, stale) == []


def test_a_crash_of_a_running_child_is_an_abnormal_exit_with_code_and_cause(make_pod):
    state = running(make_pod)
    crashed = make_pod(
        "a",
        1,
        phase="Failed",
        terminated={"exitCode": 42, "reason": "Error", "message": '{"message": "on purpose"}'},
    )
    (event,) = seen(state, [crashed, make_pod("b", 2, ready=True)])
    assert event == ChildExited("a", 1, ExitReason.ABNORMAL, 42, "CrashRequested: on purpose")
    after = apply(SPEC, state, [event])
    assert child(after, "a").lifecycle is ChildLifecycle.STARTING and child(after, "a").attempt == 3


def test_a_running_childs_missing_pod_counts_as_deleted(make_pod):
    state = running(make_pod)
    (event,) = seen(state, [make_pod("b", 2, ready=True)])
    assert event == ChildExited("a", 1, ExitReason.ABNORMAL, None, "PodDeleted: the pod was deleted")


def test_a_starting_childs_missing_pod_is_left_to_the_pending_start(make_pod):
    assert seen(started(), []) == []


def test_failed_start_before_ready(make_pod):
    state = started()
    pulling = make_pod("a", 1, phase="Pending", waiting={"reason": "ErrImagePull", "message": "nope"})
    assert seen(state, [pulling]) == [ChildStartFailed("a", 1, "ErrImagePull: nope")]


def test_start_deadline(make_pod):
    state = started()
    slow = [make_pod("a", 1)]
    assert seen(state, slow, now=T0 + DEADLINE - 1) == []
    assert seen(state, slow, now=T0 + DEADLINE) == [
        ChildStartFailed("a", 1, f"StartTimeout: not Ready within {DEADLINE}s of its creation")
    ]
    assert next_start_deadline(state, observe(slow), start_deadline_seconds=DEADLINE) == T0 + DEADLINE
    assert (
        next_start_deadline(state, observe([make_pod("a", 1, ready=True)]), start_deadline_seconds=DEADLINE)
        is None
    )


def test_a_quick_task_that_finished_before_ready_is_an_exit(make_pod):
    state = started()
    done = make_pod("a", 1, phase="Succeeded", terminated={"exitCode": 0, "reason": "Completed"})
    assert seen(state, [done]) == [ChildExited("a", 1, ExitReason.NORMAL, 0, "Completed")]


def test_a_stopping_child_has_stopped_once_its_pod_ended_or_is_gone(make_pod):
    spec = SPEC.model_copy(update={"strategy": Strategy.ONE_FOR_ALL})
    state = running(make_pod, spec)
    crashed = make_pod("a", 1, phase="Failed", terminated={"exitCode": 1, "reason": "Error"})
    state = apply(spec, state, seen(state, [crashed, make_pod("b", 2, ready=True)]))
    assert child(state, "b").lifecycle is ChildLifecycle.STOPPING
    assert seen(state, [crashed, make_pod("b", 2, ready=True, deleting=True)]) == []
    ended = make_pod(
        "b", 2, phase="Succeeded", terminated={"exitCode": 0, "reason": "Completed"}, deleting=True
    )
    assert seen(state, [crashed, ended]) == [
        ChildExited("b", 2, ExitReason.SHUTDOWN, 0, "Shutdown: stopped by its supervisor")
    ]
    assert seen(state, [crashed]) == [
        ChildExited("b", 2, ExitReason.SHUTDOWN, None, "Shutdown: stopped by its supervisor")
    ]


def test_leftover_pods_are_those_of_other_attempts(make_pod):
    state = running(make_pod)
    old = make_pod("a", 0)
    current = make_pod("a", 1, ready=True)
    orphan = make_pod("gone", 9)
    assert leftover_pods(state, observe([old, current, orphan, make_pod("b", 2)])) == [old, orphan]


def test_the_pod_of_a_failed_start_is_a_leftover_unless_it_has_finished(make_pod):
    grown = SupervisorSpec(children=(*SPEC.children, ChildSpec(name="c", template_hash="h3")))
    state = apply(grown, running(make_pod), [SpecChanged()])
    never_ready = make_pod("c", 3)  # running, but it missed its start deadline
    pods = [make_pod("a", 1, ready=True), make_pod("b", 2, ready=True), never_ready]
    state = apply(grown, state, seen(state, pods, now=T0 + DEADLINE))
    assert child(state, "c").lifecycle is ChildLifecycle.START_FAILED
    assert leftover_pods(state, observe(pods)) == [never_ready]
    # A pod that ended before Ready stays, the record of how the attempt ended (as any last incarnation's).
    crashed = make_pod("c", 3, phase="Failed", terminated={"exitCode": 1, "reason": "Error"})
    assert leftover_pods(state, observe([*pods[:2], crashed])) == []


def test_observe_groups_by_child_and_skips_foreign_pods(make_pod):
    foreign = {"metadata": {"name": "x", "labels": {labels.CHILD: "a"}}}
    unlabelled = make_pod("a", 4)
    del unlabelled["metadata"]["labels"][labels.CHILD]
    observed = observe([make_pod("a", 1), make_pod("a", 2, ready=True), foreign, unlabelled])
    assert set(observed) == {"a"}
    assert sorted(observed["a"].pods) == [1, 2]
    assert observed["a"].pods[2].ready and not observed["a"].pods[1].ready
    assert observed["a"].pods[1].created_at == T0


def test_a_deleting_pod_is_never_ready(make_pod):
    observed = observe_pod(make_pod("a", 1, ready=True, deleting=True))
    assert observed is not None and not observed.ready


# --- nested supervisors ------------------------------------------------------------------------------------

NESTED = SupervisorSpec(children=(ChildSpec(name="sub", kind=ChildKind.SUPERVISOR),))


def child_sup(
    incarnation: int | None,
    lifecycle: str,
    shutdown_reason: str | None = None,
    phase: str = "Running",
    deleting: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {"lifecycle": lifecycle}
    if shutdown_reason:
        state["shutdownReason"] = shutdown_reason
    supervision: dict[str, Any] = {"state": state}
    if incarnation is not None:
        supervision["incarnation"] = incarnation
    body: dict[str, Any] = {
        "metadata": {"name": "team-sub", "labels": {labels.SUPERVISOR: "team", labels.CHILD: "sub"}},
        "status": {"phase": phase, "supervision": supervision},
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return body


def nested_started() -> SupervisorState:
    return decide(NESTED, SupervisorState.initial(NESTED), Start(), T0).state


def nested_running() -> SupervisorState:
    state = nested_started()
    return apply(NESTED, state, seen(state, supervisors=[child_sup(1, "running")]))


def test_nested_supervisor_ready_only_for_the_current_incarnation():
    state = nested_started()
    assert seen(state, supervisors=[]) == []
    assert seen(state, supervisors=[child_sup(None, "idle")]) == []
    assert seen(state, supervisors=[child_sup(0, "running")]) == []  # an earlier incarnation's report
    assert seen(state, supervisors=[child_sup(1, "starting")]) == []
    assert seen(state, supervisors=[child_sup(1, "running")]) == [ChildReady("sub", 1)]
    assert child(nested_running(), "sub").lifecycle is ChildLifecycle.RUNNING


def test_nested_supervisor_that_failed_to_start():
    state = nested_started()
    events = seen(state, supervisors=[child_sup(1, "terminated", "failed_to_start_child")])
    assert events == [
        ChildStartFailed("sub", 1, "Shutdown: the child supervisor exited (failed_to_start_child)")
    ]


@pytest.mark.parametrize("reason", ["reached_max_restart_intensity", "auto_shutdown"])
def test_nested_supervisor_that_exited_is_a_shutdown_exit(reason):
    state = nested_running()
    events = seen(state, supervisors=[child_sup(1, "terminated", reason)])
    assert events == [
        ChildExited("sub", 1, ExitReason.SHUTDOWN, None, f"Shutdown: the child supervisor exited ({reason})")
    ]


def test_nested_supervisor_deleted_by_someone_else_is_abnormal():
    state = nested_running()
    (gone,) = seen(state, supervisors=[])
    assert isinstance(gone, ChildExited) and gone.reason is ExitReason.ABNORMAL
    (deleting,) = seen(state, supervisors=[child_sup(1, "running", deleting=True)])
    assert isinstance(deleting, ChildExited) and deleting.reason is ExitReason.ABNORMAL


def test_stopping_a_nested_supervisor():
    state = nested_running()
    state = decide(NESTED, state, Stop(), T0).state
    assert child(state, "sub").lifecycle is ChildLifecycle.STOPPING
    assert seen(state, supervisors=[child_sup(1, "shutting_down", "stop_requested")]) == []
    (done,) = seen(state, supervisors=[child_sup(1, "terminated", "stop_requested")])
    assert isinstance(done, ChildExited) and done.reason is ExitReason.SHUTDOWN
    (gone,) = seen(state, supervisors=[])
    assert isinstance(gone, ChildExited) and gone.reason is ExitReason.SHUTDOWN


def test_stopping_a_nested_supervisor_that_never_took_up_its_incarnation():
    state = decide(NESTED, nested_started(), Stop(), T0).state
    assert child(state, "sub").lifecycle is ChildLifecycle.STOPPING
    (event,) = seen(state, supervisors=[child_sup(None, "idle")])
    assert event == ChildExited("sub", 1, ExitReason.SHUTDOWN, None, "Shutdown: stopped before it started")
    assert seen(state, supervisors=[child_sup(0, "running")]) == []  # still running an older one: wait


def test_unknown_lifecycle_values_are_ignored():
    state = nested_started()
    assert seen(state, supervisors=[child_sup(1, "exploded")]) == []


def test_observed_child_defaults_are_empty():
    assert ObservedChild().pods == {} and ObservedChild().supervisor is None


def test_a_running_child_whose_pod_someone_deletes_exits_once_its_process_has(make_pod):
    """Not at the deletion: the pod drains until its process ends, and a new incarnation started meanwhile
    would run beside it."""
    state = running(make_pod)
    other = make_pod("b", 2, ready=True)
    draining = make_pod("a", 1, ready=True, deleting=True)  # deletionTimestamp T0 + 30
    assert seen(state, [draining, other], now=T0 + 31) == []
    assert wake_at(state, observe([draining, other]), start_deadline_seconds=DEADLINE) == T0 + 30 + 10
    ended = make_pod("a", 1, phase="Failed", deleting=True, terminated={"exitCode": 143, "reason": "Error"})
    [event] = seen(state, [ended, other], now=T0 + 31)
    assert event == ChildExited("a", 1, ExitReason.ABNORMAL, 143, "PodDeleted: the pod was deleted")
    [late] = seen(state, [draining, other], now=T0 + 40)  # never reported ended (a lost node)
    assert late == ChildExited("a", 1, ExitReason.ABNORMAL, None, "PodDeleted: the pod was deleted")
