"""The supervising resource's own events: start, manual reset, spec changes, deletion, nested incarnations."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent_supervisor.supervision import (
    Backoff,
    ChildExited,
    ChildReady,
    ChildSpec,
    ChildStartFailed,
    Event,
    ExitReason,
    SpecChanged,
    Start,
    Stop,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    Tick,
    decide,
)
from agent_supervisor.translate import labels
from agent_supervisor.translate.stored_supervision import Supervision
from agent_supervisor.translate.triggers import ResourceFacts, control_events

SPEC = SupervisorSpec(max_restarts=0, children=(ChildSpec(name="a"),))


def facts(
    annotations: dict[str, str] | None = None,
    generation: int | None = 1,
    observed: int | None = 1,
    deleting: bool = False,
    nested: bool = False,
) -> ResourceFacts:
    return ResourceFacts(annotations or {}, generation, observed, deleting, nested)


def supervision(lifecycle: SupervisorLifecycle) -> Supervision:
    """A supervision record whose state is in `lifecycle`, reached through the core itself."""
    state = SupervisorState.initial(SPEC)
    if lifecycle is not SupervisorLifecycle.IDLE:
        state = decide(SPEC, state, Start(), 0).state
    if lifecycle in (SupervisorLifecycle.RUNNING, SupervisorLifecycle.TERMINATED):
        state = decide(SPEC, state, ChildReady("a", 1), 0).state
    if lifecycle is SupervisorLifecycle.TERMINATED:  # one crash exceeds maxRestarts 0
        state = decide(SPEC, state, ChildExited("a", 1, ExitReason.ABNORMAL), 1).state
    assert state.lifecycle is lifecycle
    return Supervision(state=state)


def test_a_new_root_starts():
    events, _ = control_events(facts(generation=1, observed=None), supervision(SupervisorLifecycle.IDLE), 0)
    assert events == [Start()]


def test_a_running_root_gets_spec_changes_only_when_the_generation_moved():
    running = supervision(SupervisorLifecycle.RUNNING)
    assert control_events(facts(generation=2, observed=2), running, 5)[0] == []
    assert control_events(facts(generation=3, observed=2), running, 5)[0] == [SpecChanged()]


def test_a_failed_root_stays_failed_until_its_spec_changes():
    failed = supervision(SupervisorLifecycle.TERMINATED)
    assert control_events(facts(generation=1, observed=1), failed, 5)[0] == []
    assert control_events(facts(generation=2, observed=1), failed, 5)[0] == [Start()]


def test_a_new_reset_annotation_value_restarts_a_failed_root_once():
    failed = supervision(SupervisorLifecycle.TERMINATED)
    events, after = control_events(facts({labels.RESTART: "1"}), failed, 5)
    assert events == [Start()] and after.reset == "1"
    # the same value again (the next reconcile, or after the restart fails again) resets nothing
    assert control_events(facts({labels.RESTART: "1"}), Supervision(failed.state, reset="1"), 5)[0] == []
    assert control_events(facts({labels.RESTART: "2"}), Supervision(failed.state, reset="1"), 5)[0] == [
        Start()
    ]


def test_a_reset_value_set_while_running_is_remembered_and_does_not_reset_a_later_failure():
    events, after = control_events(facts({labels.RESTART: "x"}), supervision(SupervisorLifecycle.RUNNING), 5)
    assert events == [] and after.reset == "x"
    failed = Supervision(supervision(SupervisorLifecycle.TERMINATED).state, reset=after.reset)
    assert control_events(facts({labels.RESTART: "x"}), failed, 6)[0] == []


def with_a_failed_added_child() -> Supervision:
    """A running supervisor to which child b was added and whose first start failed."""
    state = supervision(SupervisorLifecycle.RUNNING).state
    grown = SupervisorSpec(max_restarts=0, children=(ChildSpec(name="a"), ChildSpec(name="b")))
    state = decide(grown, state, SpecChanged(), 1).state
    state = decide(grown, state, ChildStartFailed("b", 2, "ErrImagePull"), 2).state
    assert state.find("b") is not None and state.lifecycle is SupervisorLifecycle.RUNNING
    return Supervision(state=state)


def test_a_new_reset_value_retries_a_failed_added_child_of_a_running_root():
    failed_child = with_a_failed_added_child()
    events, after = control_events(facts({labels.RESTART: "1"}), failed_child, 5)
    assert events == [Start()] and after.reset == "1"
    assert control_events(facts({labels.RESTART: "1"}), after, 6)[0] == []


def test_a_new_reset_value_retries_a_failed_added_child_of_a_running_nested_supervisor_only():
    running = replace(with_a_failed_added_child(), incarnation=4)
    events, after = nested({labels.INCARNATION: "4", labels.RESTART: "r"}, running)
    assert events == [Start()] and after.reset == "r"
    # a nested supervisor is only ever started by its parent, whatever the annotation says
    assert nested({labels.RESTART: "r"}, supervision(SupervisorLifecycle.IDLE))[0] == []


@pytest.mark.parametrize(
    "lifecycle", [SupervisorLifecycle.IDLE, SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING]
)
def test_deletion_stops(lifecycle):
    assert control_events(facts(deleting=True), supervision(lifecycle), 5)[0] == [Stop()]


def test_deletion_of_a_terminated_supervisor_needs_nothing():
    assert control_events(facts(deleting=True), supervision(SupervisorLifecycle.TERMINATED), 5)[0] == []


def test_a_due_backoff_restart_ticks():
    spec = SupervisorSpec(
        backoff=Backoff(initial_seconds=10, max_seconds=60), children=(ChildSpec(name="a"),)
    )
    state = decide(spec, SupervisorState.initial(spec), Start(), 0).state
    state = decide(spec, state, ChildReady("a", 1), 0).state
    state = decide(spec, state, ChildExited("a", 1, ExitReason.ABNORMAL), 100).state
    waiting = Supervision(state)
    assert control_events(facts(), waiting, 109)[0] == []
    assert control_events(facts(), waiting, 110)[0] == [Tick()]


# --- nested supervisors ------------------------------------------------------------------------------------


def nested(
    annotations: dict[str, str], record: Supervision, generation: int = 1, observed: int = 1
) -> tuple[list[Event], Supervision]:
    return control_events(facts(annotations, generation, observed, nested=True), record, 5)


def test_a_nested_supervisor_waits_for_its_parent():
    assert nested({}, supervision(SupervisorLifecycle.IDLE)) == ([], supervision(SupervisorLifecycle.IDLE))


def test_a_nested_supervisor_starts_the_incarnation_its_parent_names():
    events, after = nested({labels.INCARNATION: "4"}, supervision(SupervisorLifecycle.IDLE))
    assert events == [Start()] and after.incarnation == 4
    # already running it: nothing more
    assert (
        nested(
            {labels.INCARNATION: "4"},
            Supervision(supervision(SupervisorLifecycle.RUNNING).state, incarnation=4),
        )[0]
        == []
    )


def test_a_new_incarnation_restarts_a_terminated_nested_supervisor():
    failed = Supervision(supervision(SupervisorLifecycle.TERMINATED).state, incarnation=4)
    assert nested({labels.INCARNATION: "4"}, failed)[0] == []
    events, after = nested({labels.INCARNATION: "9"}, failed)
    assert events == [Start()] and after.incarnation == 9


def test_a_nested_supervisor_does_not_revive_itself_on_a_spec_change():
    failed = Supervision(supervision(SupervisorLifecycle.TERMINATED).state, incarnation=4)
    assert nested({labels.INCARNATION: "4"}, failed, generation=2, observed=1)[0] == []


def test_a_running_nested_supervisor_adopts_a_newer_incarnation():
    events, after = nested(
        {labels.INCARNATION: "6"}, Supervision(supervision(SupervisorLifecycle.RUNNING).state, incarnation=4)
    )
    assert events == [] and after.incarnation == 6


def test_a_shutting_down_nested_supervisor_starts_the_new_incarnation_only_after_terminating():
    state = decide(SPEC, supervision(SupervisorLifecycle.RUNNING).state, Stop(), 0).state
    assert state.lifecycle is SupervisorLifecycle.SHUTTING_DOWN
    events, after = nested({labels.INCARNATION: "6"}, Supervision(state, incarnation=4))
    assert events == [] and after.incarnation == 4


def test_the_parent_stops_the_current_incarnation():
    running = Supervision(supervision(SupervisorLifecycle.RUNNING).state, incarnation=4)
    assert nested({labels.INCARNATION: "4", labels.STOP: "3"}, running)[0] == []
    assert nested({labels.INCARNATION: "4", labels.STOP: "4"}, running)[0] == [Stop()]


def test_an_incarnation_stopped_before_it_started_never_starts():
    events, after = nested({labels.INCARNATION: "4", labels.STOP: "4"}, supervision(SupervisorLifecycle.IDLE))
    assert events == [] and after.incarnation is None


def test_malformed_annotations_are_ignored():
    assert nested({labels.INCARNATION: "four"}, supervision(SupervisorLifecycle.IDLE))[0] == []
