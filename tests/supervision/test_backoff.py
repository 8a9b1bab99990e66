"""Restart backoff: an intentional extension over OTP (off by default), expressed as WaitUntil + Tick."""

import pytest
from pydantic import ValidationError

from agent_supervisor.supervision import Backoff, WaitUntil
from agent_supervisor.supervision.backoff import restart_delay
from tests.supervision.driver import Driver, supervisor

BACKOFF = {"initial_seconds": 1, "max_seconds": 4}


def test_backoff_is_off_by_default_so_restarts_are_immediate():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    decision = sup.crash("a")
    assert sup.ops() == [("start", "a")]
    assert not any(isinstance(action, WaitUntil) for action in decision.actions)


def test_backoff_delays_consecutive_restarts_exponentially_up_to_the_cap():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=10, period_seconds=100, backoff=BACKOFF))
    sup.start_and_settle()
    delays = []
    for _ in range(4):
        crashed_at = sup.now
        sup.crash("a")
        sup.settle()
        delays.append(sup.log[-1].at - crashed_at)
    assert delays == [1, 2, 4, 4]


def test_early_tick_does_not_start_a_restart_before_its_backoff():
    sup = Driver(supervisor("one_for_one", "a", backoff={"initial_seconds": 3, "max_seconds": 10}))
    sup.start_and_settle()
    decision = sup.crash("a")
    assert WaitUntil(at=1003) in decision.actions
    sup.advance(2)
    assert sup.ops() == []
    sup.advance(1)
    assert sup.ops() == [("start", "a")]


def test_backoff_streak_resets_after_the_child_stayed_ready_for_max_seconds():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=10, period_seconds=100, backoff=BACKOFF))
    sup.start_and_settle()
    sup.crash("a")
    sup.settle()
    sup.crash("a")
    sup.settle()
    assert sup.child("a").backoff_streak == 2
    sup.advance(4)  # Ready for max_seconds: the next crash starts a fresh streak
    crashed_at = sup.now
    sup.crash("a")
    sup.settle()
    assert sup.log[-1].at - crashed_at == 1


def test_backoff_delays_the_failed_child_of_a_group_restart():
    sup = Driver(supervisor("one_for_all", "a", "b", backoff={"initial_seconds": 5, "max_seconds": 5}))
    sup.start_and_settle()
    sup.crash("b")
    sup.complete_stop("a")
    sup.ready("a")
    assert sup.ops() == [("stop", "a"), ("start", "a")]
    sup.settle()
    assert sup.log[-1].child == "b" and sup.log[-1].at == 1005


def test_failed_restart_retries_back_off_too():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=10, period_seconds=100, backoff=BACKOFF))
    sup.start_and_settle()
    sup.crash("a")
    sup.advance(1)
    assert sup.ops() == [("start", "a")]
    sup.fail_start("a")  # never Ready, so the streak goes on: the retry waits 2 s
    sup.advance(1)
    assert sup.ops() == [("start", "a")]
    sup.advance(1)
    assert sup.ops() == [("start", "a"), ("start", "a")]


def test_restart_delay_doubles_from_initial_and_stops_at_max():
    backoff = Backoff(initial_seconds=2, max_seconds=60)
    assert [restart_delay(backoff, streak) for streak in (1, 2, 3, 4, 5, 6, 100)] == [2, 4, 8, 16, 32, 60, 60]


def test_backoff_max_below_initial_is_rejected_naming_both_fields():
    with pytest.raises(ValidationError, match=r"backoff\.max_seconds .* below backoff\.initial_seconds"):
        Backoff(initial_seconds=10, max_seconds=5)
