"""The phase printed in `kubectl get` follows the documented precedence over conditions; conditions keep their
transition time while their status is unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent_supervisor.api import (
    Condition,
    ConditionStatus,
    Phase,
    find_condition,
    phase_from_conditions,
    set_condition,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def cond(condition_type: str, reason: str = "Observed", status: str = "True", at: datetime = T0) -> Condition:
    return Condition(
        type=condition_type, status=ConditionStatus(status), reason=reason, last_transition_time=at
    )


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], Phase.PENDING),
        ([cond("Ready", status="False"), cond("Progressing", status="False")], Phase.PENDING),
        ([cond("Progressing", "Starting")], Phase.STARTING),
        ([cond("Ready")], Phase.RUNNING),
        ([cond("Ready"), cond("Progressing", "Updating")], Phase.RUNNING),
        ([cond("Ready"), cond("Progressing", "Restarting")], Phase.RESTARTING),
        (
            [cond("Ready", "ChildStartFailed", "False"), cond("Progressing", "ChildStartFailed", "False")],
            Phase.RUNNING,
        ),
        ([cond("Ready", "ChildStartFailed", "False"), cond("Progressing", "Restarting")], Phase.RESTARTING),
        ([cond("Ready", status="False"), cond("Progressing", "Restarting")], Phase.RESTARTING),
        ([cond("Terminated", "Completed")], Phase.SUCCEEDED),
        ([cond("Terminated", "Failed")], Phase.FAILED),
        ([cond("Terminated", "Stopped")], Phase.STOPPED),
        ([cond("Terminated", "AutoShutdown")], Phase.STOPPED),
        ([cond("Terminated", "Completed", status="False"), cond("Ready")], Phase.RUNNING),
        ([cond("RestartBudgetExhausted", "IntensityExceeded"), cond("Terminated", "Stopped")], Phase.FAILED),
        ([cond("Invalid", "UnknownTool"), cond("Ready")], Phase.FAILED),
        ([cond("Invalid", status="False"), cond("Ready")], Phase.RUNNING),
        ([cond("ConfigApplied")], Phase.PENDING),
    ],
    ids=lambda value: (
        "+".join(f"{c.type}/{c.reason}/{c.status}" for c in value) if isinstance(value, list) else ""
    ),
)
def test_phase_from_conditions(conditions: list[Condition], phase: Phase) -> None:
    assert phase_from_conditions(conditions) is phase


def test_phase_does_not_depend_on_condition_order() -> None:
    conditions = [cond("Ready"), cond("Progressing", "Restarting"), cond("Invalid", status="False")]
    assert phase_from_conditions(conditions) is phase_from_conditions(list(reversed(conditions)))


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    later = T0 + timedelta(minutes=5)
    updated = set_condition([cond("Ready", "Running")], cond("Ready", "StillRunning", at=later))
    (ready,) = updated
    assert ready.reason == "StillRunning"
    assert ready.last_transition_time == T0


def test_set_condition_moves_transition_time_when_status_changes() -> None:
    later = T0 + timedelta(minutes=5)
    updated = set_condition(
        [cond("Ready"), cond("Invalid", status="False")], cond("Ready", "Crashed", "False", later)
    )
    ready = find_condition(updated, "Ready")
    assert ready is not None and ready.status is ConditionStatus.FALSE and ready.last_transition_time == later
    assert [c.type for c in updated] == ["Ready", "Invalid"]


def test_set_condition_appends_a_new_type() -> None:
    updated = set_condition([cond("Ready")], cond("Progressing", "Starting"))
    assert [c.type for c in updated] == ["Ready", "Progressing"]
    assert find_condition(updated, "Invalid") is None
