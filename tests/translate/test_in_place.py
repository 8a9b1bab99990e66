"""In-place restarts, pure side: pod supervisor reports -> observation -> core events, and where the core's
StartChild / StopChild land (a new process in the old pod, or the pod-level path)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.incarnation_protocol import IncarnationExit, IncarnationState
from agent_supervisor.supervision import (
    ChildExited,
    ChildLifecycle,
    ChildReady,
    ChildSpec,
    ChildStartFailed,
    ExitReason,
    RestartType,
    Start,
    StartChild,
    Stop,
    StopChild,
    Strategy,
    SupervisorSpec,
    SupervisorState,
    decide,
    pending_actions,
)
from agent_supervisor.translate import in_place, incarnations, labels
from agent_supervisor.translate.observe import (
    ObservedChild,
    events_from_observation,
    host_pod_name,
    leftover_pods,
    observe,
)
from agent_supervisor.translate.pod_exits import split_detail
from tests.translate.conftest import pod as make_pod

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
DEADLINE = 60


def spec(strategy: Strategy = Strategy.ONE_FOR_ONE, hashes: tuple[str, ...] = ("h1", "h2")) -> SupervisorSpec:
    names = "ab"
    return SupervisorSpec(
        strategy=strategy,
        children=tuple(ChildSpec(name=names[i], template_hash=h) for i, h in enumerate(hashes)),
    )


def host(child: str, attempt: int, template_hash: str = "h1", **kwargs: Any) -> dict[str, Any]:
    """A pod created for `attempt` of `child`, with a pod supervisor and a uid to report under."""
    body = make_pod(child, attempt, **kwargs)
    body["metadata"]["uid"] = f"uid-{child}-{attempt}"
    body["metadata"]["labels"][labels.TEMPLATE_HASH] = template_hash
    body["metadata"]["annotations"] = {incarnations.CONTROL_PORT: "8081"}
    return body


def report(
    attempt: int, phase: str, *exits: IncarnationExit, started: str = "2026-01-01T00:00:10Z"
) -> IncarnationState:
    return IncarnationState(attempt=attempt, phase=phase, startedAt=started, exits=exits)


def ended(
    attempt: int,
    code: int,
    reason: str,
    message: str = "",
    *,
    stopped: bool = False,
    signal: int | None = None,
) -> IncarnationExit:
    return IncarnationExit(
        attempt=attempt,
        exitCode=code,
        reason=reason,
        message=message,
        stopped=stopped,
        signal=signal,
        finishedAt="2026-01-01T00:00:20Z",
    )


def seen_events(
    state: SupervisorState, pods: list[dict[str, Any]], reports: dict[str, IncarnationState], now: int = T0
) -> list[Any]:
    return events_from_observation(state, observe(pods, (), reports), now, start_deadline_seconds=DEADLINE)


def run(sup: SupervisorSpec, state: SupervisorState, events: list[Any], now: int = T0) -> SupervisorState:
    for event in events:
        state = decide(sup, state, event, now).state
    return state


def running_pair(
    sup: SupervisorSpec,
) -> tuple[SupervisorState, list[dict[str, Any]], dict[str, IncarnationState]]:
    """Children a (attempt 1) and b (attempt 2) running in pods with pod supervisors."""
    state = decide(sup, SupervisorState.initial(sup), Start(), T0).state
    pods = [host("a", 1), host("b", 2, "h2")]
    reports = {"uid-a-1": report(1, "Ready"), "uid-b-2": report(2, "Ready")}
    state = run(sup, state, seen_events(state, pods[:1], reports))
    state = run(sup, state, seen_events(state, pods, reports))
    assert [c.lifecycle for c in state.children] == [ChildLifecycle.RUNNING, ChildLifecycle.RUNNING]
    return state, pods, reports


def test_a_crash_inside_a_living_pod_restarts_in_that_pod_with_a_new_attempt():
    sup = spec()
    state, pods, reports = running_pair(sup)
    reports["uid-a-1"] = report(1, "Exited", ended(1, 42, "CrashRequested", "scripted crash"))

    (event,) = seen_events(state, pods, reports)
    assert isinstance(event, ChildExited)
    assert (event.reason, event.exit_code) == (ExitReason.ABNORMAL, 42)
    assert split_detail(event.detail) == ("CrashRequested", "scripted crash")

    state = run(sup, state, [event])
    a = state.find("a")
    assert a is not None and a.lifecycle is ChildLifecycle.STARTING and a.attempt == 3
    (start,) = [act for act in pending_actions(state) if isinstance(act, StartChild)]
    observed = observe(pods, (), reports)
    chosen = in_place.start_host(observed, start)
    assert chosen is not None and chosen.pod["metadata"]["name"] == "team-a-1"
    # The old pod is where attempt 3 will run: not a leftover, and status names it.
    assert leftover_pods(state, observed) == []
    assert host_pod_name(observed["a"], 3) == "team-a-1"

    # The pod supervisor took the start: the same pod is now attempt 3, and its Ready completes the restart.
    reports["uid-a-1"] = report(3, "Starting", ended(1, 42, "CrashRequested"))
    assert seen_events(state, pods, reports) == []
    reports["uid-a-1"] = report(3, "Ready", ended(1, 42, "CrashRequested"))
    assert seen_events(state, pods, reports) == [ChildReady("a", 3)]
    assert in_place.start_host(observe(pods, (), reports), start) is None  # already there: nothing to do


def test_a_cold_change_or_an_unusable_pod_needs_a_new_pod():
    observed = observe([host("a", 1)], (), {"uid-a-1": report(1, "Exited", ended(1, 1, "Crashed"))})
    assert in_place.start_host(observed, StartChild("a", 3, "h1")) is not None
    assert in_place.start_host(observed, StartChild("a", 3, "h1-new")) is None  # image, env, ... changed
    for gone in (
        host("a", 1, deleting=True),
        host("a", 1, phase="Failed", terminated={"exitCode": 1}),
    ):
        observed = observe([gone], (), {"uid-a-1": report(1, "Exited", ended(1, 1, "Crashed"))})
        assert in_place.start_host(observed, StartChild("a", 3, "h1")) is None
    # A pod whose pod supervisor has not reported may run attempt 3 already (started before an operator
    # restart): it is waited for. One that refuses the operator is a pod without a pod supervisor.
    unreported = observe([host("a", 1)], (), {})
    assert in_place.start_host(unreported, StartChild("a", 3, "h1")) is in_place.AWAITING
    refusing = observe([host("a", 1)], (), {}, uncontrolled={"uid-a-1"})
    assert in_place.start_host(refusing, StartChild("a", 3, "h1")) is None


def test_the_pods_own_end_wins_over_its_pod_supervisors_report():
    sup = spec()
    state, pods, reports = running_pair(sup)
    # Someone deletes the pod: the pod supervisor forwards SIGTERM and the agent drains with exit 0.
    pods[0] = host("a", 1, deleting=True)
    reports["uid-a-1"] = report(1, "Exited", ended(1, 0, "Completed", "stopped on SIGTERM"))
    (event,) = seen_events(state, pods, reports)
    assert isinstance(event, ChildExited)
    assert event.reason is ExitReason.ABNORMAL
    assert split_detail(event.detail)[0] == "PodDeleted"


def test_a_signal_kill_and_a_normal_exit():
    killed = incarnations.exit_outcome(ended(4, 137, "Killed", signal=9), stopping=False)
    assert (killed.reason, killed.cause, killed.code) == (ExitReason.ABNORMAL, "Killed", 137)
    assert killed.message == "killed by signal 9"
    done = incarnations.exit_outcome(ended(4, 0, "Completed", "the answer"), stopping=False)
    assert (done.reason, done.message) == (ExitReason.NORMAL, "the answer")
    stopped = incarnations.exit_outcome(ended(4, 143, "Killed", stopped=True, signal=15), stopping=True)
    assert stopped.reason is ExitReason.SHUTDOWN
    rejected = incarnations.exit_outcome(ended(4, 4, "ModelRejected", "400 x3"), stopping=False)
    assert (rejected.reason, rejected.cause) == (ExitReason.SHUTDOWN, "ModelRejected"), "{shutdown, Reason}"


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_a_group_restart_stops_in_place_and_starts_in_the_same_pods(strategy):
    sup = spec(strategy)
    state, pods, reports = running_pair(sup)
    reports["uid-a-1"] = report(1, "Exited", ended(1, 1, "Crashed", "boom"))
    state = run(sup, state, seen_events(state, pods, reports))
    (stop,) = [act for act in pending_actions(state) if isinstance(act, StopChild)]
    assert stop.name == "b"
    observed = observe(pods, (), reports)
    stopping = in_place.stop_host(state, observed, stop)
    assert stopping is not None and stopping.pod["metadata"]["name"] == "team-b-2"

    # b stops in place; its exit, asked for, is a shutdown.
    reports["uid-b-2"] = report(2, "Exited", ended(2, 0, "Completed", stopped=True))
    (event,) = seen_events(state, pods, reports)
    assert isinstance(event, ChildExited) and event.reason is ExitReason.SHUTDOWN
    state = run(sup, state, [event])
    assert leftover_pods(state, observe(pods, (), reports)) == []
    assert in_place.releases(state, observe(pods, (), reports)) == []  # the plan starts them again

    # Each start lands in the child's own pod, in order.
    starts = [act for act in pending_actions(state) if isinstance(act, StartChild)]
    assert [s.name for s in starts] == ["a"]
    landing = in_place.start_host(observe(pods, (), reports), starts[0])
    assert landing is not None and landing.pod["metadata"]["name"] == "team-a-1"


def test_a_stop_nothing_restarts_deletes_the_pod_instead():
    sup = spec()
    state, pods, reports = running_pair(sup)
    state = run(sup, state, [Stop()])
    (stop,) = [act for act in pending_actions(state) if isinstance(act, StopChild)]
    assert in_place.stop_host(state, observe(pods, (), reports), stop) is None


def test_an_incarnation_that_ended_for_good_releases_its_pod():
    sup = SupervisorSpec(
        strategy=Strategy.ONE_FOR_ONE,
        children=(ChildSpec(name="a", template_hash="h1", restart=RestartType.TRANSIENT),),
    )
    state = decide(sup, SupervisorState.initial(sup), Start(), T0).state
    pods = [host("a", 1)]
    reports = {"uid-a-1": report(1, "Ready")}
    state = run(sup, state, seen_events(state, pods, reports))
    assert in_place.releases(state, observe(pods, (), reports)) == []
    reports["uid-a-1"] = report(1, "Exited", ended(1, 0, "Completed", "done"))
    state = run(sup, state, seen_events(state, pods, reports))
    a = state.find("a")
    assert a is not None and a.lifecycle is ChildLifecycle.EXITED
    ((pod, attempt),) = in_place.releases(state, observe(pods, (), reports))
    assert (pod.pod["metadata"]["name"], attempt) == ("team-a-1", 1)


def test_an_in_place_start_has_its_deadline_from_its_own_start():
    sup = spec()
    state, pods, reports = running_pair(sup)
    reports["uid-a-1"] = report(1, "Exited", ended(1, 1, "Crashed"))
    state = run(sup, state, seen_events(state, pods, reports))
    reports["uid-a-1"] = report(3, "Starting", started="2026-01-01T00:10:00Z")
    started = T0 + 600
    assert seen_events(state, pods, reports, now=started + DEADLINE - 1) == []
    (late,) = seen_events(state, pods, reports, now=started + DEADLINE)
    assert isinstance(late, ChildStartFailed) and late.attempt == 3


def test_a_report_older_than_the_pod_is_ignored():
    observed = observe([host("a", 5)], (), {"uid-a-5": report(2, "Ready")})
    assert list(observed["a"].pods) == [5]
    assert observed["a"].pods[5].hosted is None


def test_leftovers_are_the_pods_that_host_nothing_current():
    sup = spec()
    state, pods, reports = running_pair(sup)
    stale = make_pod("a", 0)  # an older pod without a pod supervisor
    assert leftover_pods(state, observe([*pods, stale], (), reports)) == [stale]
    assert host_pod_name(ObservedChild(), 1) is None


def test_after_an_operator_restart_nothing_is_concluded_until_the_pods_report():
    sup = spec()
    state, pods, reports = running_pair(sup)
    reports["uid-a-1"] = report(1, "Exited", ended(1, 1, "Crashed"))
    state = run(sup, state, seen_events(state, pods, reports))
    reports["uid-a-1"] = report(3, "Ready", ended(1, 1, "Crashed"))
    state = run(sup, state, seen_events(state, pods, reports))
    a = state.find("a")
    assert a is not None and (a.lifecycle, a.attempt) == (ChildLifecycle.RUNNING, 3)
    # A new operator: pod team-a-1 (labelled attempt 1) runs attempt 3, but has not said so yet. Neither a
    # missing pod (a false crash) nor a leftover to delete, nor a reason to create team-a-3.
    assert seen_events(state, pods, {}) == []
    assert leftover_pods(state, observe(pods, (), {})) == []
    assert in_place.start_host(observe(pods, (), {}), StartChild("a", 3, "h1")) is in_place.AWAITING
    # Once it reports, all is as before.
    assert seen_events(state, pods, {"uid-a-1": reports["uid-a-1"]}) == []


def test_a_pod_someone_deletes_ends_its_incarnation_when_the_pod_supervisor_reports_the_exit():
    """The pod supervisor stops the incarnation on the pod's SIGTERM and reports it while its container
    still runs: that exit is the deletion's (abnormal), even where the agent drained and exited 0; before
    it, nothing has ended."""
    sup = spec()
    state, pods, reports = running_pair(sup)
    pods[0] = host("a", 1, deleting=True, ready=True)
    reports["uid-a-1"] = report(1, "Stopping")
    assert seen_events(state, pods, reports, now=T0 + 20) == []
    reports["uid-a-1"] = report(1, "Exited", ended(1, 0, "Completed"))
    (event,) = seen_events(state, pods, reports, now=T0 + 20)
    assert isinstance(event, ChildExited)
    cause, _ = split_detail(event.detail)
    assert (event.name, event.reason, cause) == ("a", ExitReason.ABNORMAL, "PodDeleted")


def test_an_incarnation_its_pod_supervisor_stopped_on_the_pods_sigterm_ended_with_its_pod():
    """A pod deleted with no grace while the pod watch is down: the index still shows it running, but its pod
    supervisor reports the incarnation stopped by the pod's SIGTERM. Its drained exit 0 is the deletion's."""
    sup = spec()
    state, pods, reports = running_pair(sup)
    drained = ended(1, 0, "Completed").model_copy(update={"terminating": True})
    reports["uid-a-1"] = report(1, "Exited", drained)
    (event,) = seen_events(state, pods, reports)
    assert isinstance(event, ChildExited)
    cause, _ = split_detail(event.detail)
    assert (event.name, event.reason, cause) == ("a", ExitReason.ABNORMAL, "PodDeleted")
    # The same exit 0 without the pod's SIGTERM is the agent's own: normal.
    reports["uid-a-1"] = report(1, "Exited", ended(1, 0, "Completed"))
    (own,) = seen_events(state, pods, reports)
    assert isinstance(own, ChildExited) and own.reason is ExitReason.NORMAL
