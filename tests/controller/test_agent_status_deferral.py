"""When a supervisor's reconcile may leave its Agents' statuses to the next reconcile (agent_statuses.py)."""

from agent_supervisor.controller.agent_statuses import MAX_DEFER_SECONDS, SupervisedAgentStatuses
from agent_supervisor.controller.indexes import ObjectKey

TEAM = ObjectKey("AgentSupervisor", "ns", "team")
OTHER = ObjectKey("AgentSupervisor", "ns", "other")


def statuses() -> SupervisedAgentStatuses:
    return SupervisedAgentStatuses(writer=None, retry=lambda key: None)  # type: ignore[arg-type]


def test_only_a_superseded_reconcile_defers_and_never_for_long():
    agents = statuses()
    assert not agents.deferrable(TEAM, superseded=False, clock=0.0), "nothing queued: write now"
    assert agents.deferrable(TEAM, superseded=True, clock=10.0), "the next reconcile writes newer ones"
    assert agents.deferrable(TEAM, superseded=True, clock=10.0 + MAX_DEFER_SECONDS / 2)
    assert not agents.deferrable(TEAM, superseded=True, clock=10.0 + MAX_DEFER_SECONDS), "written at last"
    assert agents.deferrable(TEAM, superseded=True, clock=20.0), "and the bound starts again after a write"


def test_a_write_ends_the_deferral_and_supervisors_are_apart():
    agents = statuses()
    assert agents.deferrable(TEAM, superseded=True, clock=0.0)
    assert agents.deferrable(OTHER, superseded=True, clock=MAX_DEFER_SECONDS - 0.1)
    assert not agents.deferrable(TEAM, superseded=False, clock=1.0)
    assert agents.deferrable(TEAM, superseded=True, clock=MAX_DEFER_SECONDS + 0.5), "afresh after a write"
    assert agents.deferrable(OTHER, superseded=True, clock=MAX_DEFER_SECONDS + 0.5 - 0.1)
    agents.forget(OTHER)
    assert agents.deferrable(OTHER, superseded=True, clock=100.0), "a forgotten supervisor starts afresh"
