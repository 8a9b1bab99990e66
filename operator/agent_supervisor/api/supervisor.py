"""The `AgentSupervisor` resource: an OTP supervisor whose children are agents and nested supervisors."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from agent_supervisor.api.agent import (
    DEFAULT_AGENT_SHUTDOWN,
    DEFAULT_GRACE_SECONDS,
    AgentTemplate,
    default_restart,
)
from agent_supervisor.api.base import (
    API_VERSION,
    DNS_LABEL_PATTERN,
    ApiModel,
    SpecError,
    cel_rule,
    list_map,
    require_unique,
    validations,
)
from agent_supervisor.api.common import (
    DEFAULT_MAX_RESTARTS,
    DEFAULT_PERIOD_SECONDS,
    MAX_RESTARTS_LIMIT,
    PERIOD_SECONDS_LIMIT,
    AutoShutdown,
    ChildKind,
    ExitInfo,
    ObjectMeta,
    Phase,
    RestartBackoff,
    RestartType,
    ShutdownPolicy,
    Strategy,
)
from agent_supervisor.api.status import ResourceStatus

# The CRD schema cannot be recursive, so it spells out this many levels of nested supervisors below the
# AgentSupervisor itself; the pydantic models enforce the same limit.
MAX_NESTING_DEPTH = 3
# Bounds the cost of the CEL rules over children, which the API server estimates from these sizes.
MAX_CHILDREN = 16
CHILD_NAME_MAX = 32

CHILD_EXACTLY_ONE = "set exactly one of agent or supervisor"
SIGNIFICANT_NOT_PERMANENT = (
    "a significant child must not be permanent: set restart to transient or temporary, or significant to "
    "false (an omitted restart is permanent, except for an agent with a task)"
)
SIGNIFICANT_NEEDS_AUTO_SHUTDOWN = (
    "significant children need autoShutdown any_significant or all_significant: set autoShutdown, "
    "or set significant to false on every child"
)
UNIQUE_CHILD_NAMES = "child names must be unique: rename the repeated child"
TOO_DEEP = (
    f"supervisors may be nested at most {MAX_NESTING_DEPTH} levels below an AgentSupervisor: flatten the "
    "tree, or run this subtree as a separate AgentSupervisor"
)

# "The restart in force is not permanent", in CEL over a child entry; see ChildSpec.effective_restart.
_CEL_EFFECTIVE_NOT_PERMANENT = (
    "has(self.restart) ? self.restart != 'permanent' : (has(self.agent) && has(self.agent.task))"
)
CHILD_RULES = (
    cel_rule("has(self.agent) != has(self.supervisor)", CHILD_EXACTLY_ONE),
    cel_rule(
        f"!self.significant || ({_CEL_EFFECTIVE_NOT_PERMANENT})", SIGNIFICANT_NOT_PERMANENT, ".significant"
    ),
)
# Added by the CRD generator to children at the deepest level, whose `supervisor` field it leaves opaque.
DEPTH_RULE = cel_rule("!has(self.supervisor)", TOO_DEEP, ".supervisor")


class ChildSpec(ApiModel):
    """One child of a supervisor: an agent or a nested supervisor, with its restart and shutdown policy.

    The operator creates the child as a resource named <supervisor>-<child name>.
    """

    model_config = ConfigDict(json_schema_extra=validations(*CHILD_RULES))

    name: StrictStr = Field(
        max_length=CHILD_NAME_MAX,
        pattern=DNS_LABEL_PATTERN,
        description="Name of the child, unique in the supervisor; a lower-case DNS label.",
    )
    restart: RestartType | None = Field(
        default=None,
        description=(
            "When the child is restarted after it exits: permanent (always), transient (only after an "
            "abnormal exit) or temporary (never). When omitted: transient for an agent with a task, "
            "permanent otherwise (OTP's default)."
        ),
    )
    significant: StrictBool = Field(
        default=False,
        description=(
            "Whether this child exiting on its own counts toward the supervisor's autoShutdown. Must not be "
            "combined with restart permanent."
        ),
    )
    shutdown: ShutdownPolicy | None = Field(
        default=None,
        description=(
            "How the child is stopped: set exactly one of graceSeconds or brutalKill. When omitted: "
            f"{DEFAULT_GRACE_SECONDS} grace seconds for an agent; for a nested supervisor, as long as its "
            "own children take to stop (OTP's infinity)."
        ),
    )
    agent: AgentTemplate | None = Field(default=None, description="Template of an agent child.")
    supervisor: SupervisorSpec | None = Field(
        default=None, description="Spec of a nested supervisor child, which supervises children of its own."
    )

    @model_validator(mode="after")
    def _rules(self) -> ChildSpec:
        if (self.agent is None) == (self.supervisor is None):
            raise SpecError("agent", CHILD_EXACTLY_ONE)
        if self.significant and self.effective_restart is RestartType.PERMANENT:
            raise SpecError("significant", SIGNIFICANT_NOT_PERMANENT)
        return self

    @property
    def kind(self) -> ChildKind:
        """The kind of resource the operator creates for this child."""
        return ChildKind.AGENT if self.agent is not None else ChildKind.AGENT_SUPERVISOR

    @property
    def effective_restart(self) -> RestartType:
        """The restart type in force, with the omitted value resolved."""
        if self.restart is not None:
            return self.restart
        return default_restart(self.agent) if self.agent is not None else RestartType.PERMANENT

    @property
    def effective_shutdown(self) -> ShutdownPolicy | None:
        """The shutdown policy in force; None means no time limit (OTP's infinity, for nested supervisors)."""
        if self.shutdown is not None or self.agent is None:
            return self.shutdown
        return DEFAULT_AGENT_SHUTDOWN


class SupervisorSpec(ApiModel):
    """Desired state of an AgentSupervisor: its restart strategy, restart intensity and ordered children.

    Children start in list order, each once the previous one is Ready, and stop in reverse order.
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule(
                "self.children.all(c, self.children.exists_one(d, d.name == c.name))",
                UNIQUE_CHILD_NAMES,
                ".children",
            ),
            cel_rule(
                "self.autoShutdown != 'never' || self.children.all(c, !c.significant)",
                SIGNIFICANT_NEEDS_AUTO_SHUTDOWN,
                ".autoShutdown",
            ),
        )
    )

    strategy: Strategy = Field(
        default=Strategy.ONE_FOR_ONE,
        description=(
            "Which children restart when one must: one_for_one (only that child), one_for_all (all "
            "children: the others are stopped in reverse order, then all start in order) or rest_for_one "
            "(that child and the children after it in the list)."
        ),
    )
    max_restarts: StrictInt = Field(
        default=DEFAULT_MAX_RESTARTS,
        ge=0,
        le=MAX_RESTARTS_LIMIT,
        description=(
            "Restart intensity: most restarts within periodSeconds, all children together (a group restart "
            "counts once). One more and the supervisor stops all its children and exits, and its own parent "
            "decides what happens next (default 3, as Elixir)."
        ),
    )
    period_seconds: StrictInt = Field(
        default=DEFAULT_PERIOD_SECONDS,
        ge=1,
        le=PERIOD_SECONDS_LIMIT,
        description=(
            "Length of the restart intensity window, in whole seconds (default 5, as OTP and Elixir)."
        ),
    )
    auto_shutdown: AutoShutdown = Field(
        default=AutoShutdown.NEVER,
        description=(
            "Whether significant children exiting on their own shut the supervisor down: never, "
            "any_significant (the first one to exit), or all_significant (once none is left running)."
        ),
    )
    restart_backoff: RestartBackoff | None = Field(
        default=None,
        description="Optional delay between restarts of the same child; immediate when omitted, as in OTP.",
    )
    children: list[ChildSpec] = Field(
        min_length=1,
        max_length=MAX_CHILDREN,
        json_schema_extra=list_map("name"),
        description=(
            "The children, in start order. Adding, removing or reordering them is applied to the tree."
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> SupervisorSpec:
        require_unique([child.name for child in self.children], "children", "name", "child name")
        if self.auto_shutdown is AutoShutdown.NEVER and any(child.significant for child in self.children):
            raise SpecError("autoShutdown", SIGNIFICANT_NEEDS_AUTO_SHUTDOWN)
        too_deep = _path_below_limit(self, MAX_NESTING_DEPTH)
        if too_deep is not None:
            raise SpecError(too_deep, TOO_DEEP)
        return self


def _path_below_limit(spec: SupervisorSpec, levels_left: int) -> str | None:
    """The path of the first `supervisor` field nested deeper than allowed, or None."""
    for index, child in enumerate(spec.children):
        if child.supervisor is None:
            continue
        here = f"children[{index}].supervisor"
        if levels_left == 0:
            return here
        below = _path_below_limit(child.supervisor, levels_left - 1)
        if below is not None:
            return f"{here}.{below}"
    return None


ChildSpec.model_rebuild()


class ChildStatus(ApiModel):
    """Observed state of one child."""

    name: StrictStr = Field(max_length=CHILD_NAME_MAX, description="The child's name in the spec.")
    kind: ChildKind = Field(description="Agent or AgentSupervisor.")
    phase: Phase | None = Field(default=None, description="The child resource's phase.")
    ready: StrictBool = Field(default=False, description="Whether the child is Ready.")
    restarts: StrictInt = Field(
        default=0, ge=0, description="How many times this supervisor restarted the child."
    )
    last_exit: ExitInfo | None = Field(default=None, description="How the child last exited.")


class SupervisorStatus(ResourceStatus):
    """Observed state of an AgentSupervisor, written by the operator."""

    children: list[ChildStatus] | None = Field(
        default=None,
        max_length=MAX_CHILDREN,
        json_schema_extra=list_map("name"),
        description="State of each child, in start order.",
    )
    ready_children: StrictStr | None = Field(
        default=None, max_length=16, description="Ready children out of all children, e.g. 3/3."
    )
    restarts_in_window: StrictStr | None = Field(
        default=None,
        max_length=16,
        description="Restarts in the current intensity window out of maxRestarts, e.g. 1/3.",
    )

    @model_validator(mode="after")
    def _unique_children(self) -> SupervisorStatus:
        require_unique([c.name for c in self.children or []], "children", "name", "child name")
        return self


class AgentSupervisor(ApiModel):
    """An Erlang/OTP-style supervisor whose children are Agents and nested AgentSupervisors.

    It starts its children in order, restarts them by its strategy when they exit, and gives up and exits
    when they restart more than maxRestarts times in periodSeconds, escalating to its own parent.
    """

    api_version: Literal["otp.agents.dev/v1alpha1"] = API_VERSION
    kind: Literal["AgentSupervisor"] = "AgentSupervisor"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SupervisorSpec
    status: SupervisorStatus | None = None
