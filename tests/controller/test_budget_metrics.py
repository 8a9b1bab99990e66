"""The per-supervisor metrics the chart's dashboard and alerts read: the restart budget left and its maximum
at scrape time, and the exhaustion and escalation counters present from a supervisor's first reconcile."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry

from agent_supervisor.controller import metrics
from agent_supervisor.controller.metrics import BudgetCollector, RestartBudget
from agent_supervisor.supervision import EmitEvent, EventReason, EventType, SupervisorState
from agent_supervisor.translate.step import Outcome
from agent_supervisor.translate.stored_supervision import Supervision


def _scrape(budgets: list[RestartBudget], now: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BudgetCollector(lambda: budgets, lambda: now))
    return registry


def test_the_budget_left_refills_as_restarts_leave_the_window_without_a_reconcile():
    budgets = [
        RestartBudget("team", "crew", max_restarts=3, period_seconds=60, history=(1000, 990)),
        RestartBudget("team", "solo", max_restarts=1, period_seconds=5, history=()),
    ]
    crew = {"namespace": "team", "supervisor": "crew"}

    registry = _scrape(budgets, now=1001.7)
    assert registry.get_sample_value("agent_supervisor_restart_budget_left", crew) == 1
    assert registry.get_sample_value("agent_supervisor_restart_budget_max", crew) == 3
    solo = {"namespace": "team", "supervisor": "solo"}
    assert registry.get_sample_value("agent_supervisor_restart_budget_left", solo) == 1

    # 990 has left the 60 s window at 1051, 1000 at 1061: the same budgets scraped later.
    assert _scrape(budgets, now=1051).get_sample_value("agent_supervisor_restart_budget_left", crew) == 2
    assert _scrape(budgets, now=1061).get_sample_value("agent_supervisor_restart_budget_left", crew) == 3


def test_an_exceeded_budget_reads_zero_not_negative():
    budgets = [RestartBudget("team", "crew", 1, 60, (1000, 999, 998))]
    labels = {"namespace": "team", "supervisor": "crew"}
    assert _scrape(budgets, now=1000).get_sample_value("agent_supervisor_restart_budget_left", labels) == 0


def _outcome(*reasons: EventReason) -> Outcome:
    state = SupervisorState()
    events = tuple(EmitEvent(EventType.WARNING, reason, "") for reason in reasons)
    return Outcome(state, Supervision(state), {}, events, (), None, False)


def _value(name: str, namespace: str, supervisor: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"namespace": namespace, "supervisor": supervisor})


def test_exhaustion_and_escalation_counters_start_at_zero_and_go_when_the_supervisor_does():
    exhausted, escalated = (
        "agent_supervisor_restart_budget_exhaustions_total",
        "agent_supervisor_escalations_total",
    )
    metrics.count_decisions("metrics-test", "crew", "one_for_one", _outcome())
    assert _value(exhausted, "metrics-test", "crew") == 0
    assert _value(escalated, "metrics-test", "crew") == 0

    metrics.count_decisions(
        "metrics-test", "crew", "one_for_one", _outcome(EventReason.INTENSITY_EXCEEDED, EventReason.ESCALATED)
    )
    assert _value(exhausted, "metrics-test", "crew") == 1
    assert _value(escalated, "metrics-test", "crew") == 1

    metrics.forget_supervisor("metrics-test", "crew")
    assert _value(exhausted, "metrics-test", "crew") is None
    assert _value(escalated, "metrics-test", "crew") is None
    metrics.forget_supervisor("metrics-test", "crew")  # twice: nothing left to drop, no error
