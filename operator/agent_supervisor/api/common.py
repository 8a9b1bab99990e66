"""Enumerations and small field types shared by the Agent and AgentSupervisor resources."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, ConfigDict, Field, StrictInt, StrictStr, model_validator

from agent_supervisor.api.base import (
    DATA_KEY_PATTERN,
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    SpecError,
    cel_rule,
    validations,
)


class Strategy(StrEnum):
    """Which children a supervisor restarts when one of them exits and must be restarted."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class RestartType(StrEnum):
    """When a child that exited is restarted."""

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class AutoShutdown(StrEnum):
    """Whether the exit of significant children shuts the supervisor down."""

    NEVER = "never"
    ANY_SIGNIFICANT = "any_significant"
    ALL_SIGNIFICANT = "all_significant"


class Phase(StrEnum):
    """Summary of the conditions, for printer columns; see `phase_from_conditions`."""

    PENDING = "Pending"
    STARTING = "Starting"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPED = "Stopped"


class ConditionStatus(StrEnum):
    """The Kubernetes condition status values."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    """The condition types the operator sets."""

    READY = "Ready"
    PROGRESSING = "Progressing"
    CONFIG_APPLIED = "ConfigApplied"
    RESTART_BUDGET_EXHAUSTED = "RestartBudgetExhausted"
    INVALID = "Invalid"
    TERMINATED = "Terminated"
    DEPENDENCY_AVAILABLE = "DependencyAvailable"
    DEGRADED = "Degraded"
    POLICY_ALLOWED = "PolicyAllowed"
    BUDGET_AVAILABLE = "BudgetAvailable"


class ProgressingReason(StrEnum):
    """Reasons of the Progressing condition that the phase distinguishes."""

    STARTING = "Starting"
    RESTARTING = "Restarting"


class TerminatedReason(StrEnum):
    """Reasons of the Terminated condition: why the resource stopped for good."""

    COMPLETED = "Completed"
    STOPPED = "Stopped"
    FAILED = "Failed"


class ExitClass(StrEnum):
    """How the supervisor classified an exit, in OTP's terms."""

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    ABNORMAL = "abnormal"


class ChildKind(StrEnum):
    """The kind of a supervisor's child: its resource's kind, or Worker (a plain container, no resource)."""

    AGENT = "Agent"
    AGENT_SUPERVISOR = "AgentSupervisor"
    WORKER = "Worker"


MAX_RESTARTS_LIMIT = 1000
PERIOD_SECONDS_LIMIT = 86_400
DEFAULT_MAX_RESTARTS = 3
DEFAULT_PERIOD_SECONDS = 5


class SecretKeyRef(ApiModel):
    """A key in a Secret in the resource's namespace."""

    name: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description="Name of the Secret, in the same namespace as this resource.",
    )
    key: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=DATA_KEY_PATTERN,
        description="Key inside the Secret's data whose value is used.",
    )


SHUTDOWN_EXACTLY_ONE = "set exactly one of graceSeconds or brutalKill"


class ShutdownPolicy(ApiModel):
    """How a child is stopped when its supervisor stops it (OTP's `shutdown`).

    Exactly one of `graceSeconds` or `brutalKill` is set. When the whole field is omitted an agent gets 5
    grace seconds (OTP's worker default of 5000 ms) and a nested supervisor waits, without a time limit, until
    its own children have stopped one by one under their own policies (OTP's `infinity` for supervisors).
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("has(self.graceSeconds) != has(self.brutalKill)", SHUTDOWN_EXACTLY_ONE),
        )
    )

    grace_seconds: StrictInt | None = Field(
        default=None,
        ge=0,
        le=PERIOD_SECONDS_LIMIT,
        description=(
            "Ask the child to stop (SIGTERM), wait up to this many seconds, then kill it (SIGKILL). An "
            "agent uses the time to finish its current step and checkpoint; this becomes its pod's "
            "terminationGracePeriodSeconds. For a nested supervisor it bounds the stop of its whole subtree."
        ),
    )
    brutal_kill: Literal[True] | None = Field(
        default=None,
        description=(
            "Kill at once, with no grace period (OTP's brutal_kill). The agent loses any step in progress; "
            "it resumes from its last completed step when restarted."
        ),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ShutdownPolicy:
        if (self.grace_seconds is None) == (self.brutal_kill is None):
            raise SpecError("graceSeconds", SHUTDOWN_EXACTLY_ONE)
        return self


BACKOFF_ORDER = "initialSeconds must not exceed maxSeconds"


class RestartBackoff(ApiModel):
    """Delay between consecutive restarts of the same child, doubling from initialSeconds up to maxSeconds.

    OTP restarts at once; this optional delay is an extension for agents whose failures are often outages of
    the model provider, where restarting at once only burns the restart budget.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("self.initialSeconds <= self.maxSeconds", BACKOFF_ORDER, ".initialSeconds"),
        )
    )

    initial_seconds: StrictInt = Field(
        default=1, ge=1, le=3600, description="Delay before the first restart of a child, in seconds."
    )
    max_seconds: StrictInt = Field(
        default=300,
        ge=1,
        le=PERIOD_SECONDS_LIMIT,
        description=(
            "Upper bound of the delay, which doubles with each consecutive restart of the same child."
        ),
    )

    @model_validator(mode="after")
    def _ordered(self) -> RestartBackoff:
        if self.initial_seconds > self.max_seconds:
            raise SpecError("initialSeconds", BACKOFF_ORDER)
        return self


class Condition(ApiModel):
    """One observation of the resource's state, following the Kubernetes condition convention."""

    type: StrictStr = Field(
        max_length=316,
        pattern=r"^[A-Z][A-Za-z0-9]*$",
        description=(
            "Condition type: Ready, Progressing, ConfigApplied and DependencyAvailable (agents), Degraded "
            "(supervisors), RestartBudgetExhausted, Invalid, PolicyAllowed (False: refused by the operator's "
            "policy), or Terminated."
        ),
    )
    status: ConditionStatus = Field(description="Whether the condition holds: True, False or Unknown.")
    reason: StrictStr = Field(
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable CamelCase reason for the last transition.",
    )
    message: StrictStr = Field(
        default="", max_length=32_768, description="Human-readable details of the last transition."
    )
    observed_generation: StrictInt | None = Field(
        default=None, ge=0, description="The metadata.generation the condition was computed from."
    )
    last_transition_time: AwareDatetime = Field(description="When the status last changed.")


class ExitInfo(ApiModel):
    """How an agent's pod, or a supervisor, last exited."""

    code: StrictInt | None = Field(
        default=None,
        description=(
            "Exit code of the agent's process (its container's, or with in-place restarts its incarnation's; "
            "128+N when signal N killed it); absent when the pod went away without one."
        ),
    )
    classification: ExitClass = Field(
        description=(
            "OTP exit reason: normal (exit code 0), shutdown (stopped by the operator) or abnormal "
            "(anything else: a non-zero exit, a kill, an eviction, a pod deleted by someone else, a start "
            "that never became ready)."
        )
    )
    reason: StrictStr = Field(
        max_length=128,
        description=(
            "Short CamelCase cause, e.g. Completed, Error, OOMKilled, Evicted, PodDeleted, StartTimeout, "
            "ModelUnavailable, Shutdown, IntensityExceeded."
        ),
    )
    message: StrictStr = Field(
        default="", max_length=4096, description="Details, e.g. the agent's termination message."
    )
    time: AwareDatetime = Field(description="When the exit was observed.")


class ObjectMeta(ApiModel):
    """The Kubernetes object metadata this project reads; every other metadata field is kept as it is."""

    model_config = ConfigDict(extra="allow")

    name: StrictStr | None = None
    namespace: StrictStr | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generation: StrictInt | None = None

    @property
    def uid(self) -> str | None:
        """The uid the API server gave the object (kept among the extra fields: a manifest never sets it)."""
        value = (self.model_extra or {}).get("uid")
        return value if isinstance(value, str) and value else None
