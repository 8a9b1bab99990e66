"""Properties of spec edits (the dynamic-children API) over random sequences of edits, failures and time.

Edits alone never count as restarts and touch one child at a time; with failures mixed in, the supervisor
still converges on the final spec once the world calms down (an added child whose start failed waits for the
next edit, which starts it).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.supervision import (
    ExitReason,
    RestartType,
    Strategy,
    SupervisorLifecycle,
    SupervisorSpec,
)
from tests.supervision.driver import Driver, agent, supervisor
from tests.supervision.profiles import PROFILE

RESTART_OF = {
    "a": RestartType.PERMANENT,
    "b": RestartType.TRANSIENT,
    "c": RestartType.PERMANENT,
    "d": RestartType.TEMPORARY,
    "e": RestartType.PERMANENT,
}
STEPS = 60


@st.composite
def edited_specs(draw: st.DrawFn, strategy: Strategy) -> SupervisorSpec:
    """A spec over a pool of children: any subset, in any order, each at any template version."""
    names = draw(st.lists(st.sampled_from(sorted(RESTART_OF)), unique=True, max_size=len(RESTART_OF)))
    children = [agent(name, RESTART_OF[name], template=draw(st.sampled_from(["v1", "v2"]))) for name in names]
    return supervisor(strategy, *children, max_restarts=2, period_seconds=5)


def play(sup: Driver, data: st.DataObject, strategy: Strategy, *, failures: bool) -> None:
    sup.start()
    for _ in range(data.draw(st.integers(0, STEPS), label="steps")):
        options = [("edit", ""), ("tick", "")]
        for name, pod in sup.pods.items():
            if pod.phase == "starting":
                options += [("ready", name)] * 3 + ([("fail_start", name)] if failures else [])
            elif pod.phase == "ready":
                options += [("crash", name), ("finish", name)] if failures else []
            else:
                options += [("complete_stop", name)] * 3
        if failures and sup.lifecycle is SupervisorLifecycle.TERMINATED:
            options.append(("reset", ""))
        kind, name = data.draw(st.sampled_from(options))
        match kind:
            case "edit":
                sup.edit(data.draw(edited_specs(strategy)))
            case "tick":
                sup.advance(data.draw(st.integers(0, 6)))
            case "ready":
                sup.ready(name)
            case "fail_start":
                sup.fail_start(name)
            case "crash":
                sup.crash(name)
            case "finish":
                sup.exit(name, ExitReason.NORMAL)
            case "complete_stop":
                sup.complete_stop(name)
            case "reset":
                sup.start()
    sup.settle()


def assert_converged(sup: Driver) -> None:
    if sup.lifecycle is SupervisorLifecycle.TERMINATED:
        assert sup.pods == {}
        return
    assert sup.lifecycle is SupervisorLifecycle.RUNNING
    assert [child.name for child in sup.state.children] == [child.name for child in sup.spec.children]
    for child in sup.spec.children:
        pod = sup.pods.get(child.name)
        if pod is None:
            assert (child.restart, sup.lifecycle_of(child.name)) in {
                (RestartType.TRANSIENT, "exited"),
                (RestartType.TEMPORARY, "removed"),
            } or sup.lifecycle_of(child.name) == "start_failed", child.name
        else:
            assert (pod.phase, pod.template_hash) == ("ready", child.template_hash), child.name


@PROFILE
@given(st.sampled_from(list(Strategy)), st.data())
def test_spec_edits_alone_never_count_and_touch_one_child_at_a_time(strategy: Strategy, data: st.DataObject):
    sup = Driver(data.draw(edited_specs(strategy)), replay_pending=True)

    def one_at_a_time() -> None:
        assert [pod.phase for pod in sup.pods.values()].count("ready") >= len(sup.pods) - 1
        assert sup.state.restarts == []

    sup.on_decision = one_at_a_time
    play(sup, data, strategy, failures=False)
    assert_converged(sup)
    gone = {op.child for op in sup.log} - {child.name for child in sup.state.children}
    assert gone <= set(sup.removed), "a child that left the spec kept its objects"


@PROFILE
@given(st.sampled_from(list(Strategy)), st.data())
def test_supervisor_converges_on_the_final_spec_despite_failures(strategy: Strategy, data: st.DataObject):
    sup = Driver(data.draw(edited_specs(strategy)), replay_pending=True)
    play(sup, data, strategy, failures=True)
    assert_converged(sup)
    sup.edit(sup.spec)  # the caller tries again: added children whose start failed start now
    sup.settle()
    assert_converged(sup)
    if sup.lifecycle is SupervisorLifecycle.RUNNING:
        assert "start_failed" not in {child.lifecycle for child in sup.state.children}
