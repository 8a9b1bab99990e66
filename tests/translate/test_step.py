"""The pure step of a reconcile: resource + observation + time -> status, Events, actions, next wake-up.

Table-driven cases walk the reconciles a supervisor goes through; the hypothesis properties replay what a
crashed or repeated reconcile would see: the same resource (as written) and the same observation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_supervisor import api
from agent_supervisor.supervision import (
    EventReason,
    StartChild,
    StopChild,
    SupervisorLifecycle,
    SupervisorSpec,
    WaitUntil,
)
from agent_supervisor.translate import labels, projection
from agent_supervisor.translate.observe import observe
from agent_supervisor.translate.settings import OperatorSettings
from agent_supervisor.translate.status import status_patch
from agent_supervisor.translate.step import ConfigReport, Outcome, step, with_supervisor_status
from agent_supervisor.translate.stored_supervision import CorruptSupervisionError, Supervision
from tests.translate.conftest import agent_body, pod, supervisor_body, template

T0 = 1_800_000_000
DEADLINE = 120
SETTINGS = OperatorSettings(default_image="agent:test", start_deadline_seconds=DEADLINE)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def running(child: str, attempt: int, at: int = T0) -> dict[str, Any]:
    return pod(child, attempt, ready=True, created=iso(at))


def crashed(child: str, attempt: int, code: int = 1, at: int = T0) -> dict[str, Any]:
    terminated = {"exitCode": code, "reason": "Error", "finishedAt": iso(at + 1)}
    return pod(child, attempt, phase="Failed", created=iso(at), terminated=terminated)


def starting(child: str, attempt: int, at: int = T0) -> dict[str, Any]:
    return pod(child, attempt, phase="Pending", created=iso(at), waiting={"reason": "ContainerCreating"})


class Reconciles:
    """A supervising resource as the API server keeps it, stepped like the reconciler does: each step's
    status is written back before the next (the actions are the test's to carry out, as pods it passes)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    @property
    def resource(self) -> api.Agent | api.AgentSupervisor:
        """Parsed from the body at each reconcile, as the reconciler does after its read."""
        if self.body["kind"] == "AgentSupervisor":
            return projection.parse_supervisor(self.body)
        return projection.parse_agent(self.body)

    @property
    def spec(self) -> SupervisorSpec:
        resource = self.resource
        if isinstance(resource, api.AgentSupervisor):
            return projection.supervisor_spec(resource)
        return projection.standalone_spec(resource)

    def decide(
        self, pods: Sequence[Mapping[str, Any]], now: int, config: ConfigReport | None = None
    ) -> Outcome:
        if isinstance(self.resource, api.Agent) and config is None:
            config = ConfigReport("rev-1", "rev-1")
        return step(self.body, self.resource, self.spec, observe(pods), now, SETTINGS, config)

    def write(self, outcome: Outcome) -> None:
        self.body = {**self.body, "status": copy.deepcopy(outcome.status)}

    def run(self, pods: Sequence[Mapping[str, Any]], now: int, config: ConfigReport | None = None) -> Outcome:
        outcome = self.decide(pods, now, config)
        self.write(outcome)
        return outcome


def reasons(outcome: Outcome) -> list[EventReason]:
    return [event.reason for event in outcome.events]


def starts(outcome: Outcome) -> list[tuple[str, int]]:
    return [(a.name, a.attempt) for a in outcome.actions if isinstance(a, StartChild)]


def stops(outcome: Outcome) -> list[tuple[str, int]]:
    return [(a.name, a.attempt) for a in outcome.actions if isinstance(a, StopChild)]


def team(strategy: str = "one_for_one", **spec: Any) -> Reconciles:
    children = [{"name": name, "agent": template()} for name in ("a", "b", "c")]
    return Reconciles(supervisor_body("team", children, strategy=strategy, **spec))


def started(tree: Reconciles) -> Reconciles:
    """Through its ordered start-up: a, b and c Ready as attempts 1, 2 and 3."""
    tree.run([], T0)
    tree.run([running("a", 1)], T0 + 1)
    tree.run([running("a", 1), running("b", 2)], T0 + 2)
    outcome = tree.run([running("a", 1), running("b", 2), running("c", 3)], T0 + 3)
    assert outcome.status["phase"] == "Running"
    return tree


ALL_RUNNING = [running("a", 1), running("b", 2), running("c", 3)]


# --- table-driven: one reconcile each, from a known resource and observation ----------------------------


def test_a_new_supervisor_starts_its_first_child_only():
    outcome = team().run([], T0)
    assert starts(outcome) == [("a", 1)]
    assert outcome.status["phase"] == "Starting"
    assert outcome.status["observedGeneration"] == 1
    assert outcome.wake_at is None
    assert outcome.restarted == frozenset()


def test_each_child_starts_when_the_one_before_is_ready():
    tree = team()
    tree.run([], T0)
    outcome = tree.run([running("a", 1)], T0 + 1)
    assert starts(outcome) == [("b", 2)]
    assert outcome.status["readyChildren"] == "1/3"


def test_a_decision_made_without_its_status_renders_the_same_status_later():
    # A chain of starts decides without rendering the status at each step and renders it once at its end.
    tree = team()
    tree.run([], T0)
    pods = [running("a", 1)]
    full = tree.decide(pods, T0 + 1)
    bare = step(tree.body, tree.resource, tree.spec, observe(pods), T0 + 1, SETTINGS, render_status=False)
    assert bare.status == {} and bare.supervision == full.supervision and bare.actions == full.actions
    resource = tree.resource
    assert isinstance(resource, api.AgentSupervisor)
    rendered = with_supervisor_status(bare, tree.body, resource, tree.spec, observe(pods), T0 + 1)
    assert rendered.status == full.status


def test_a_starting_child_wakes_the_reconcile_at_its_start_deadline():
    tree = team()
    tree.run([], T0)
    outcome = tree.run([starting("a", 1, at=T0)], T0 + 5)
    assert outcome.wake_at == T0 + DEADLINE
    missed = tree.run([starting("a", 1, at=T0)], T0 + DEADLINE)
    assert EventReason.CHILD_START_FAILED in reasons(missed)


@pytest.mark.parametrize(
    ("strategy", "stopped", "restarted_first"),
    [
        ("one_for_one", [], ("b", 4)),
        ("one_for_all", [("c", 3), ("a", 1)], ("a", 4)),
        ("rest_for_one", [("c", 3)], ("b", 4)),
    ],
)
def test_a_crash_restarts_the_set_its_strategy_names(strategy, stopped, restarted_first):
    tree = started(team(strategy, maxRestarts=5, periodSeconds=60))
    outcome = tree.run([running("a", 1), crashed("b", 2), running("c", 3)], T0 + 10)
    assert outcome.restarted == {"b"}, "the restart counts for the child that failed"
    assert stops(outcome) == stopped[:1]
    expected = EventReason.CHILD_RESTARTED if strategy == "one_for_one" else EventReason.GROUP_RESTARTED
    assert expected in reasons(outcome)
    if stopped:
        assert starts(outcome) == []
        # The others stop one at a time in reverse start order, then the group starts again in start order.
        alive = {("a", 1), ("c", 3)}
        for moment, (name, attempt) in enumerate(stopped[1:], start=11):
            alive.discard(stops(outcome)[0])
            outcome = tree.run([crashed("b", 2), *(running(n, a) for n, a in sorted(alive))], T0 + moment)
            assert stops(outcome) == [(name, attempt)]
        alive.discard(stops(outcome)[0])
        outcome = tree.run([crashed("b", 2), *(running(n, a) for n, a in sorted(alive))], T0 + 20)
    assert starts(outcome) == [restarted_first]


def test_over_the_intensity_the_supervisor_stops_its_children_and_fails():
    tree = started(team(maxRestarts=0, periodSeconds=60))
    outcome = tree.run([running("a", 1), crashed("b", 2), running("c", 3)], T0 + 10)
    assert EventReason.INTENSITY_EXCEEDED in reasons(outcome)
    assert stops(outcome) == [("c", 3)], "the others stop one at a time, in reverse start order"
    assert outcome.restarted == frozenset()
    assert outcome.state.lifecycle is SupervisorLifecycle.SHUTTING_DOWN


def test_a_restart_delay_is_a_wake_up():
    tree = started(team(maxRestarts=5, periodSeconds=60, restartBackoff={"initialSeconds": 4}))
    outcome = tree.run([running("a", 1), crashed("b", 2), running("c", 3)], T0 + 10)
    waits = [a.at for a in outcome.actions if isinstance(a, WaitUntil)]
    assert waits and outcome.wake_at == min(waits) > T0 + 10
    assert starts(outcome) == []


def unpullable(child: str, attempt: int, at: int = T0) -> dict[str, Any]:
    waiting = {"reason": "ErrImagePull", "message": 'Failed to pull image "nope:1"'}
    return pod(child, attempt, phase="Pending", created=iso(at), waiting=waiting)


def test_an_added_child_that_cannot_start_is_reported_and_stops_nobody():
    tree = started(team("one_for_all", maxRestarts=0, periodSeconds=60))
    tree.body["spec"]["children"].append({"name": "d", "agent": template(image="nope:1")})
    tree.body["metadata"]["generation"] = 2
    outcome = tree.run(ALL_RUNNING, T0 + 10)
    assert starts(outcome) == [("d", 4)]
    outcome = tree.run([*ALL_RUNNING, unpullable("d", 4, at=T0 + 10)], T0 + 11)
    assert stops(outcome) == [] and starts(outcome) == []
    assert outcome.state.restarts == []
    status = outcome.status
    assert status["phase"] == "Running" and status["readyChildren"] == "3/4"
    assert status["restartsInWindow"] == "0/0"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ChildStartFailed")
    assert "d (ErrImagePull" in ready["message"] and labels.RESTART in ready["message"]
    child_d = status["children"][3]
    assert (child_d["name"], child_d["phase"], child_d["lastExit"]["reason"]) == (
        "d",
        "Failed",
        "ErrImagePull",
    )
    events = [e for e in outcome.events if e.reason is EventReason.CHILD_START_FAILED]
    assert len(events) == 1 and "child d" in events[0].message and "ErrImagePull" in events[0].message
    # Any later edit of the spec tries the child again; so does a new reset value.
    tree.body["spec"]["children"][3]["agent"]["image"] = "fixed:1"
    tree.body["metadata"]["generation"] = 3
    assert starts(tree.run(ALL_RUNNING, T0 + 20)) == [("d", 5)]
    failed_again = tree.run([*ALL_RUNNING, unpullable("d", 5, at=T0 + 20)], T0 + 21)
    assert failed_again.state.restarts == []
    tree.body["metadata"]["annotations"] = {labels.RESTART: "retry-1"}
    assert starts(tree.run(ALL_RUNNING, T0 + 30)) == [("d", 6)]


def test_deletion_stops_the_children_in_reverse_order_then_releases_the_finalizer():
    tree = started(team())
    tree.body["metadata"]["deletionTimestamp"] = iso(T0 + 20)
    outcome = tree.run(ALL_RUNNING, T0 + 20)
    assert stops(outcome) == [("c", 3)]
    assert not outcome.release_finalizer
    tree.run([running("a", 1), running("b", 2)], T0 + 21)
    tree.run([running("a", 1)], T0 + 22)
    outcome = tree.run([], T0 + 23)
    assert outcome.state.lifecycle is SupervisorLifecycle.TERMINATED
    assert outcome.release_finalizer


def test_an_unreadable_supervision_status_is_refused():
    tree = started(team())
    tree.body["status"]["supervision"] = {"state": {"children": "garbage"}}
    with pytest.raises(CorruptSupervisionError):
        tree.decide(ALL_RUNNING, T0 + 30)


def test_a_supervision_the_caller_already_holds_decides_exactly_as_the_one_read_from_status():
    tree = started(team("one_for_all"))
    crash = [running("a", 1), crashed("b", 2), running("c", 3)]
    read = tree.decide(crash, T0 + 30)
    held = Supervision.read(tree.body["status"], tree.spec)
    tree.body["status"]["supervision"] = {"state": {"children": "garbage"}}  # proves it is not read
    given_outcome = step(tree.body, tree.resource, tree.spec, observe(crash), T0 + 30, SETTINGS, stored=held)
    assert (given_outcome.state, given_outcome.actions, given_outcome.events) == (
        read.state,
        read.actions,
        read.events,
    )


def test_a_standalone_agent_restarts_and_reports_its_config():
    solo = Reconciles(agent_body("solo", task="do it", maxRestarts=3, periodSeconds=60))
    solo_pod = {"labels": {labels.AGENT: "solo", labels.CHILD: "solo"}}
    first = solo.run([], T0)
    assert starts(first) == [("solo", 1)]
    alive = running("solo", 1)
    alive["metadata"]["labels"].update(solo_pod["labels"])
    ready = solo.run([alive], T0 + 1, ConfigReport("rev-2", "rev-1"))
    assert ready.status["appliedConfigRevision"] == "rev-1"
    dead = crashed("solo", 1)
    dead["metadata"]["labels"].update(solo_pod["labels"])
    outcome = solo.run([dead], T0 + 5, ConfigReport("rev-2", "rev-2"))
    assert outcome.restarted == {"solo"}
    assert starts(outcome) == [("solo", 2)]
    assert outcome.status["appliedConfigRevision"] == "rev-2"


def test_a_standalone_agent_needs_its_config_report():
    solo = Reconciles(agent_body("solo", task="do it"))
    with pytest.raises(TypeError, match="ConfigReport"):
        step(solo.body, solo.resource, solo.spec, {}, T0, SETTINGS)


# --- properties: a replayed reconcile decides nothing new ---------------------------------------------------

POD_STATES = st.sampled_from(["absent", "starting", "running", "crashed", "completed", "deleting"])


@dataclass(frozen=True)
class Moment:
    """One reconcile's world: per child, the state of its current attempt's pod and whether an older attempt's
    pod lingers; how far the clock moved; whether the spec's generation moved or deletion began."""

    pods: tuple[tuple[str, bool], ...]
    advance: int
    bump_generation: bool
    delete: bool


MOMENTS = st.builds(
    Moment,
    pods=st.tuples(*[st.tuples(POD_STATES, st.booleans()) for _ in range(3)]),
    advance=st.integers(0, 90),
    bump_generation=st.sampled_from([False] * 4 + [True]),
    delete=st.sampled_from([False] * 9 + [True]),
)


def world(outcome_state: Any, moment: Moment, now: int) -> list[dict[str, Any]]:
    pods = []
    for child, (kind, stale) in zip(outcome_state.children, moment.pods, strict=False):
        attempt = child.attempt
        if stale and attempt > 1:
            pods.append(crashed(child.name, attempt - 1, at=now - 200))
        if attempt == 0 or kind == "absent":
            continue
        created = now - 30
        pods.append(
            {
                "starting": starting(child.name, attempt, at=created),
                "running": running(child.name, attempt, at=created),
                "crashed": crashed(child.name, attempt, code=3, at=created),
                "completed": crashed(child.name, attempt, code=0, at=created),
                "deleting": pod(child.name, attempt, created=iso(created), deleting=True),
            }[kind]
        )
    return pods


def assert_replay_changes_nothing(
    tree: Reconciles, first: Outcome, pods: list[dict[str, Any]], now: int
) -> None:
    """The reconcile after a crash between the status write and the actions (or a duplicate trigger)."""
    replay = tree.decide(pods, now)
    assert replay.supervision == first.supervision, "a replay decided again"
    assert status_patch(tree.body["status"], replay.status) == {}, "a replay would write the status again"
    assert replay.events == (), "a replay would post the Events again"
    assert replay.restarted == frozenset(), "a replay restarted again"
    assert replay.actions == first.actions, "a replay lost or added actions"
    assert replay.wake_at == first.wake_at


@settings(max_examples=150, deadline=None)
@given(
    strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
    restart=st.sampled_from(["permanent", "transient", "temporary"]),
    max_restarts=st.integers(0, 4),
    moments=st.lists(MOMENTS, min_size=1, max_size=12),
)
def test_replaying_a_reconcile_changes_nothing_and_loses_no_action(strategy, restart, max_restarts, moments):
    children = [{"name": name, "restart": restart, "agent": template()} for name in ("a", "b", "c")]
    body = supervisor_body("team", children, strategy=strategy, maxRestarts=max_restarts, periodSeconds=60)
    tree = Reconciles(body)
    now = T0
    state = tree.decide([], now).state
    for moment in moments:
        now += moment.advance
        if moment.bump_generation:
            tree.body["metadata"]["generation"] += 1
        if moment.delete:
            tree.body["metadata"].setdefault("deletionTimestamp", iso(now))
        pods = world(state, moment, now)
        outcome = tree.run(pods, now)
        api.SupervisorStatus.model_validate(outcome.status)
        assert outcome.wake_at is None or outcome.wake_at > now, "a deadline already due was left waiting"
        assert_replay_changes_nothing(tree, outcome, pods, now)
        state = outcome.state
