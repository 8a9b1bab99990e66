"""Strategies (OTP restart/3, restart_multiple_children): which siblings a restart takes along, and when."""

from agent_supervisor.supervision import EventReason, ShutdownPolicy, SupervisorLifecycle
from tests.supervision.driver import Driver, agent, supervisor


def test_one_for_one_restarts_only_the_failed_child():
    sup = Driver(supervisor("one_for_one", "a", "b", "c"))
    sup.start_and_settle()
    sup.crash("b")
    sup.settle()
    assert sup.ops() == [("start", "b")]
    assert sorted(sup.running()) == ["a", "b", "c"]


def test_one_for_one_restarts_of_different_children_do_not_wait_for_each_other():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.crash("a")
    sup.crash("b")  # a's new incarnation is not Ready yet
    assert sup.ops() == [("start", "a"), ("start", "b")]


def test_one_for_all_stops_the_others_in_reverse_order_then_starts_all_in_order():
    sup = Driver(supervisor("one_for_all", "a", "b", "c", "d"))
    sup.start_and_settle()
    sup.crash("b")
    sup.settle()
    assert sup.ops() == [
        ("stop", "d"),
        ("stop", "c"),
        ("stop", "a"),
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("start", "d"),
    ]
    assert sup.reasons() == [EventReason.GROUP_RESTARTED]


def test_group_restart_stops_one_at_a_time_and_starts_each_after_the_previous_is_ready():
    sup = Driver(supervisor("one_for_all", "a", "b", "c"))
    sup.start_and_settle()
    sup.crash("a")
    assert sup.ops() == [("stop", "c")]
    sup.complete_stop("c")
    assert sup.ops()[-1] == ("stop", "b")
    sup.complete_stop("b")
    assert sup.ops()[-1] == ("start", "a")
    sup.ready("a")
    assert sup.ops()[-1] == ("start", "b")
    sup.ready("b")
    assert sup.ops()[-1] == ("start", "c")


def test_a_run_of_brutal_kills_is_sent_at_once_in_reverse_order_and_starts_wait_for_every_exit():
    kill = ShutdownPolicy.brutal_kill()
    sup = Driver(supervisor("one_for_all", *(agent(name, shutdown=kill) for name in "abcd")))
    sup.start_and_settle()
    sup.crash("b")
    assert sup.ops() == [("stop", "d"), ("stop", "c"), ("stop", "a")]
    sup.complete_stop("c")
    sup.complete_stop("a")
    assert sup.ops()[-1] == ("stop", "a"), "no start before every kill is reported"
    sup.complete_stop("d")
    assert sup.ops()[-1] == ("start", "a")
    sup.ready("a")
    assert sup.ops()[-1] == ("start", "b")


def test_a_child_with_a_grace_period_is_stopped_alone_after_the_kills_before_it():
    kill = ShutdownPolicy.brutal_kill()
    sup = Driver(
        supervisor(
            "one_for_all",
            agent("a", shutdown=kill),
            agent("b", shutdown=ShutdownPolicy.timeout(5)),
            agent("c", shutdown=kill),
            agent("d", shutdown=kill),
            agent("e", shutdown=kill),
        )
    )
    sup.start_and_settle()
    sup.crash("e")
    assert sup.ops() == [("stop", "d"), ("stop", "c")]
    sup.complete_stop("d")
    sup.complete_stop("c")
    assert sup.ops()[-1] == ("stop", "b")
    sup.complete_stop("b")
    assert sup.ops()[-1] == ("stop", "a"), "the kills after a graceful stop wait for it"
    sup.complete_stop("a")
    assert sup.ops()[-1] == ("start", "a")


def test_one_for_all_stops_and_removes_temporary_children():
    sup = Driver(supervisor("one_for_all", "a", agent("t", "temporary"), "c"))
    sup.start_and_settle()
    sup.crash("c")
    sup.settle()
    assert sup.ops() == [("stop", "t"), ("stop", "a"), ("start", "a"), ("start", "c")]
    assert sup.lifecycle_of("t") == "removed"


def test_one_for_all_brings_back_a_transient_child_that_had_exited_normally():
    sup = Driver(supervisor("one_for_all", "a", agent("b", "transient"), "c"))
    sup.start_and_settle()
    sup.finish("b")
    sup.crash("c")
    sup.settle()
    assert sup.ops() == [("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")]


def test_rest_for_one_restarts_the_failed_child_and_those_after_it():
    sup = Driver(supervisor("rest_for_one", "a", "b", "c", "d"))
    sup.start_and_settle()
    sup.crash("b")
    sup.settle()
    assert sup.ops() == [("stop", "d"), ("stop", "c"), ("start", "b"), ("start", "c"), ("start", "d")]


def test_rest_for_one_leaves_earlier_children_untouched():
    sup = Driver(supervisor("rest_for_one", "a", "b", "c"))
    sup.start_and_settle()
    attempt_of_a = sup.pods["a"].attempt
    sup.crash("c")
    sup.settle()
    assert sup.ops() == [("start", "c")]
    assert sup.pods["a"].attempt == attempt_of_a


def test_group_strategies_run_only_for_exits_that_trigger_a_restart():
    sup = Driver(supervisor("one_for_all", "a", agent("b", "transient"), agent("t", "temporary")))
    sup.start_and_settle()
    sup.finish("b")
    sup.crash("t")
    sup.settle()
    assert sup.ops() == []
    assert sup.state.restarts == []


def test_child_that_dies_while_waiting_to_be_stopped_in_a_group_restart_is_just_stopped():
    sup = Driver(supervisor("one_for_all", "a", "b", "c", max_restarts=1))
    sup.start_and_settle()
    sup.crash("c")
    assert sup.ops() == [("stop", "b")]
    sup.crash("a")  # its stop was planned: not counted, not a second group restart
    sup.settle()
    assert sup.ops() == [("stop", "b"), ("start", "a"), ("start", "b"), ("start", "c")]
    assert sup.state.restarts == [1000]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_crash_of_a_restarted_child_during_the_start_phase_restarts_the_group_again():
    sup = Driver(supervisor("one_for_all", "a", "b", "c"))
    sup.start_and_settle()
    sup.crash("c")
    sup.complete_stop("b")
    sup.complete_stop("a")
    sup.ready("a")
    sup.log.clear()
    sup.crash("a")  # b is starting: it is stopped, then everything starts again in order
    sup.settle()
    assert sup.ops() == [("stop", "b"), ("start", "a"), ("start", "b"), ("start", "c")]
    assert len(sup.state.restarts) == 2


def test_a_group_restart_counts_once_and_only_for_the_failed_child():
    """What status.totalRestarts and children[].restarts report (docs/supervision.md, strategies)."""
    for strategy in ("one_for_all", "rest_for_one"):
        sup = Driver(supervisor(strategy, "a", "b", "c"))
        sup.start_and_settle()
        attempts = {name: sup.state.find(name).attempt for name in "abc"}
        sup.crash("b")
        sup.settle()
        restarted = {name for _, name in sup.ops() if name != "b"}
        assert restarted == ({"a", "c"} if strategy == "one_for_all" else {"c"})
        assert {name: sup.state.find(name).restarts for name in "abc"} == {"a": 0, "b": 1, "c": 0}
        assert all(sup.state.find(name).attempt > attempts[name] for name in restarted | {"b"})
        assert len(sup.state.restarts) == 1, "one restart in the intensity window"
