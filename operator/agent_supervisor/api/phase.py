"""The phase shown in printer columns, derived from conditions, and the condition update rule.

The phase is a pure function of the conditions, so it never disagrees with them. The first matching row wins:

| condition (status True)                         | phase      |
|-------------------------------------------------|------------|
| Invalid                                         | Failed     |
| PolicyAllowed False (the operator's policy)     | Failed     |
| RestartBudgetExhausted                          | Failed     |
| Terminated, reason Completed                    | Succeeded  |
| Terminated, reason Failed                       | Failed     |
| Terminated, any other reason (e.g. Stopped)     | Stopped    |
| Progressing, reason Restarting                  | Restarting |
| Ready                                           | Running    |
| Ready False with reason ChildStartFailed        | Running    |
| Progressing, any other reason (e.g. Starting)   | Starting   |
| none of these                                   | Pending    |

Restarting is checked before Ready because a supervisor restarting a group is not settled even while it
still reports its last readiness; Ready is checked before other Progressing reasons because a running agent
whose pod is being replaced for a settings change is still serving. A supervisor that is not Ready only
because a child added by a spec edit failed to start keeps running its other children: it is Running, and its
Ready condition says which child failed and how to retry it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent_supervisor.api.common import (
    Condition,
    ConditionStatus,
    ConditionType,
    Phase,
    ProgressingReason,
    TerminatedReason,
)

CHILD_START_FAILED = "ChildStartFailed"
"""Reason of a supervisor's Ready and Progressing conditions when an added child failed to start."""

_TERMINATED_PHASES: dict[str, Phase] = {
    TerminatedReason.COMPLETED: Phase.SUCCEEDED,
    TerminatedReason.FAILED: Phase.FAILED,
}


def find_condition(conditions: Sequence[Condition], condition_type: str) -> Condition | None:
    """The condition of that type, if present."""
    return next((c for c in conditions if c.type == condition_type), None)


def _true(conditions: Sequence[Condition], condition_type: str) -> Condition | None:
    found = find_condition(conditions, condition_type)
    return found if found is not None and found.status is ConditionStatus.TRUE else None


def phase_from_conditions(conditions: Sequence[Condition]) -> Phase:
    """The phase that summarises these conditions (see the module's table)."""
    if _true(conditions, ConditionType.INVALID) or _true(conditions, ConditionType.RESTART_BUDGET_EXHAUSTED):
        return Phase.FAILED
    refused = find_condition(conditions, ConditionType.POLICY_ALLOWED)
    if refused is not None and refused.status is ConditionStatus.FALSE:
        return Phase.FAILED
    terminated = _true(conditions, ConditionType.TERMINATED)
    if terminated is not None:
        return _TERMINATED_PHASES.get(terminated.reason, Phase.STOPPED)
    progressing = _true(conditions, ConditionType.PROGRESSING)
    if progressing is not None and progressing.reason == ProgressingReason.RESTARTING:
        return Phase.RESTARTING
    ready = find_condition(conditions, ConditionType.READY)
    if ready is not None and (ready.status is ConditionStatus.TRUE or ready.reason == CHILD_START_FAILED):
        return Phase.RUNNING
    if progressing is not None:
        return Phase.STARTING
    return Phase.PENDING


def set_condition(conditions: Sequence[Condition], new: Condition) -> list[Condition]:
    """The conditions with `new` replacing the one of its type.

    As in Kubernetes' SetStatusCondition, lastTransitionTime only moves when the status changes, so repeating
    the same observation does not look like a new transition.
    """
    old = find_condition(conditions, new.type)
    if old is not None and old.status is new.status:
        new = new.model_copy(update={"last_transition_time": old.last_transition_time})
    replaced = [new if c.type == new.type else c for c in conditions]
    return replaced if old is not None else [*conditions, new]
