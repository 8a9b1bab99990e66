"""Chains of starts in place (controller/reconciler.py `_chain`): the pure rules that make them safe.

A chain starts a group's children one after the other in one reconcile and writes the status once at the end.
An operator that dies in between leaves a status that records only the chain's first start. These tests replay
such a status against what the pods report, as the next operator would.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.incarnation_protocol import IncarnationState
from agent_supervisor.supervision import (
    ChildLifecycle,
    ChildSpec,
    RestartType,
    ShutdownPolicy,
    StartChild,
    StopChild,
    Strategy,
    SupervisorSpec,
    SupervisorState,
    pending_actions,
)
from agent_supervisor.translate import in_place, incarnations, triggers
from agent_supervisor.translate.observe import leftover_pods, observe
from agent_supervisor.translate.step import decide_all
from agent_supervisor.translate.stored_supervision import Supervision
from tests.translate.test_in_place import DEADLINE, T0, ended, host, report

NAMES = ("a", "b", "c")
FACTS = triggers.ResourceFacts(
    annotations={}, generation=1, observed_generation=1, deleting=False, nested=False
)


def spec(
    strategy: Strategy = Strategy.ONE_FOR_ALL, restart: RestartType = RestartType.PERMANENT
) -> SupervisorSpec:
    return SupervisorSpec(
        strategy=strategy,
        max_restarts=10,
        children=tuple(
            ChildSpec(name=n, template_hash="h1", restart=restart, shutdown=ShutdownPolicy.brutal_kill())
            for n in NAMES
        ),
    )


class Cluster:
    """Three agent pods with pod supervisors (created for attempts 1, 2, 3) and what they report."""

    def __init__(self) -> None:
        self.pods = [host(n, i + 1) for i, n in enumerate(NAMES)]
        self.reports: dict[str, IncarnationState] = {}

    def run(self, child: str, attempt: int, phase: str = "Ready", *exits: Any) -> None:
        self.reports[f"uid-{child}-{NAMES.index(child) + 1}"] = report(attempt, phase, *exits)

    def observed(self) -> Any:
        return observe(self.pods, (), self.reports)


def settle(sup: SupervisorSpec, state: SupervisorState, cluster: Cluster) -> SupervisorState:
    supervision, _ = decide_all(
        sup, Supervision(state), FACTS, cluster.observed(), T0, start_deadline_seconds=DEADLINE
    )
    return supervision.state


def group_restart_begun() -> tuple[SupervisorSpec, SupervisorState, Cluster]:
    """a, b, c ran as 1, 2, 3; a crashed, the group was stopped, and a's new incarnation 4 was started: the
    state the status holds when a chain of starts begins (the one write before it)."""
    sup = spec()
    cluster = Cluster()
    state = SupervisorState.initial(sup)
    for i, name in enumerate(NAMES):
        cluster.run(name, i + 1)
    state = settle(sup, state, cluster)
    assert [(c.attempt, c.lifecycle) for c in state.children] == [
        (i + 1, ChildLifecycle.RUNNING) for i in range(3)
    ]
    cluster.run("a", 1, "Exited", ended(1, 1, "Crashed", "boom"))
    state = settle(sup, state, cluster)
    cluster.run("b", 2, "Exited", ended(2, 137, "Killed", stopped=True, signal=9))
    cluster.run("c", 3, "Exited", ended(3, 137, "Killed", stopped=True, signal=9))
    state = settle(sup, state, cluster)
    assert [(c.name, c.attempt, c.lifecycle) for c in state.children] == [
        ("a", 4, ChildLifecycle.STARTING),
        ("b", 2, ChildLifecycle.STOPPED),
        ("c", 3, ChildLifecycle.STOPPED),
    ]
    return sup, state, cluster


def test_each_ready_start_in_place_chains_the_next_one():
    sup, state, cluster = group_restart_begun()
    observed = cluster.observed()
    chain = in_place.chained_starts(state, observed, pending_actions(state))
    assert chain is not None and [(s.name, s.attempt) for s, _ in chain] == [("a", 4)]

    cluster.run("a", 4, "Starting")
    assert settle(sup, state, cluster) == state, "nothing to do until a is Ready"
    cluster.run("a", 4, "Ready")
    state = settle(sup, state, cluster)
    chain = in_place.chained_starts(state, cluster.observed(), pending_actions(state))
    assert chain is not None
    ((start, pod),) = chain
    assert (start.name, start.attempt) == ("b", 5)
    assert pod.pod["metadata"]["name"] == "team-b-2", "in b's own pod"


def test_a_step_that_is_not_a_start_in_place_ends_the_chain():
    sup, state, cluster = group_restart_begun()
    cluster.run("a", 4, "Ready")
    state = settle(sup, state, cluster)
    observed = cluster.observed()
    assert in_place.chained_starts(state, observed, [StopChild("c", 3, ShutdownPolicy.brutal_kill())]) is None
    # A cold change (another template) needs a new pod: written first, never chained.
    assert in_place.chained_starts(state, observed, [StartChild("b", 5, "h2")]) is None
    # A pod whose pod supervisor has not reported may run the attempt already.
    del cluster.reports["uid-b-2"]
    assert in_place.chained_starts(state, cluster.observed(), pending_actions(state)) is None
    assert in_place.chained_starts(state, observed, []) is None


def test_a_replay_after_an_operator_died_mid_chain_finds_every_start_done_once():
    sup, persisted, cluster = group_restart_begun()
    # The chain went through: a 4, b 5, c 6 all Ready; its one status write was lost with the operator.
    for name, attempt in (("a", 4), ("b", 5), ("c", 6)):
        cluster.run(name, attempt)
    observed = cluster.observed()
    assert leftover_pods(persisted, observed) == [], "pods ahead of the status are not leftovers"

    state = settle(sup, persisted, cluster)
    assert [(c.attempt, c.lifecycle) for c in state.children] == [
        (4, ChildLifecycle.RUNNING),
        (5, ChildLifecycle.RUNNING),
        (6, ChildLifecycle.RUNNING),
    ]
    assert [c.restarts for c in state.children] == [1, 0, 0]
    assert state.last_attempt == 6
    assert in_place.unrecorded(state, observed) == []
    assert [a for a in pending_actions(state) if isinstance(a, StartChild | StopChild)] == []
    assert leftover_pods(state, observed) == []


def test_a_replay_that_decides_otherwise_stops_the_unrecorded_incarnations_first():
    sup, persisted, cluster = group_restart_begun()
    # The chain started b 5 and c 6, then a's incarnation 4 crashed; the operator died before its write.
    cluster.run("a", 4, "Exited", ended(4, 1, "Crashed", "again"))
    cluster.run("b", 5)
    cluster.run("c", 6)

    state = settle(sup, persisted, cluster)
    observed = cluster.observed()
    _, b, c = state.children
    assert (b.attempt, c.attempt) == (2, 3), (
        "the replay restarts the group: b and c are not started again yet"
    )
    # They run nonetheless: stopped before anything else, so that the group is all down before a restarts.
    assert [(child.name, attempt) for child, _, attempt in in_place.unrecorded(state, observed)] == [
        ("b", 5),
        ("c", 6),
    ]
    assert leftover_pods(state, observed) == [], "stopped in place, not deleted"
    assert state.last_attempt >= 6, "no later start reuses their numbers"

    # Once they have stopped, the group restart goes on in the same pods, with newer attempts.
    cluster.run("b", 5, "Exited", ended(5, 137, "Killed", stopped=True, signal=9))
    cluster.run("c", 6, "Exited", ended(6, 137, "Killed", stopped=True, signal=9))
    state = settle(sup, state, cluster)
    observed = cluster.observed()
    assert in_place.unrecorded(state, observed) == []
    (start_a,) = [act for act in pending_actions(state) if isinstance(act, StartChild)]
    assert start_a.name == "a", "a first, as OTP restarts a group"
    assert state.children[0].restarts == 2, "a's second crash is counted"
    assert [child.restarts for child in state.children[1:]] == [0, 0]
    cluster.run("a", start_a.attempt)
    state = settle(sup, state, cluster)
    chain = in_place.chained_starts(state, cluster.observed(), pending_actions(state))
    assert chain is not None
    ((start_b, pod),) = chain
    assert start_b.name == "b" and start_b.attempt > 5, "never a number b's stopped incarnation had"
    assert pod.pod["metadata"]["name"] == "team-b-2"


def test_settled_means_past_starting():
    assert not incarnations.settled(None, 4)
    assert not incarnations.settled(report(3, "Ready"), 4)
    assert not incarnations.settled(report(4, "Starting"), 4)
    assert incarnations.settled(report(4, "Ready"), 4)
    assert incarnations.settled(report(4, "Exited", ended(4, 1, "Crashed")), 4)
    assert incarnations.settled(report(5, "Starting"), 4)
