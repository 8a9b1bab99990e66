"""A child added by a spec change whose first start fails (OTP: start_child returns an error).

The supervisor and its other children carry on; nothing is counted; the child waits, `start_failed`, for the
caller to try again: the next spec change or a manual reset. Children present when the supervisor starts keep
OTP's init semantics (test_start_failures.py).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.supervision import (
    EventReason,
    ShutdownReason,
    Strategy,
    SupervisorLifecycle,
)
from tests.supervision.driver import Driver, agent, supervisor
from tests.supervision.profiles import PROFILE


def added(strategy: str, *names: str, max_restarts: int = 0) -> tuple[Driver, list[str]]:
    """A running supervisor of a, b, c to which `names` were just added (the first one is starting)."""
    sup = Driver(supervisor(strategy, "a", "b", "c", max_restarts=max_restarts))
    sup.start_and_settle()
    sup.edit(supervisor(strategy, "a", "b", "c", *names, max_restarts=max_restarts))
    return sup, ["a", "b", "c"]


def test_failed_first_start_of_an_added_child_counts_nothing_and_stops_nobody():
    sup, others = added("one_for_all", "d")
    attempts = {name: sup.pods[name].attempt for name in others}
    sup.fail_start("d", "ErrImagePull: no such image")
    sup.settle()
    assert sup.ops() == [("start", "d")]
    assert sup.state.restarts == []
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert {name: pod.attempt for name, pod in sup.pods.items()} == attempts
    assert sup.lifecycle_of("d") == "start_failed"
    assert sup.child("d").restarts == 0
    last_exit = sup.child("d").last_exit
    assert last_exit is not None and last_exit.start_failed
    failure = [event for *_, event in sup.emitted if event.reason is EventReason.CHILD_START_FAILED]
    assert len(failure) == 1 and "child d" in failure[0].message and "ErrImagePull" in failure[0].message
    assert sup.reasons().count(EventReason.GROUP_RESTARTED) == 0


def test_abnormal_exit_of_an_added_child_before_ready_is_a_failed_first_start():
    sup, _ = added("rest_for_one", "d")
    sup.crash("d")
    sup.settle()
    assert sup.lifecycle_of("d") == "start_failed"
    assert sup.state.restarts == []


def test_later_added_children_still_start_after_one_failed():
    sup, _ = added("one_for_one", "d", "e")
    sup.fail_start("d")
    sup.settle()
    assert sup.ops() == [("start", "d"), ("start", "e")]
    assert sup.lifecycle_of("e") == "running"


def test_an_added_child_whose_start_failed_is_retried_on_the_next_spec_change():
    sup, _ = added("one_for_all", "d")
    sup.fail_start("d")
    sup.settle()
    sup.edit(supervisor("one_for_all", "a", "b", "c", agent("d", template="v2"), max_restarts=0))
    sup.settle()
    assert sup.ops() == [("start", "d"), ("start", "d")]
    assert sup.pods["d"].template_hash == "v2"
    assert sup.state.restarts == []


def test_an_added_child_whose_start_failed_is_retried_on_a_manual_reset():
    sup, _ = added("one_for_one", "d")
    sup.fail_start("d")
    sup.settle()
    sup.start()  # the reset annotation on a running supervisor
    sup.settle()
    assert sup.ops() == [("start", "d"), ("start", "d")]
    assert sup.lifecycle_of("d") == "running"


def test_an_added_child_that_fails_again_on_retry_stays_uncounted():
    sup, _ = added("one_for_all", "d")
    sup.fail_start("d")
    sup.start()
    sup.fail_start("d")
    sup.settle()
    assert sup.lifecycle_of("d") == "start_failed"
    assert sup.state.restarts == []
    assert sup.reasons().count(EventReason.CHILD_START_FAILED) == 2


def test_an_added_child_whose_start_failed_is_left_out_of_group_restarts():
    sup, _ = added("one_for_all", "d", max_restarts=1)
    sup.fail_start("d")
    sup.settle()
    sup.log.clear()
    sup.crash("a")
    sup.settle()
    assert sup.ops() == [("stop", "c"), ("stop", "b"), ("start", "a"), ("start", "b"), ("start", "c")]
    assert sup.lifecycle_of("d") == "start_failed"
    assert len(sup.state.restarts) == 1


def test_an_added_child_started_by_a_group_restart_that_fails_leaves_the_group_going():
    sup = Driver(supervisor("one_for_all", "a", "b", max_restarts=1))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_all", "a", "b", "c", max_restarts=1))  # c starting
    sup.crash("a")  # the group restart stops c and b, then starts a, b, c
    sup.complete_stop("c")
    sup.complete_stop("b")
    sup.ready("a")
    sup.ready("b")
    sup.fail_start("c")
    sup.settle()
    assert sup.lifecycle_of("c") == "start_failed"
    assert sorted(sup.running()) == ["a", "b"]
    assert len(sup.state.restarts) == 1  # a's crash, nothing for c


def test_an_added_child_that_was_ready_once_is_an_ordinary_child():
    sup, _ = added("one_for_one", "d", max_restarts=1)
    sup.settle()
    sup.crash("d")
    sup.fail_start("d")  # now a failed restart: counted, and the intensity is exceeded
    sup.settle()
    assert sup.state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY


def test_an_added_child_whose_start_failed_can_be_removed_from_the_spec():
    sup, _ = added("one_for_one", "d")
    sup.fail_start("d")
    sup.edit(supervisor("one_for_one", "a", "b", "c", max_restarts=0))
    assert sup.removed == ["d"]
    assert [child.name for child in sup.state.children] == ["a", "b", "c"]


def test_a_child_added_during_start_up_that_fails_does_not_fail_the_supervisor():
    sup = Driver(supervisor("one_for_all", "a", "b", max_restarts=0))
    sup.start()
    sup.edit(supervisor("one_for_all", "a", "b", "c", max_restarts=0))
    sup.ready("a")
    sup.ready("b")
    sup.fail_start("c")
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert sup.lifecycle_of("c") == "start_failed"


def test_a_reset_of_a_terminated_supervisor_starts_a_failed_added_child_as_part_of_init():
    sup, _ = added("one_for_one", "d")
    sup.fail_start("d")
    sup.stop_everything()
    sup.start()
    sup.ready("a")
    sup.ready("b")
    sup.ready("c")
    sup.fail_start("d")  # now a child present at the start: OTP's init semantics
    sup.settle()
    assert sup.state.shutdown_reason is ShutdownReason.FAILED_TO_START_CHILD


# --- the property ------------------------------------------------------------------------------------------

ORIGINAL = ("a", "b", "c")
EXTRA = ("d", "e", "f")


@PROFILE
@given(st.sampled_from(list(Strategy)), st.integers(0, 2), st.data())
def test_a_failing_added_child_never_changes_the_intensity_window_nor_stops_another_child(
    strategy: Strategy, max_restarts: int, data: st.DataObject
):
    """Children are added anywhere in the list, and their starts fail or succeed at random; the operator may
    crash between deciding and acting, and the caller retries by editing or resetting. The window stays
    empty, nothing is ever stopped, and the original children keep their first incarnation."""
    order = list(ORIGINAL)
    sup = Driver(supervisor(strategy, *order, max_restarts=max_restarts), replay_pending=True)
    sup.start_and_settle()
    first = {name: pod.attempt for name, pod in sup.pods.items()}

    def never_counted_nor_stopped() -> None:
        assert sup.state.restarts == []
        assert [op for op in sup.log if op.kind == "stop"] == []
        assert {name: sup.pods[name].attempt for name in ORIGINAL} == first
        assert sup.lifecycle is SupervisorLifecycle.RUNNING

    sup.on_decision = never_counted_nor_stopped
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        missing = [name for name in EXTRA if name not in order]
        options = [("tick", ""), ("retry_by_edit", ""), ("retry_by_reset", "")]
        options += [("add", name) for name in missing]
        for name, pod in sup.pods.items():
            if pod.phase == "starting":
                options += [("ready", name), ("fail_start", name), ("crash_before_ready", name)]
        kind, name = data.draw(st.sampled_from(options))
        sup.lose_next_actions = data.draw(st.integers(0, 9)) == 0
        match kind:
            case "add":
                order.insert(data.draw(st.integers(0, len(order))), name)
                sup.edit(supervisor(strategy, *order, max_restarts=max_restarts))
            case "ready":
                sup.ready(name)
            case "fail_start":
                sup.fail_start(name, "ErrImagePull")
            case "crash_before_ready":
                sup.crash(name)
            case "tick":
                sup.advance(data.draw(st.integers(0, 8)))
            case "retry_by_edit":
                sup.edit(sup.spec)
            case "retry_by_reset":
                sup.start()
    sup.lose_next_actions = False
    sup.edit(sup.spec)
    sup.settle()
    assert sorted(sup.running()) == sorted(order), "a retry without failures starts every added child"


def test_a_replacement_whose_start_fails_counts_nothing_and_waits_for_the_next_spec_change():
    """A changed template is OTP's terminate_child + delete_child + start_child of the new spec."""
    sup = Driver(supervisor("one_for_all", "a", "b", "c", max_restarts=0))
    sup.start_and_settle()
    untouched = {name: sup.pods[name].attempt for name in ("a", "c")}
    sup.edit(supervisor("one_for_all", "a", agent("b", template="v2"), "c", max_restarts=0))
    sup.complete_stop("b")
    sup.fail_start("b", "ErrImagePull: no such image")
    sup.settle()
    assert sup.lifecycle is SupervisorLifecycle.RUNNING, "the supervisor carries on"
    assert sup.state.restarts == []
    assert sup.lifecycle_of("b") == "start_failed"
    assert {name: sup.pods[name].attempt for name in ("a", "c")} == untouched
    assert sup.reasons().count(EventReason.GROUP_RESTARTED) == 0
    sup.edit(supervisor("one_for_all", "a", agent("b", template="v3"), "c", max_restarts=0))
    sup.settle()
    assert sup.lifecycle_of("b") == "running", "the next spec change tries again"
