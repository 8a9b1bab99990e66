"""The auditor: (tree, ledger of injected faults, observed history) -> violations. Pure.

What OTP requires of each crash fault (an incarnation killed or its pod deleted while it was Ready and its
supervisor had seen it Ready), with R(F) the agents its supervisor's strategy restarts (tree.restart_set):

* every agent of R(F) gets a new incarnation after F (no *lost* restart);
* every new incarnation of an agent is caused by some crash fault requiring it that happened since the
  previous incarnation started (no *doubled* or *unexplained* restart; operator kills and API faults
  require none);
* incarnations of one agent never overlap in time, and exactly one per agent runs at the end (no *orphan*);
* attempts only grow: in the incarnations' start order, in every status reading, per agent and per child;
* the restart counters in status equal the ledger's: one per crash fault, on the crashed child;
* for a fault nothing else overlapped (the tree settled before the next crash fault), R(F) restarted in
  start order, each agent started only once the one before it was Ready.

Overlapping faults are allowed: a second fault during the first one's restarts requires R(F2) after F2,
and one new incarnation may satisfy both faults (a group restart replaces the plan it interrupts).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent_supervisor.cli.chaos.ledger import (
    Fault,
    FaultKind,
    History,
    Incarnation,
    Ledger,
)
from agent_supervisor.cli.chaos.tree import SupervisorNode, leaves, restart_set, siblings, supervisors

CHECKS = {
    "lost": "a restart OTP requires never happened",
    "unexplained": "a restart no fault required (doubled or spurious)",
    "overlap": "two incarnations of one agent alive at once",
    "orphan": "not exactly one incarnation per agent running at the end",
    "attempts": "attempts or restart counters went backwards",
    "counts": "restart counters in status differ from the ledger",
    "order": "a group restart out of start order",
    "unsettled": "the tree did not settle after the last fault",
}


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str
    fault: int | None = None

    def __str__(self) -> str:
        where = f" (fault #{self.fault})" if self.fault is not None else ""
        return f"{self.check}: {self.subject}: {self.detail}{where}"


@dataclass
class KindSummary:
    injected: int = 0
    landed: int = 0
    restarts_expected: int = 0
    restarts_observed: int = 0
    merged: int = 0
    violations: int = 0


@dataclass
class Report:
    violations: list[Violation]
    kinds: dict[FaultKind, KindSummary]
    counters_expected: int
    counters_observed: int
    incarnations_started: int
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


def audit(tree: SupervisorNode, ledger: Ledger, history: History) -> Report:
    crashes = [f for f in ledger.faults if f.crash]
    required = {f.seq: restart_set(tree, str(f.target)) for f in crashes}
    by_agent = _incarnations_by_agent(history.incarnations)
    violations: list[Violation] = []
    violations += _attempts_in_start_order(by_agent)
    nested = {f.seq: set(required[f.seq]) - siblings(tree, str(f.target)) for f in crashes}
    unexplained, causes = _explain_restarts(by_agent, crashes, required, nested)
    violations += unexplained
    violations += _lost(by_agent, crashes, required)
    violations += _overlaps(by_agent)
    violations += _readings(history)
    violations += _order(by_agent, ledger, crashes, required)
    violations += _final(tree, history, crashes, by_agent)
    return _report(ledger, history, violations, required, causes, by_agent)


def _incarnations_by_agent(incarnations: Iterable[Incarnation]) -> dict[str, list[Incarnation]]:
    found: dict[str, list[Incarnation]] = defaultdict(list)
    for incarnation in incarnations:
        found[incarnation.agent].append(incarnation)
    for agent in found:
        found[agent].sort(key=lambda i: i.attempt)
    return found


def _attempts_in_start_order(by_agent: dict[str, list[Incarnation]]) -> list[Violation]:
    found = []
    for agent, incarnations in by_agent.items():
        timed = sorted((i for i in incarnations if i.started is not None), key=lambda i: i.earliest_start())
        for before, after in itertools.pairwise(timed):
            if after.attempt <= before.attempt:
                found.append(
                    Violation(
                        "attempts",
                        agent,
                        f"attempt {after.attempt} started after attempt {before.attempt}",
                    )
                )
    return found


def _explain_restarts(
    by_agent: dict[str, list[Incarnation]],
    crashes: list[Fault],
    required: dict[int, list[str]],
    nested: dict[int, set[str]],
) -> tuple[list[Violation], dict[tuple[str, int], int]]:
    """Each incarnation after an agent's first must have a cause: a crash fault requiring the agent since
    the previous incarnation started, and not already the cause of another incarnation of it (a fault
    restarts each agent once). Taking the earliest such fault finds a cause for every incarnation whenever
    one exists: the gaps are ordered by their ends. Faults left over were merged into another's restart.

    Two exceptions, both as in OTP, where a crash may cause the incarnation after the first one started
    after it, because that first one was started for an earlier crash and then stopped for this one:

    * the operator had not yet heard of the crash when it started that incarnation (it decided to start it
      before the crash was seen counted: its pod was created, or it started in place, by then): a plan under
      way for an earlier crash went on for a moment;
    * a crash that restarts a nested supervisor condemns that supervisor's current incarnation, but until its
      parent's plan reaches it, that supervisor goes on with its own work, and may still start an agent for
      an earlier crash of its own (a restart of its own, under way)."""
    found: list[Violation] = []
    causes: dict[tuple[str, int], int] = {}
    for agent, incarnations in by_agent.items():
        used: set[int] = set()
        for index, (before, after) in enumerate(itertools.pairwise(incarnations)):
            since, until = before.earliest_start(), after.latest_start()
            since_earlier = incarnations[index - 1].earliest_start() if index > 0 else float("-inf")
            candidates = [
                f
                for f in crashes
                if agent in required[f.seq]
                and f.seq not in used
                and f.at < until
                and (since < f.at or (_unheard(f, before, agent, nested) and since_earlier < f.at))
            ]
            if candidates:
                causes[(agent, after.attempt)] = candidates[0].seq
                used.add(candidates[0].seq)
                continue
            found.append(
                Violation(
                    "unexplained",
                    agent,
                    f"attempt {after.attempt} (pod {after.pod}) started after attempt {before.attempt} "
                    "with no crash fault requiring it in between",
                )
            )
    return found, causes


def _unheard(fault: Fault, incarnation: Incarnation, agent: str, nested: dict[int, set[str]]) -> bool:
    """Whether `incarnation`, started after `fault`, may still have been started for an earlier crash."""
    heard = fault.acked_at if fault.acked_at is not None else float("inf")
    return agent in nested[fault.seq] or incarnation.decided_by() < heard


def _lost(
    by_agent: dict[str, list[Incarnation]], crashes: list[Fault], required: dict[int, list[str]]
) -> list[Violation]:
    found = []
    for fault in crashes:
        for agent in required[fault.seq]:
            later = [i for i in by_agent.get(agent, []) if i.latest_start() > fault.at]
            if not later:
                found.append(
                    Violation(
                        "lost",
                        agent,
                        f"no incarnation started after the {fault.kind} of {fault.target} "
                        f"attempt {fault.attempt}",
                        fault.seq,
                    )
                )
    return found


def _overlaps(by_agent: dict[str, list[Incarnation]]) -> list[Violation]:
    found = []
    for agent, incarnations in by_agent.items():
        for before, after in itertools.pairwise(incarnations):
            alive_until = before.known_alive_until()
            if after.started is None or alive_until is None or after.started >= alive_until:
                continue
            found.append(
                Violation(
                    "overlap",
                    agent,
                    f"attempt {after.attempt} (pod {after.pod}) started {alive_until - after.started:.3f}s "
                    f"before attempt {before.attempt} (pod {before.pod}) was last known alive",
                )
            )
    return found


def _readings(history: History) -> list[Violation]:
    found = []
    last_child: dict[tuple[str, str], tuple[int | None, int]] = {}
    for reading in history.child_readings:
        key = (reading.supervisor, reading.child)
        attempt, restarts = last_child.get(key, (None, 0))
        if reading.attempt is not None and attempt is not None and reading.attempt < attempt:
            found.append(
                Violation("attempts", f"{key[0]}/{key[1]}", f"status attempt {attempt} -> {reading.attempt}")
            )
        if reading.restarts < restarts:
            found.append(
                Violation(
                    "attempts", f"{key[0]}/{key[1]}", f"status restarts {restarts} -> {reading.restarts}"
                )
            )
        last_child[key] = (reading.attempt if reading.attempt is not None else attempt, reading.restarts)
    last_agent: dict[str, int] = {}
    for agent_reading in history.agent_readings:
        previous = last_agent.get(agent_reading.agent)
        if agent_reading.attempt is None:
            continue
        if previous is not None and agent_reading.attempt < previous:
            found.append(
                Violation(
                    "attempts", agent_reading.agent, f"status.attempt {previous} -> {agent_reading.attempt}"
                )
            )
        last_agent[agent_reading.agent] = max(agent_reading.attempt, previous or 0)
    return found


def _order(
    by_agent: dict[str, list[Incarnation]],
    ledger: Ledger,
    crashes: list[Fault],
    required: dict[int, list[str]],
) -> list[Violation]:
    """For a fault alone (no other crash fault before the tree settled again): its restarts all happened
    before the tree was seen settled, in start order, each started once the previous one was Ready."""
    found = []
    for fault in crashes:
        settled = [t for t in ledger.settled if t > fault.at]
        earlier = [t for t in ledger.settled if t <= fault.at]
        if not settled or not earlier:
            continue
        if any(other.seq != fault.seq and earlier[-1] < other.at <= settled[0] for other in crashes):
            continue
        firsts = []
        for agent in required[fault.seq]:
            later = [i for i in by_agent.get(agent, []) if i.latest_start() > fault.at]
            if not later:
                break  # lost: reported by _lost
            if later[0].earliest_start() > settled[0]:
                found.append(
                    Violation(
                        "lost",
                        agent,
                        f"not restarted before the tree was seen settled {settled[0] - fault.at:.1f}s after "
                        f"the {fault.kind} of {fault.target} (attempt {later[0].attempt} started later)",
                        fault.seq,
                    )
                )
                break
            firsts.append(later[0])
        for before, after in itertools.pairwise(firsts):
            ready = before.earliest_ready()
            if ready is None or after.started is None or after.started >= ready:
                continue
            found.append(
                Violation(
                    "order",
                    after.agent,
                    f"attempt {after.attempt} started {ready - after.started:.3f}s before "
                    f"{before.agent} attempt {before.attempt} was Ready (start order: "
                    f"{', '.join(required[fault.seq])})",
                    fault.seq,
                )
            )
    return found


def _final(
    tree: SupervisorNode, history: History, crashes: list[Fault], by_agent: dict[str, list[Incarnation]]
) -> list[Violation]:
    final = history.final
    if final is None:
        return [Violation("unsettled", tree.child, "no final state was read")]
    found = []
    if not final.settled:
        found.append(Violation("unsettled", tree.child, "the tree was not settled when the soak ended"))
    for leaf in leaves(tree):
        live = sorted(final.live.get(leaf.agent, []))
        newest = max((i.attempt for i in by_agent.get(leaf.agent, [])), default=None)
        if len(live) != 1:
            what = "no incarnation runs" if not live else f"attempts {live} all run"
            found.append(Violation("orphan", leaf.agent, what))
        elif newest is not None and live[0] != newest:
            found.append(Violation("orphan", leaf.agent, f"attempt {live[0]} runs but {newest} is newer"))
    expected: dict[tuple[str, str], int] = defaultdict(int)
    parent = {leaf.agent: (leaf.supervisor, leaf.child) for leaf in leaves(tree)}
    for fault in crashes:
        expected[parent[str(fault.target)]] += 1
    for supervisor, children in supervisors(tree).items():
        total = 0
        for child in children:
            observed = final.child_restarts.get((supervisor, child))
            total += expected[(supervisor, child)]
            if observed != expected[(supervisor, child)]:
                found.append(
                    Violation(
                        "counts",
                        f"{supervisor}/{child}",
                        f"status.children[].restarts is {observed}, the ledger has "
                        f"{expected[(supervisor, child)]} crash faults of it",
                    )
                )
        observed_total = final.total_restarts.get(supervisor)
        if observed_total != total:
            found.append(
                Violation(
                    "counts", supervisor, f"status.totalRestarts is {observed_total}, the ledger has {total}"
                )
            )
    return found


def _report(
    ledger: Ledger,
    history: History,
    violations: list[Violation],
    required: dict[int, list[str]],
    causes: dict[tuple[str, int], int],
    by_agent: dict[str, list[Incarnation]],
) -> Report:
    """Per fault kind: the restarts its faults required and those observed. A restart that overlapping faults
    both required is expected once, of the fault it is attributed to (the others' requirement was merged
    into it); one never observed is lost. So expected = observed + lost, and merged shows the overlaps."""
    kinds = {kind: KindSummary() for kind in FaultKind}
    kind_of = {fault.seq: fault.kind for fault in ledger.faults}
    for fault in ledger.faults:
        kinds[fault.kind].injected += 1
        kinds[fault.kind].landed += fault.landed
        served = {agent for (agent, _), seq in causes.items() if seq == fault.seq}
        for agent in required.get(fault.seq, []):
            later = [i for i in by_agent.get(agent, []) if i.latest_start() > fault.at]
            if agent in served or not later:
                kinds[fault.kind].restarts_expected += 1
            else:
                kinds[fault.kind].merged += 1
    for seq in causes.values():
        kinds[kind_of[seq]].restarts_observed += 1
    for violation in violations:
        if violation.fault is not None:
            kinds[kind_of[violation.fault]].violations += 1
    final = history.final
    checks: dict[str, int] = dict.fromkeys(CHECKS, 0)
    for violation in violations:
        checks[violation.check] += 1
    return Report(
        violations=violations,
        kinds=kinds,
        counters_expected=len(required),
        counters_observed=sum(final.child_restarts.values()) if final else 0,
        incarnations_started=len(history.incarnations),
        checks=checks,
    )
