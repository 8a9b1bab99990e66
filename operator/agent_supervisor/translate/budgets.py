"""An Agent's hourly token budget as status: the BudgetAvailable condition, the window's figures, Events.

Pure translation of what the runtime reports under `tokenBudget` in `/v1/status`
(controller/dependency_watch.py reads it on the runtime's `budget_*` events, and after each finished task of
an agent with an hourly budget). A budget pause is not an exit: nothing here touches the supervision core, so
no restart happens and no restart intensity is spent. A task agent over its budget exits with BudgetExhausted
(3), which the core already classifies as a task failure (agent_runtime.exitcodes.TASK_FAILED).

- BudgetAvailable: False with reason HourlyBudgetExhausted while the runtime reports its hourly budget used up
  (the message says how much, and when the window frees); True (Available) otherwise. An agent without an
  hourly budget gets no such condition; one whose budget was removed gets True (NoHourlyBudget).
- status.hourlyTokensUsed / hourlyTokenBudgetLeft: as of the last report read (the window slides between
  reports; the runtime's /v1/status and metrics are exact at any moment).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.translate.conditions import Judgement, changed, parse_conditions
from agent_supervisor.translate.dependencies import Notice

T, F = api.ConditionStatus.TRUE, api.ConditionStatus.FALSE
STREAM_EVENTS: Final = frozenset({"budget_exhausted", "budget_available"})
"""The runtime's `/v1/events` types after which its `/v1/status` is read again."""
TASK_EVENTS: Final = frozenset({"task_finished"})
"""Also read after these, but only for an agent with an hourly budget (its figures move with each task)."""
_KEPT: Final = ("perHour", "usedInWindow", "leftInWindow", "exhausted", "freesAt")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def kept(runtime_status: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a `/v1/status` body's `tokenBudget` (malformed values are dropped)."""
    entry = runtime_status.get("tokenBudget")
    if not isinstance(entry, Mapping):
        return {}
    report = {key: entry[key] for key in _KEPT if key in entry}
    for key in ("perHour", "usedInWindow", "leftInWindow"):
        if key in report and _count(report[key]) is None:
            del report[key]
    if not isinstance(report.get("freesAt"), int | float) or isinstance(report.get("freesAt"), bool):
        report.pop("freesAt", None)
    report["exhausted"] = report.get("exhausted") is True
    return report


def has_hourly_budget(report: Mapping[str, Any] | None) -> bool:
    return _count((report or {}).get("perHour")) is not None


def _when(frees_at: Any) -> str:
    if not isinstance(frees_at, int | float):
        return "when the window frees"
    return "at " + datetime.fromtimestamp(frees_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def judgement(report: Mapping[str, Any] | None, raw_conditions: Any) -> Judgement | None:
    """BudgetAvailable from the latest `kept` report; None leaves the stored condition as it is (no report
    yet, or no budget and none was ever reported)."""
    if report is None:
        return None
    if not has_hourly_budget(report):
        stored = api.find_condition(parse_conditions(raw_conditions), api.ConditionType.BUDGET_AVAILABLE)
        if stored is None:
            return None
        return Judgement(api.ConditionType.BUDGET_AVAILABLE, T, "NoHourlyBudget", "no hourly token budget")
    limit, used = report["perHour"], _count(report.get("usedInWindow")) or 0
    if not report.get("exhausted"):
        return Judgement(
            api.ConditionType.BUDGET_AVAILABLE,
            T,
            "Available",
            f"{used} of {limit} tokens used in the last hour",
        )
    return Judgement(
        api.ConditionType.BUDGET_AVAILABLE,
        F,
        "HourlyBudgetExhausted",
        f"{used} tokens used in the last hour, past the hourly budget of {limit}: the agent is paused "
        f"(Ready; new messages get HTTP 429) and resumes {_when(report.get('freesAt'))}; no restart, no "
        "restart intensity spent",
    )


def status_fields(report: Mapping[str, Any] | None) -> dict[str, Any]:
    """hourlyTokensUsed and hourlyTokenBudgetLeft from the latest report (None removes them)."""
    if report is None:
        return {}  # nothing read yet: keep what the status holds
    if not has_hourly_budget(report):
        return {"hourlyTokensUsed": None, "hourlyTokenBudgetLeft": None}
    return {
        "hourlyTokensUsed": _count(report.get("usedInWindow")),
        "hourlyTokenBudgetLeft": _count(report.get("leftInWindow")),
    }


def transition_notice(before: Any, after: Any) -> Notice | None:
    """The Event a change of BudgetAvailable between two raw condition lists is worth: exhaustion, and the
    recovery from it (a first True posts nothing)."""
    moved = changed(before, after, api.ConditionType.BUDGET_AVAILABLE)
    if moved is None:
        return None
    old, new = moved
    if new.status == F:
        return Notice("Warning", "HourlyBudgetExhausted", new.message)
    if old is None:
        return None
    return Notice("Normal", "BudgetAvailable", f"hourly token budget available again; {new.message}")
