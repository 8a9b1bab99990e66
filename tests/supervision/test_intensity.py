"""Restart intensity (OTP add_restart, restart/2): one shared history, inclusive window, checked first."""

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.supervision import (
    EventReason,
    ShutdownReason,
    ShutdownSelf,
    SupervisorLifecycle,
    budget_left,
    restarts_in_window,
)
from agent_supervisor.supervision.intensity import record_restart, within_intensity
from tests.supervision.driver import Driver, agent, supervisor


def test_restart_within_intensity_goes_ahead():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=2, period_seconds=5))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    sup.crash("a")
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "a")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_restart_exceeding_intensity_is_never_attempted():
    sup = Driver(supervisor("one_for_one", "a", "b", max_restarts=2, period_seconds=5))
    sup.start_and_settle()
    for _ in range(2):
        sup.crash("a")
        sup.settle()
    sup.log.clear()
    sup.crash("a")
    assert ("start", "a") not in sup.ops()
    assert EventReason.INTENSITY_EXCEEDED in sup.reasons()
    assert sup.lifecycle is SupervisorLifecycle.SHUTTING_DOWN


def test_restart_history_is_shared_by_all_children():
    sup = Driver(supervisor("one_for_one", "a", "b", "c", max_restarts=2, period_seconds=5))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    sup.crash("b")
    sup.settle()
    sup.crash("c")
    assert sup.state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY


def test_intensity_window_is_inclusive():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=1, period_seconds=5))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    sup.advance(5)  # the first restart is exactly `period` seconds old: it still counts
    sup.crash("a")
    assert sup.state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY


def test_restarts_older_than_the_period_do_not_count():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=1, period_seconds=5))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    sup.advance(6)
    sup.crash("a")
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.state.restarts == [1006]


def test_max_restarts_zero_means_the_first_restart_escalates():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=0))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    assert sup.ops() == []
    assert sup.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_exceeding_intensity_stops_remaining_children_in_reverse_order_one_at_a_time():
    sup = Driver(supervisor("one_for_one", "a", "b", "c", "d", max_restarts=0))
    sup.start_and_settle()
    sup.crash("b")
    assert sup.ops() == [("stop", "d")]
    assert sup.exits == []
    sup.complete_stop("d")
    assert sup.ops() == [("stop", "d"), ("stop", "c")]
    sup.complete_stop("c")
    sup.complete_stop("a")
    assert sup.ops() == [("stop", "d"), ("stop", "c"), ("stop", "a")]
    assert sup.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]
    assert sup.lifecycle is SupervisorLifecycle.TERMINATED
    assert sup.reasons()[-1] is EventReason.ESCALATED


def test_permanent_child_normal_exit_counts_toward_intensity():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=1))
    sup.start_and_settle()
    sup.finish("a")
    sup.settle()
    sup.finish("a")
    assert sup.state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY


def test_transient_child_abnormal_exit_counts_toward_intensity():
    sup = Driver(supervisor("one_for_one", agent("a", "transient"), max_restarts=0))
    sup.start_and_settle()
    sup.crash("a")
    assert sup.state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY


def test_transient_child_normal_exit_does_not_count_toward_intensity():
    sup = Driver(supervisor("one_for_one", agent("a", "transient"), max_restarts=0))
    sup.start_and_settle()
    sup.finish("a")
    assert sup.state.restarts == []
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_temporary_child_exit_does_not_count_toward_intensity():
    sup = Driver(supervisor("one_for_one", agent("a", "temporary"), agent("b", "temporary"), max_restarts=0))
    sup.start_and_settle()
    sup.crash("a")
    sup.finish("b")
    assert sup.state.restarts == []
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_group_restart_counts_once():
    sup = Driver(supervisor("one_for_all", "a", "b", "c", max_restarts=1))
    sup.start_and_settle()
    sup.crash("b")
    sup.settle()
    assert sup.state.restarts == [1000]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_siblings_stopped_in_a_group_restart_do_not_count():
    sup = Driver(supervisor("rest_for_one", "a", "b", "c", max_restarts=1))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    assert len(sup.state.restarts) == 1
    assert [sup.child(name).restarts for name in "abc"] == [1, 0, 0]


def test_restarts_in_window_reports_the_budget_used_at_a_given_time():
    history = [1010, 1005, 1001]
    assert restarts_in_window(history, now=1010, period_seconds=5) == 2
    assert restarts_in_window(history, now=1020, period_seconds=5) == 0


def test_record_restart_trims_the_history_to_the_window_and_puts_the_newest_first():
    assert record_restart([1004, 1000, 990], now=1005, period_seconds=5) == [1005, 1004, 1000]
    assert within_intensity([1005, 1004, 1000], max_restarts=3)
    assert not within_intensity([1005, 1004, 1000], max_restarts=2)


def test_budget_left_is_what_the_window_leaves_of_the_intensity():
    history = [1010, 1005, 1001]
    assert budget_left(history, now=1010, max_restarts=3, period_seconds=5) == 1
    assert budget_left(history, now=1020, max_restarts=3, period_seconds=5) == 3
    assert budget_left(history, now=1010, max_restarts=1, period_seconds=10) == 0


@given(
    st.lists(st.integers(0, 100), max_size=10).map(lambda xs: sorted(xs, reverse=True)),
    st.integers(0, 200),
    st.integers(0, 5),
    st.integers(1, 50),
)
def test_budget_left_never_goes_below_zero_and_refills_once_the_window_has_passed(
    history, now, max_restarts, period
):
    left = budget_left(history, now, max_restarts, period)
    assert 0 <= left <= max_restarts
    # A restart more (recorded at `now`) takes one from a budget that had some left.
    after = budget_left(record_restart(history, now, period), now, max_restarts, period)
    assert after == max(0, left - 1)
    assert budget_left(history, now + period + 101, max_restarts, period) == max_restarts
