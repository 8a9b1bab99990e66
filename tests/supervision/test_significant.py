"""Significant children and auto_shutdown (OTP do_auto_shutdown)."""

from agent_supervisor.supervision import EventReason, ShutdownReason, ShutdownSelf, SupervisorLifecycle
from tests.supervision.driver import Driver, agent, supervisor


def test_any_significant_shuts_down_when_a_significant_child_exits_normally():
    sup = Driver(
        supervisor(
            "one_for_one", "a", agent("job", "transient", significant=True), auto_shutdown="any_significant"
        )
    )
    sup.start_and_settle()
    sup.finish("job")
    sup.settle()
    assert sup.ops() == [("stop", "a")]
    assert sup.exits == [ShutdownSelf(ShutdownReason.AUTO_SHUTDOWN)]
    assert EventReason.AUTO_SHUTDOWN in sup.reasons()


def test_all_significant_waits_for_the_last_significant_child():
    sup = Driver(
        supervisor(
            "one_for_one",
            agent("x", "transient", significant=True),
            agent("y", "temporary", significant=True),
            "helper",
            auto_shutdown="all_significant",
        )
    )
    sup.start_and_settle()
    sup.finish("x")
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    sup.crash("y")  # a temporary significant child ends for good on any exit
    sup.settle()
    assert sup.ops() == [("stop", "helper")]
    assert sup.state.shutdown_reason is ShutdownReason.AUTO_SHUTDOWN


def test_all_significant_counts_a_restarting_significant_child_as_alive():
    sup = Driver(
        supervisor(
            "one_for_one",
            agent("x", "transient", significant=True),
            agent("y", "transient", significant=True),
            auto_shutdown="all_significant",
            backoff={"initial_seconds": 10, "max_seconds": 10},
        )
    )
    sup.start_and_settle()
    sup.crash("y")  # y waits 10 s for its restart
    sup.finish("x")
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_crashing_transient_significant_child_is_restarted_not_shut_down():
    sup = Driver(
        supervisor(
            "one_for_one", agent("job", "transient", significant=True), auto_shutdown="any_significant"
        )
    )
    sup.start_and_settle()
    sup.crash("job")
    assert sup.ops() == [("start", "job")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_exit_of_a_non_significant_child_does_not_shut_down():
    sup = Driver(
        supervisor(
            "one_for_one",
            agent("a", "transient"),
            agent("job", "transient", significant=True),
            auto_shutdown="any_significant",
        )
    )
    sup.start_and_settle()
    sup.finish("a")
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_auto_shutdown_is_not_triggered_by_group_restart_terminations():
    sup = Driver(
        supervisor(
            "one_for_all",
            agent("t", "temporary", significant=True),
            "b",
            auto_shutdown="any_significant",
        )
    )
    sup.start_and_settle()
    sup.crash("b")
    sup.settle()
    assert sup.ops() == [("stop", "t"), ("start", "b")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.lifecycle_of("t") == "removed"


def test_auto_shutdown_is_not_triggered_by_removing_a_significant_child_from_the_spec():
    spec = supervisor(
        "one_for_one", "a", agent("job", "transient", significant=True), auto_shutdown="any_significant"
    )
    sup = Driver(spec)
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a", auto_shutdown="any_significant"))
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.removed == ["job"]


def test_auto_shutdown_does_not_count_toward_intensity():
    sup = Driver(
        supervisor(
            "one_for_one",
            agent("job", "temporary", significant=True),
            auto_shutdown="any_significant",
            max_restarts=0,
        )
    )
    sup.start_and_settle()
    sup.finish("job")
    sup.settle()
    assert sup.state.restarts == []
    assert sup.exits == [ShutdownSelf(ShutdownReason.AUTO_SHUTDOWN)]
