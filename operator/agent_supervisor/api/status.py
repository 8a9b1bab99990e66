"""Status fields that Agent and AgentSupervisor share: conditions, phase, restart window and last exit."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt, model_validator

from agent_supervisor.api.base import ApiModel, list_map, require_unique
from agent_supervisor.api.common import MAX_RESTARTS_LIMIT, Condition, ExitInfo, Phase


class ResourceStatus(ApiModel):
    """Observed state written by the operator; the base of AgentStatus and SupervisorStatus."""

    observed_generation: StrictInt | None = Field(
        default=None, ge=0, description="The metadata.generation this status reflects."
    )
    phase: Phase | None = Field(
        default=None,
        description=(
            "Summary of the conditions: Pending, Starting, Running, Restarting, Succeeded, Failed or Stopped."
        ),
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra=list_map("type"),
        description=(
            "Ready, Progressing, RestartBudgetExhausted, Invalid and Terminated; agents also report "
            "ConfigApplied, DependencyAvailable and (with an hourly token budget) BudgetAvailable; "
            "PolicyAllowed once the operator's policy refused the resource."
        ),
    )
    restart_history: list[StrictInt] | None = Field(
        default=None,
        max_length=MAX_RESTARTS_LIMIT + 1,
        description=(
            "Restarts that count in the current intensity window, as Unix times in whole seconds, newest "
            "first."
        ),
    )
    restart_budget_left: StrictInt | None = Field(
        default=None, ge=0, description="How many more restarts the current window allows."
    )
    total_restarts: StrictInt = Field(
        default=0,
        ge=0,
        description=(
            "Restarts since creation, one per restart decided after a child exited or failed to start. "
            "An Agent's counts only restarts caused by its own exits: being stopped and started again "
            "because a sibling failed (one_for_all, rest_for_one) does not count, though its attempt "
            "advances; nor does a pod replaced for a pod-setting change. A supervisor's is the sum of its "
            "children's: a group restart counts once, for the child that failed, whatever the group's size."
        ),
    )
    last_exit: ExitInfo | None = Field(
        default=None,
        description="How the agent's last pod, or the supervisor itself (e.g. IntensityExceeded), exited.",
    )
    supervision: dict[str, Any] | None = Field(
        default=None,
        description="Internal supervision state kept by the operator across its own restarts; not for users.",
    )

    @model_validator(mode="after")
    def _unique_condition_types(self) -> ResourceStatus:
        require_unique([c.type for c in self.conditions or []], "conditions", "type", "condition type")
        return self
