"""Pools, as the core sees them: a pool of N is N consecutive children `<pool>-0` .. `<pool>-<N-1>`
(translate/members.py), so scaling is adding or removing children and a member is an ordinary child.

The properties check what a pool promises: scale-up starts the new members in index order, each after the
previous is Ready; scale-down stops the highest index first, one at a time; neither touches any other child
nor counts; and a member crash restarts exactly what the strategy names, members being consecutive children
at the pool's place.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.supervision import Strategy, SupervisorSpec
from tests.supervision.driver import Driver, Op, supervisor
from tests.supervision.profiles import PROFILE

MAX_REPLICAS = 8


def members(replicas: int) -> list[str]:
    return [f"w-{index}" for index in range(replicas)]


def with_pool(strategy: Strategy, replicas: int, max_restarts: int = 3) -> SupervisorSpec:
    return supervisor(
        strategy, "head", *members(replicas), "tail", max_restarts=max_restarts, period_seconds=60
    )


def index(op: Op) -> int:
    return int(op.child.removeprefix("w-"))


@PROFILE
@given(st.sampled_from(list(Strategy)), st.integers(0, MAX_REPLICAS), st.data())
def test_scaling_starts_new_members_in_order_and_stops_the_highest_first(
    strategy: Strategy, initial: int, data: st.DataObject
):
    sup = Driver(with_pool(strategy, initial), replay_pending=True)
    sup.start_and_settle()
    replicas = initial
    checked = 0

    def scaled_in_order() -> None:
        nonlocal checked
        new = sup.log[checked:]
        checked = len(sup.log)
        for op in new:
            assert op.child.startswith("w-"), f"scaling touched {op.child}"
            if op.kind == "start":
                assert index(op) < replicas, f"started {op.child} with {replicas} replicas"
            else:
                assert index(op) >= replicas, f"stopped {op.child}, which the spec still has"
        assert sup.state.restarts == []

    sup.on_decision = scaled_in_order
    for _ in range(data.draw(st.integers(1, 30), label="steps")):
        options = [("scale", "")]
        options += [("ready", name) for name, pod in sup.pods.items() if pod.phase == "starting"]
        options += [("stopped", name) for name, pod in sup.pods.items() if pod.phase == "terminating"]
        kind, name = data.draw(st.sampled_from(options))
        match kind:
            case "scale":
                replicas = data.draw(st.integers(0, MAX_REPLICAS), label="replicas")
                sup.edit(with_pool(strategy, replicas))
            case "ready":
                sup.ready(name)
            case "stopped":
                sup.complete_stop(name)
    sup.settle()
    assert sorted(sup.running()) == sorted(["head", *members(replicas), "tail"])
    # Each run of starts (between stops) goes up by index, each run of stops goes down.
    runs: list[list[Op]] = []
    for op in sup.log:
        if runs and runs[-1][0].kind == op.kind:
            runs[-1].append(op)
        else:
            runs.append([op])
    for run in runs:
        indexes = [index(op) for op in run]
        assert indexes == (sorted(indexes) if run[0].kind == "start" else sorted(indexes, reverse=True))
        assert len(set(indexes)) == len(indexes)


def test_a_scale_up_starts_each_new_member_after_the_previous_is_ready():
    sup = Driver(with_pool(Strategy.ONE_FOR_ALL, 2))
    sup.start_and_settle()
    sup.edit(with_pool(Strategy.ONE_FOR_ALL, 5))
    assert sup.ops() == [("start", "w-2")]
    sup.ready("w-2")
    assert sup.ops()[-1] == ("start", "w-3")
    sup.settle()
    assert sup.ops() == [("start", "w-2"), ("start", "w-3"), ("start", "w-4")]


def test_a_scale_down_stops_the_highest_member_first_and_removes_each_once_stopped():
    sup = Driver(with_pool(Strategy.REST_FOR_ONE, 5))
    sup.start_and_settle()
    sup.edit(with_pool(Strategy.REST_FOR_ONE, 2))
    assert sup.ops() == [("stop", "w-4")]
    sup.complete_stop("w-4")
    assert sup.removed == ["w-4"] and sup.ops()[-1] == ("stop", "w-3")
    sup.settle()
    assert sup.ops() == [("stop", "w-4"), ("stop", "w-3"), ("stop", "w-2")]
    assert [child.name for child in sup.state.children] == ["head", "w-0", "w-1", "tail"]


@PROFILE
@given(st.sampled_from(list(Strategy)), st.integers(1, MAX_REPLICAS), st.data())
def test_a_member_crash_restarts_what_the_strategy_names(
    strategy: Strategy, replicas: int, data: st.DataObject
):
    sup = Driver(with_pool(strategy, replicas), replay_pending=True)
    sup.start_and_settle()
    crashed = f"w-{data.draw(st.integers(0, replicas - 1))}"
    sup.crash(crashed)
    sup.settle()
    order = ["head", *members(replicas), "tail"]
    affected = {
        Strategy.ONE_FOR_ONE: [crashed],
        Strategy.ONE_FOR_ALL: order,
        Strategy.REST_FOR_ONE: order[order.index(crashed) :],
    }[strategy]
    others = [name for name in affected if name != crashed]
    assert sup.ops() == [("stop", name) for name in reversed(others)] + [("start", name) for name in affected]
    assert len(sup.state.restarts) == 1
    assert sorted(sup.running()) == sorted(order)
