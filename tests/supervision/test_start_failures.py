"""Start failures (OTP init_children, try_again_restart): a failed start-up aborts; restarts are retried."""

from agent_supervisor.supervision import (
    ChildExited,
    EventReason,
    ExitReason,
    ShutdownReason,
    ShutdownSelf,
    SupervisorLifecycle,
)
from tests.supervision.driver import Driver, agent, supervisor


def test_initial_start_failure_stops_started_children_in_reverse_and_fails_to_start():
    sup = Driver(supervisor("one_for_one", "a", "b", "c", "d", max_restarts=0))
    sup.start()
    sup.ready("a")
    sup.ready("b")
    sup.fail_start("c")
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "b"), ("start", "c"), ("stop", "b"), ("stop", "a")]
    assert sup.exits == [ShutdownSelf(ShutdownReason.FAILED_TO_START_CHILD)]
    assert sup.state.restarts == []  # nothing counts toward intensity
    assert sup.lifecycle_of("d") == "pending"  # later children never start
    assert sup.reasons() == [EventReason.CHILD_START_FAILED, EventReason.FAILED_TO_START]


def test_abnormal_exit_before_ready_is_a_failed_start():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start()
    sup.crash("a")
    assert sup.state.shutdown_reason is ShutdownReason.FAILED_TO_START_CHILD
    last_exit = sup.child("a").last_exit
    assert last_exit is not None and last_exit.start_failed


def test_normal_exit_before_ready_counts_as_started_then_exited():
    sup = Driver(supervisor("one_for_one", agent("a", "transient"), "b"))
    sup.start()
    sup.finish("a")  # a quick task can finish before its readiness probe ever passes
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "b")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.lifecycle_of("a") == "exited"


def test_failed_restart_is_retried_and_each_retry_counts():
    sup = Driver(supervisor("one_for_one", "a", "b", max_restarts=3))
    sup.start_and_settle()
    sup.crash("a")
    sup.fail_start("a")
    sup.fail_start("a")
    sup.settle()
    assert sup.ops() == [("start", "a")] * 3
    assert len(sup.state.restarts) == 3
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_child_that_can_never_start_exhausts_the_budget_and_escalates():
    sup = Driver(supervisor("one_for_one", "a", "b", max_restarts=3))
    sup.start_and_settle()
    sup.crash("a")
    while "a" in sup.pods:
        sup.fail_start("a")
    sup.settle()
    assert sup.ops() == [("start", "a")] * 3 + [("stop", "b")]
    assert sup.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_failed_start_during_one_for_all_restart_runs_the_whole_group_again():
    sup = Driver(supervisor("one_for_all", "a", "b", "c"))
    sup.start_and_settle()
    sup.crash("a")
    sup.complete_stop("c")
    sup.complete_stop("b")
    sup.ready("a")
    sup.log.clear()
    sup.fail_start("b")  # a was already restarted: one_for_all stops it again and starts everything
    sup.settle()
    assert sup.ops() == [("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")]
    assert len(sup.state.restarts) == 2


def test_failed_start_during_rest_for_one_restart_retries_from_the_failing_child():
    sup = Driver(supervisor("rest_for_one", "a", "b", "c", "d"))
    sup.start_and_settle()
    sup.crash("b")
    sup.complete_stop("d")
    sup.complete_stop("c")
    sup.ready("b")
    sup.log.clear()
    sup.fail_start("c")  # b keeps running; c and the children after it start again
    sup.settle()
    assert sup.ops() == [("start", "c"), ("start", "d")]
    assert len(sup.state.restarts) == 2


def test_start_failure_of_a_child_being_stopped_completes_its_stop():
    sup = Driver(supervisor("one_for_all", "a", "b"))
    sup.start_and_settle()
    sup.crash("a")
    sup.complete_stop("b")
    sup.ready("a")
    sup.crash("a")  # b is starting and will be stopped
    sup.log.clear()
    pod = sup.pods.pop("b")
    sup.send(ChildExited(name="b", attempt=pod.attempt, reason=ExitReason.ABNORMAL))
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "b")]
    assert len(sup.state.restarts) == 2
