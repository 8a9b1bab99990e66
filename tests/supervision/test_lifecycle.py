"""Starting and stopping a supervisor: order, readiness gating, shutdown policies, reset, standalone."""

from agent_supervisor.supervision import (
    ChildExited,
    EventReason,
    ExitReason,
    RestartType,
    ShutdownPolicy,
    ShutdownReason,
    ShutdownSelf,
    SupervisorLifecycle,
    SupervisorSpec,
)
from tests.supervision.driver import Driver, agent, child_supervisor, supervisor


def test_children_start_in_order_each_after_the_previous_is_ready():
    sup = Driver(supervisor("one_for_one", "a", "b", "c"))
    sup.start()
    assert sup.ops() == [("start", "a")]
    assert sup.lifecycle.value == "starting"
    sup.ready("a")
    assert sup.ops() == [("start", "a"), ("start", "b")]
    sup.ready("b")
    sup.ready("c")
    assert sup.ops() == [("start", "a"), ("start", "b"), ("start", "c")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.reasons() == [EventReason.STARTED]


def test_supervisor_without_children_is_running_at_once():
    sup = Driver(supervisor("one_for_one"))
    sup.start()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_stop_stops_children_in_reverse_start_order_one_at_a_time_then_exits():
    sup = Driver(supervisor("one_for_one", "a", "b", "c"))
    sup.start_and_settle()
    sup.stop()
    assert sup.ops() == [("stop", "c")]
    sup.settle()
    assert sup.ops() == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    assert sup.exits == [ShutdownSelf(ShutdownReason.STOP_REQUESTED)]
    assert sup.reasons() == [EventReason.STOPPED]


def test_stop_during_start_up_stops_what_was_started_and_starts_nothing_more():
    sup = Driver(supervisor("one_for_one", "a", "b", "c"))
    sup.start()
    sup.ready("a")
    sup.stop()  # b is starting
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")]
    assert sup.lifecycle is SupervisorLifecycle.TERMINATED


def test_stop_before_start_terminates_at_once():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.stop()
    assert sup.exits == [ShutdownSelf(ShutdownReason.STOP_REQUESTED)]


def test_stop_while_shutting_down_keeps_the_original_reason():
    sup = Driver(supervisor("one_for_one", "a", "b", max_restarts=0))
    sup.start_and_settle()
    sup.crash("a")
    sup.stop()
    sup.settle()
    assert sup.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_a_stop_carries_the_childs_shutdown_policy():
    spec = supervisor(
        "one_for_one",
        agent("killed", shutdown=ShutdownPolicy.brutal_kill()),
        agent("graceful", shutdown=ShutdownPolicy.timeout(30)),
        agent("worker"),
        child_supervisor("team"),
    )
    sup = Driver(spec)
    sup.start_and_settle()
    sup.stop_everything()
    policies = {op.child: op.shutdown for op in sup.log}
    assert policies == {
        "killed": ShutdownPolicy.brutal_kill(),
        "graceful": ShutdownPolicy.timeout(30),
        "worker": ShutdownPolicy.timeout(5),  # OTP's worker default
        "team": ShutdownPolicy.infinity(),  # OTP's supervisor default
    }


def test_start_after_termination_is_a_manual_reset_with_a_fresh_budget():
    sup = Driver(supervisor("one_for_one", "a", agent("t", "temporary"), max_restarts=0))
    sup.start_and_settle()
    sup.crash("t")
    sup.crash("a")
    sup.settle()
    last_attempt = sup.state.last_attempt
    sup.start()
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.state.restarts == []
    assert [sup.pods[name].attempt for name in ("a", "t")] == [last_attempt + 1, last_attempt + 2]


def test_start_while_running_changes_nothing():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    decision = sup.start()
    assert decision.actions == ()


def test_every_start_takes_a_new_attempt_number_from_one_supervisor_wide_counter():
    sup = Driver(supervisor("one_for_all", "a", "b"))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    attempts = [op.attempt for op in sup.log if op.kind == "start"]
    assert attempts == [3, 4]
    assert sup.state.last_attempt == 4


def test_standalone_agent_is_a_one_for_one_supervisor_with_one_child():
    spec = SupervisorSpec.standalone(
        "writer", restart=RestartType.TRANSIENT, max_restarts=1, period_seconds=60
    )
    assert [child.name for child in spec.children] == ["writer"]
    sup = Driver(spec)
    sup.start_and_settle()
    sup.crash("writer")
    sup.settle()
    sup.crash("writer")
    sup.settle()
    assert sup.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_standalone_task_agent_that_finishes_stays_down():
    sup = Driver(SupervisorSpec.standalone("task", restart=RestartType.TRANSIENT))
    sup.start_and_settle()
    sup.finish("task")
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.lifecycle_of("task") == "exited"


def test_child_supervisor_that_shut_itself_down_is_seen_as_a_shutdown_exit():
    sup = Driver(supervisor("one_for_one", child_supervisor("team", "transient")))
    sup.start_and_settle()
    pod = sup.pods.pop("team")
    sup.send(ChildExited(name="team", attempt=pod.attempt, reason=ExitReason.SHUTDOWN))
    assert sup.lifecycle_of("team") == "exited"
