"""Restart types (OTP do_restart): which exits lead to a restart."""

import pytest

from agent_supervisor.supervision import EventReason, ExitReason
from tests.supervision.driver import Driver, agent, supervisor


@pytest.mark.parametrize("reason", list(ExitReason))
def test_permanent_child_is_restarted_after_any_exit(reason: ExitReason):
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    sup.exit("a", reason)
    assert sup.ops() == [("start", "a")]
    assert sup.reasons() == [EventReason.CHILD_RESTARTED]


@pytest.mark.parametrize("reason", [ExitReason.NORMAL, ExitReason.SHUTDOWN])
def test_transient_child_normal_exit_is_not_restarted(reason: ExitReason):
    sup = Driver(supervisor("one_for_one", agent("a", "transient")))
    sup.start_and_settle()
    sup.exit("a", reason)
    sup.settle()
    assert sup.ops() == []
    assert sup.lifecycle_of("a") == "exited"  # stopped, but its spec is kept
    assert sup.reasons() == [EventReason.CHILD_EXITED]


def test_transient_child_abnormal_exit_is_restarted():
    sup = Driver(supervisor("one_for_one", agent("a", "transient")))
    sup.start_and_settle()
    sup.crash("a")
    assert sup.ops() == [("start", "a")]


@pytest.mark.parametrize("reason", list(ExitReason))
def test_temporary_child_is_never_restarted_and_its_spec_is_removed(reason: ExitReason):
    sup = Driver(supervisor("one_for_one", agent("a", "temporary"), "b"))
    sup.start_and_settle()
    sup.exit("a", reason)
    sup.settle()
    assert sup.ops() == []
    assert sup.lifecycle_of("a") == "removed"


def test_last_exit_is_recorded_for_status():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    sup.crash("a", exit_code=137)
    last_exit = sup.child("a").last_exit
    assert last_exit is not None
    assert (last_exit.reason, last_exit.exit_code, last_exit.attempt, last_exit.at) == (
        ExitReason.ABNORMAL,
        137,
        1,
        1000,
    )


@pytest.mark.parametrize(("restart", "restarted"), [("transient", False), ("permanent", True)])
def test_a_task_agent_ending_on_its_token_budget_is_restarted_only_when_permanent(restart, restarted):
    # Exit 3 (BudgetExhausted: maxSteps, or the per-task or hourly token budget) is a task failure, OTP's
    # {shutdown, Reason}: a transient child stays down and spends no intensity; a permanent one is restarted
    # like after any exit, and that restart counts (docs/concepts.md, Token budgets).
    from agent_runtime.exitcodes import EXIT_BUDGET_EXHAUSTED
    from agent_supervisor.translate.pod_exits import runtime_exit_reason

    sup = Driver(supervisor("one_for_one", agent("a", restart)))
    sup.start_and_settle()
    sup.exit("a", runtime_exit_reason(EXIT_BUDGET_EXHAUSTED), exit_code=EXIT_BUDGET_EXHAUSTED)
    sup.settle()
    assert (sup.ops() == [("start", "a")]) is restarted
    assert len(sup.state.restarts) == (1 if restarted else 0)
