"""Crash safety: stale and repeated events change nothing, and pending_actions re-derives lost work."""

import json

import pytest
from pydantic import ValidationError

from agent_supervisor.supervision import (
    ChildExited,
    ChildMissing,
    ChildReady,
    ExitReason,
    RemoveChild,
    ShutdownReason,
    ShutdownSelf,
    StartChild,
    StopChild,
    SupervisorState,
    WaitUntil,
    decide,
    pending_actions,
)
from tests.supervision.driver import Driver, supervisor


def test_events_about_an_older_attempt_are_ignored():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    old_attempt = sup.pods["a"].attempt
    sup.crash("a")
    sup.settle()
    before = sup.state
    for stale in (
        ChildExited(name="a", attempt=old_attempt, reason=ExitReason.ABNORMAL),
        ChildReady(name="a", attempt=old_attempt),
        ChildMissing(name="a", attempt=old_attempt),
    ):
        decision = sup.send(stale)
        assert decision.state == before
        assert decision.actions == ()


def test_a_repeated_event_changes_nothing():
    sup = Driver(supervisor("one_for_all", "a", "b"))
    sup.start_and_settle()
    attempt = sup.pods["a"].attempt
    crash = ChildExited(name="a", attempt=attempt, reason=ExitReason.ABNORMAL)
    sup.pods.pop("a")
    first = sup.send(crash)
    again = sup.send(crash)
    assert again.state == first.state
    assert again.actions == ()
    assert sup.state.restarts == [1000]


def test_events_about_unknown_children_are_ignored():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    decision = sup.send(ChildExited(name="ghost", attempt=1, reason=ExitReason.ABNORMAL))
    assert decision.actions == ()


def test_pending_actions_reissue_a_start_lost_in_an_operator_crash():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    pod = sup.pods.pop("a")
    # The operator persists the decision and crashes before acting on it.
    sup.decide(ChildExited(name="a", attempt=pod.attempt, reason=ExitReason.ABNORMAL))
    assert "a" not in sup.pods
    sup.recover()
    assert sup.pods["a"].attempt == pod.attempt + 1
    sup.recover()  # and again: the attempt label makes it a no-op
    assert sup.ops() == [("start", "a")]


def test_pending_actions_reissue_stops_removals_waits_and_the_supervisors_own_exit():
    sup = Driver(supervisor("one_for_one", "a", "b", backoff={"initial_seconds": 5, "max_seconds": 5}))
    sup.start_and_settle()
    sup.crash("a")
    sup.edit(supervisor("one_for_one", "a", backoff={"initial_seconds": 5, "max_seconds": 5}))
    assert set(pending_actions(sup.state)) == {
        StopChild(name="b", attempt=2, shutdown=sup.child("b").shutdown),
        WaitUntil(at=1005),
    }
    sup.complete_stop("b")
    assert pending_actions(sup.state) == (RemoveChild(name="b"), WaitUntil(at=1005))
    sup.stop_everything()
    assert pending_actions(sup.state) == (ShutdownSelf(reason=ShutdownReason.STOP_REQUESTED),)


def test_decided_starts_and_stops_are_exactly_the_new_pending_ones():
    sup = Driver(supervisor("one_for_all", "a", "b", "c"))
    sup.start_and_settle()
    before = set(pending_actions(sup.state))
    pod = sup.pods.pop("b")
    decision = sup.send(ChildExited(name="b", attempt=pod.attempt, reason=ExitReason.ABNORMAL))
    work = {action for action in decision.actions if isinstance(action, (StartChild, StopChild))}
    derived = {
        action for action in pending_actions(decision.state) if isinstance(action, (StartChild, StopChild))
    }
    assert work == derived - before == {StopChild(name="c", attempt=3, shutdown=sup.child("c").shutdown)}


def test_child_missing_after_an_operator_restart_counts_as_an_abnormal_exit():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    sup.vanish("a")
    assert sup.ops() == [("start", "a")]
    last_exit = sup.child("a").last_exit
    assert last_exit is not None and last_exit.reason is ExitReason.ABNORMAL
    assert sup.state.restarts == [1000]


def test_child_missing_while_stopping_completes_the_stop():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.stop()
    sup.vanish("b")
    assert sup.ops() == [("stop", "b"), ("stop", "a")]
    assert sup.state.restarts == []
    last_exit = sup.child("b").last_exit
    assert last_exit is not None and last_exit.reason is ExitReason.SHUTDOWN


def test_child_missing_while_starting_is_left_to_pending_actions():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start()
    attempt = sup.pods["a"].attempt
    decision = sup.send(ChildMissing(name="a", attempt=attempt))
    assert decision.actions == ()
    assert pending_actions(sup.state) == (StartChild(name="a", attempt=attempt, template_hash="v1"),)


def test_decide_never_mutates_its_inputs():
    sup = Driver(supervisor("one_for_all", "a", "b"))
    sup.start_and_settle()
    state = sup.state
    snapshot = json.dumps(state.to_json())
    decide(sup.spec, state, ChildExited(name="a", attempt=1, reason=ExitReason.ABNORMAL), now=1_001)
    assert json.dumps(state.to_json()) == snapshot


def test_state_round_trips_through_json_exactly():
    sup = Driver(supervisor("one_for_all", "a", "b", "c", backoff={"initial_seconds": 2, "max_seconds": 8}))
    sup.start_and_settle()
    sup.crash("b")  # mid group restart: a plan, a backoff timer, a last exit and a restart history
    document = json.loads(json.dumps(sup.state.to_json()))
    restored = SupervisorState.from_json(document)
    assert restored == sup.state
    assert restored.to_json() == document
    assert document["plan"]["purpose"] == "group_restart"


def test_state_from_json_names_an_unknown_field():
    document = SupervisorState().to_json() | {"restartHistory": []}
    with pytest.raises(ValidationError, match="restartHistory"):
        SupervisorState.from_json(document)
