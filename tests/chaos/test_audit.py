"""The chaos auditor against hand-built histories: OTP-correct ones pass, each kind of breakage is named.

`world()` plays a correct supervisor: for each crash fault, every agent of its restart set gets one new
incarnation, in start order, each started once the previous one is Ready, the old one ended first.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_supervisor.cli.chaos.audit import Report, audit
from agent_supervisor.cli.chaos.ledger import (
    AgentReading,
    ChildReading,
    Fault,
    FaultKind,
    FinalState,
    History,
    Incarnation,
    Ledger,
)
from agent_supervisor.cli.chaos.tree import default_tree, leaves, restart_set, supervisors

TREE = default_tree()
AGENTS = [leaf.agent for leaf in leaves(TREE)]
PARENT = {leaf.agent: (leaf.supervisor, leaf.child) for leaf in leaves(TREE)}


def world(
    crashes: list[tuple[float, str]], others: list[tuple[float, FaultKind]] = ()
) -> tuple[Ledger, History]:
    """A correct run: start-up at t=0, then each crash (time, agent) restarts its set 1 s apart; the tree
    settles after each. `others` are faults that must restart nothing."""
    attempt = dict.fromkeys(AGENTS, 0)
    counter = 0
    incarnations: dict[str, list[Incarnation]] = {a: [] for a in AGENTS}
    t = 0.0

    def start(agent: str) -> None:
        nonlocal counter, t
        counter += 1
        attempt[agent] = counter
        incarnations[agent].append(Incarnation(agent, counter, f"{agent}-{counter}", t, t + 0.1))
        t += 0.2

    def end(agent: str, at: float) -> None:
        last = incarnations[agent][-1]
        incarnations[agent][-1] = replace(last, ended=at)

    for agent in AGENTS:
        start(agent)
    faults: list[Fault] = []
    settled = [t]
    restarts: dict[tuple[str, str], int] = {}
    for seq, (at, agent) in enumerate(sorted(crashes), start=1):
        t = max(t, at) + 0.05
        faults.append(Fault(seq, t - 0.01, FaultKind.KILL_PROCESS, agent, attempt[agent], acked_at=t))
        for other in restart_set(TREE, agent):
            end(other, t)
        t += 0.05
        for other in restart_set(TREE, agent):
            start(other)
        settled.append(t)
        restarts[PARENT[agent]] = restarts.get(PARENT[agent], 0) + 1
    for at, kind in others:
        faults.append(Fault(len(faults) + 1, at, kind))
    faults.sort(key=lambda f: f.at)
    faults = [replace(f, seq=i) for i, f in enumerate(faults, start=1)]
    child_restarts = {
        (sup, child): restarts.get((sup, child), 0)
        for sup, children in supervisors(TREE).items()
        for child in children
    }
    totals = {
        sup: sum(restarts.get((sup, child), 0) for child in children)
        for sup, children in supervisors(TREE).items()
    }
    final = FinalState(True, child_restarts, totals, {a: [attempt[a]] for a in AGENTS})
    history = History(
        incarnations=[i for agent in AGENTS for i in incarnations[agent]],
        child_readings=[ChildReading(*PARENT[a], attempt[a], restarts.get(PARENT[a], 0)) for a in AGENTS],
        agent_readings=[AgentReading(a, attempt[a]) for a in AGENTS],
        final=final,
    )
    return Ledger(faults, settled), history


def checks(report: Report) -> set[str]:
    return {v.check for v in report.violations}


def test_a_correct_run_has_no_violation_and_counts_each_restart() -> None:
    ledger, history = world([(1, "chaos-team-lead"), (5, "chaos-pool-1")], [(3, FaultKind.KILL_OPERATOR)])
    report = audit(TREE, ledger, history)
    assert report.violations == []
    kill = report.kinds[FaultKind.KILL_PROCESS]
    assert (kill.injected, kill.restarts_expected, kill.restarts_observed) == (2, 5, 5)
    assert report.kinds[FaultKind.KILL_OPERATOR].restarts_expected == 0
    assert (report.counters_expected, report.counters_observed) == (2, 2)


CRASHES = st.lists(st.tuples(st.floats(1, 100), st.sampled_from(AGENTS)), max_size=12)
PROPERTY = settings(max_examples=100, deadline=None)


@PROPERTY
@given(CRASHES)
def test_any_sequence_of_correctly_handled_crashes_passes(crashes: list[tuple[float, str]]) -> None:
    ledger, history = world(crashes)
    assert audit(TREE, ledger, history).violations == []


@PROPERTY
@given(CRASHES.filter(bool), st.data())
def test_any_restart_left_out_is_found(crashes: list[tuple[float, str]], data: st.DataObject) -> None:
    ledger, history = world(crashes)
    baseline = {a: min(i.attempt for i in history.incarnations if i.agent == a) for a in AGENTS}
    restarts = [i for i in history.incarnations if i.attempt != baseline[i.agent]]
    left_out = data.draw(st.sampled_from(restarts))
    assert audit(TREE, ledger, _drop(history, left_out.agent, left_out.attempt)).violations


@PROPERTY
@given(CRASHES, st.sampled_from(AGENTS), st.floats(0, 200))
def test_any_extra_restart_is_found(crashes: list[tuple[float, str]], agent: str, at: float) -> None:
    ledger, history = world(crashes)
    extra = Incarnation(agent, 10_000, f"{agent}-extra", at, at + 0.1)
    assert audit(TREE, ledger, replace(history, incarnations=[*history.incarnations, extra])).violations


def _drop(history: History, agent: str, attempt: int) -> History:
    kept = [i for i in history.incarnations if (i.agent, i.attempt) != (agent, attempt)]
    return replace(history, incarnations=kept)


def test_a_restart_after_the_tree_was_seen_settled_is_lost() -> None:
    # Two crashes of the planner, the tree settled in between, yet workers-1 restarted only once, late.
    ledger, history = world([(1, "chaos-team-crew-planner"), (20, "chaos-team-crew-planner")])
    first_restart = [i for i in history.incarnations if i.agent == "chaos-team-crew-workers-1"][1]
    report = audit(TREE, ledger, _drop(history, first_restart.agent, first_restart.attempt))
    assert [(v.check, v.subject, v.fault) for v in report.violations] == [
        ("lost", "chaos-team-crew-workers-1", 1)
    ]


def test_a_restart_that_never_happened_is_lost() -> None:
    ledger, history = world([(1, "chaos-team-crew-planner")])
    # workers-1 should have restarted after the planner (rest_for_one) and did not.
    restarted = [i for i in history.incarnations if i.agent == "chaos-team-crew-workers-1"][-1]
    broken = _drop(history, restarted.agent, restarted.attempt)
    report = audit(TREE, ledger, broken)
    assert "lost" in checks(report)
    assert any(v.subject == "chaos-team-crew-workers-1" and v.fault == 1 for v in report.violations)


def test_a_second_restart_for_one_fault_is_unexplained() -> None:
    ledger, history = world([(1, "chaos-pool-1")])
    last = [i for i in history.incarnations if i.agent == "chaos-pool-1"][-1]
    assert last.started is not None
    again = Incarnation(last.agent, 99, "chaos-pool-1-99", last.started + 5, last.started + 5.1)
    doubled = replace(history, incarnations=[*history.incarnations, again])
    assert "unexplained" in checks(audit(TREE, ledger, doubled))


def test_a_restart_after_an_operator_kill_or_api_fault_is_unexplained() -> None:
    for kind in (FaultKind.KILL_OPERATOR, FaultKind.DROP_WATCHES, FaultKind.COMPACT_HISTORY):
        ledger, history = world([], [(10, kind)])
        spurious = Incarnation("chaos-front", 50, "chaos-front-50", 11, 11.1)
        report = audit(TREE, ledger, replace(history, incarnations=[*history.incarnations, spurious]))
        assert checks(report) >= {"unexplained"}, kind


def test_restarts_outside_the_strategy_set_are_unexplained() -> None:
    # one_for_one would be wrong for crew (rest_for_one): a crash of workers-0 must not restart the planner.
    ledger, history = world([(1, "chaos-team-crew-workers-0")])
    extra = Incarnation("chaos-team-crew-planner", 77, "chaos-team-crew-planner-77", 30, 30.1)
    report = audit(TREE, ledger, replace(history, incarnations=[*history.incarnations, extra]))
    assert [v.subject for v in report.violations if v.check == "unexplained"] == ["chaos-team-crew-planner"]


def test_two_incarnations_alive_at_once_are_an_overlap() -> None:
    ledger, history = world([(1, "chaos-front")])
    front = [i for i in history.incarnations if i.agent == "chaos-front"]
    old, new = front
    assert new.started is not None
    late_end = replace(old, ended=new.started + 0.5)
    incarnations = [late_end if i == old else i for i in history.incarnations]
    assert "overlap" in checks(audit(TREE, ledger, replace(history, incarnations=incarnations)))


def test_a_container_still_alive_in_a_later_second_is_an_overlap_an_earlier_one_is_not() -> None:
    ledger, history = world([(1, "chaos-front")])
    old, new = [i for i in history.incarnations if i.agent == "chaos-front"]
    assert new.started is not None
    for alive_until, expected in ((new.started + 2, {"overlap"}), (new.started - 1, set())):
        unknown_end = replace(old, ended=None, alive_until=alive_until)
        incarnations = [unknown_end if i == old else i for i in history.incarnations]
        assert checks(audit(TREE, ledger, replace(history, incarnations=incarnations))) == expected


def test_a_group_restart_out_of_start_order_is_reported() -> None:
    ledger, history = world([(1, "chaos-team-lead")])
    # crew's planner started before lead (its predecessor in the restart) was Ready.
    lead = [i for i in history.incarnations if i.agent == "chaos-team-lead"][-1]
    planner = [i for i in history.incarnations if i.agent == "chaos-team-crew-planner"][-1]
    assert lead.ready is not None
    early = replace(planner, started=lead.ready - 0.05)
    incarnations = [early if i == planner else i for i in history.incarnations]
    report = audit(TREE, ledger, replace(history, incarnations=incarnations))
    assert checks(report) == {"order"}


def test_a_start_after_the_pods_ready_condition_is_in_order() -> None:
    # The operator may see a new pod Ready by the kubelet's probe before its pod supervisor reports it; the
    # condition's time is whole seconds, rounded down.
    ledger, history = world([(1, "chaos-team-lead")])
    lead = [i for i in history.incarnations if i.agent == "chaos-team-lead"][-1]
    planner = [i for i in history.incarnations if i.agent == "chaos-team-crew-planner"][-1]
    assert lead.ready is not None and lead.started is not None
    early = replace(planner, started=lead.ready - 0.05)
    for pod_ready, expected in ((float(int(lead.started)), set()), (None, {"order"})):
        seen = replace(lead, pod_ready=pod_ready)
        incarnations = [early if i == planner else seen if i == lead else i for i in history.incarnations]
        assert checks(audit(TREE, ledger, replace(history, incarnations=incarnations))) == expected


def test_overlapping_faults_may_share_one_restart() -> None:
    # Two crashes of pool members 0.1 s apart, before anything restarted: one restart each serves both.
    ledger, history = world([(1, "chaos-pool-0")])
    fault = ledger.faults[0]
    second = Fault(2, fault.at + 0.02, FaultKind.DELETE_POD, "chaos-pool-1", 7)
    final = history.final
    assert final is not None
    counts = dict(final.child_restarts)
    counts[("chaos", "pool-1")] += 1
    totals = dict(final.total_restarts)
    totals["chaos"] += 1
    overlapped = replace(history, final=replace(final, child_restarts=counts, total_restarts=totals))
    report = audit(TREE, replace(ledger, faults=[fault, second]), overlapped)
    assert report.violations == []
    assert report.kinds[FaultKind.DELETE_POD].merged + report.kinds[FaultKind.KILL_PROCESS].merged == 1


def test_a_start_for_an_earlier_crash_before_the_operator_heard_of_the_next_is_explained() -> None:
    # pool-0 crashes (rest_for_one: pool-0, pool-1 restart), then front (everything restarts). pool-1's
    # restart for the first crash starts just after front's crash, before the operator counted it; then
    # front's restart stops it and starts it again. That second start is front's.
    ledger, history = world([(1, "chaos-pool-0"), (40, "chaos-front")])
    first, second = ledger.faults
    pool_1 = [i for i in history.incarnations if i.agent == "chaos-pool-1"]
    assert [i.started is not None for i in pool_1] == [True, True, True]
    for_first = pool_1[1]
    assert second.acked_at is not None
    # The first crash's restart of pool-1 moves to just after the second crash, before it was counted.
    late = replace(for_first, started=second.at + 0.005, ready=second.at + 0.006, ended=second.at + 0.009)
    incarnations = [late if i == for_first else i for i in history.incarnations]
    # The two crashes overlapped: the tree did not settle in between.
    settled = [t for t in ledger.settled if not first.at < t < second.at]
    heard_late = replace(second, acked_at=second.at + 0.01)
    run = Ledger([first, heard_late], settled)
    assert audit(TREE, run, replace(history, incarnations=incarnations)).violations == []
    # Had the operator counted the second crash before that start, the start would have been its restart,
    # and the one after it a restart for nothing.
    heard_early = replace(second, acked_at=second.at + 0.001)
    report = audit(
        TREE, replace(ledger, faults=[first, heard_early]), replace(history, incarnations=incarnations)
    )
    assert [v.subject for v in report.violations if v.check == "unexplained"] == ["chaos-pool-1"]


def test_a_pod_created_before_the_operator_heard_of_the_next_crash_was_decided_before_it() -> None:
    # As above, but the pod of the first crash's restart of pool-1 was created before the second crash was
    # counted and its process started only after (a loaded machine): the decision was the pod's creation.
    ledger, history = world([(1, "chaos-pool-0"), (40, "chaos-front")])
    first, second = ledger.faults
    second = replace(second, acked_at=second.at + 1.5)  # counted 1.5 s after it struck
    assert second.acked_at is not None
    pool_1 = [i for i in history.incarnations if i.agent == "chaos-pool-1"]
    slow = replace(
        pool_1[1],
        created=float(int(second.at)),
        started=second.acked_at + 0.05,
        ready=None,
        ended=second.acked_at + 0.5,
    )
    assert slow.ended is not None
    # front's restart of pool-1 comes once the slow one has ended.
    last = replace(pool_1[2], started=slow.ended + 0.1, ready=slow.ended + 0.2)
    moved = {pool_1[1]: slow, pool_1[2]: last}
    incarnations = [moved.get(i, i) for i in history.incarnations]
    settled = [t for t in ledger.settled if not first.at < t < second.at]
    run = replace(history, incarnations=incarnations)
    assert audit(TREE, Ledger([first, second], settled), run).violations == []
    # A pod created only after the crash was counted was that crash's restart: the next one is unexplained.
    moved[pool_1[1]] = replace(slow, created=float(int(second.acked_at)) + 1)
    late = replace(history, incarnations=[moved.get(i, i) for i in history.incarnations])
    report = audit(TREE, Ledger([first, second], settled), late)
    assert [v.subject for v in report.violations if v.check == "unexplained"] == ["chaos-pool-1"]


def test_a_pod_the_observer_saw_before_the_next_crash_was_counted_was_decided_before_it() -> None:
    # Its creation second ends after the next crash was counted, but the observer saw the pod before that:
    # the operator had decided the start by then (the 10-minute soak flagged three such restarts).
    ledger, history = world([(1, "chaos-pool-0"), (40, "chaos-front")])
    first, second = ledger.faults
    second = replace(second, acked_at=second.at + 0.5)
    assert second.acked_at is not None
    pool_1 = [i for i in history.incarnations if i.agent == "chaos-pool-1"]
    created = float(int(second.acked_at))  # the creation second ends after the ack
    slow = replace(pool_1[1], created=created, started=created + 1.2, ready=None, ended=created + 1.5)
    last = replace(pool_1[2], started=created + 1.6, ready=created + 1.7)
    settled = [t for t in ledger.settled if not first.at < t < second.at]
    run = Ledger([first, second], settled)

    def audited(incarnation: Incarnation) -> list[str]:
        moved = {pool_1[1]: incarnation, pool_1[2]: last}
        incarnations = [moved.get(i, i) for i in history.incarnations]
        found = audit(TREE, run, replace(history, incarnations=incarnations))
        return [v.subject for v in found.violations if v.check == "unexplained"]

    assert created + 1 > second.acked_at
    assert audited(slow) == ["chaos-pool-1"]  # by the creation second alone: unexplained
    assert audited(replace(slow, seen=second.acked_at - 0.1)) == []


def test_status_counters_must_equal_the_ledger() -> None:
    ledger, history = world([(1, "chaos-team-lead")])
    final = history.final
    assert final is not None
    counts = {**final.child_restarts, ("chaos-team", "lead"): 2}
    report = audit(TREE, ledger, replace(history, final=replace(final, child_restarts=counts)))
    assert [v.subject for v in report.violations] == ["chaos-team/lead"]
    assert checks(report) == {"counts"}


def test_two_live_incarnations_or_none_at_the_end_are_orphans() -> None:
    ledger, history = world([])
    final = history.final
    assert final is not None
    live = {**final.live, "chaos-front": [1, 2], "chaos-pool-0": []}
    report = audit(TREE, ledger, replace(history, final=replace(final, live=live)))
    assert sorted(v.subject for v in report.violations if v.check == "orphan") == [
        "chaos-front",
        "chaos-pool-0",
    ]


def test_attempts_and_counters_going_backwards_are_reported() -> None:
    ledger, history = world([])
    readings = [ChildReading("chaos", "front", 5, 2), ChildReading("chaos", "front", 4, 1)]
    agents = [AgentReading("chaos-front", 5), AgentReading("chaos-front", 3)]
    report = audit(TREE, ledger, replace(history, child_readings=readings, agent_readings=agents))
    assert [v.check for v in report.violations] == ["attempts"] * 3


def test_a_tree_that_never_settled_is_a_violation() -> None:
    ledger, history = world([])
    final = history.final
    assert final is not None
    assert checks(audit(TREE, ledger, replace(history, final=replace(final, settled=False)))) == {"unsettled"}


def test_the_table_names_why_a_kind_was_not_injected_and_counts_the_others() -> None:
    from agent_supervisor.cli.chaos.table import render

    ledger, history = world([(1, "chaos-front")])
    reasons = {FaultKind.DROP_WATCHES: "n/a on a real cluster", FaultKind.KILL_PROCESS: "never shown"}
    table = render(audit(TREE, ledger, history), "header", reasons).splitlines()
    assert "| dropped watches | n/a on a real cluster | - | - | - | - | - |" in table
    # A reason is only for a kind that was not injected; one that was keeps its numbers.
    assert "| SIGKILL of an agent process | 1 | 1 | 7 | 7 | 0 | 0 |" in table  # rest_for_one from front
