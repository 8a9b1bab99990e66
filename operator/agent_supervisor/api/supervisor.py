"""The `AgentSupervisor` resource: an OTP supervisor whose children are agents, pools of identical agents,
workers (plain containers) and nested supervisors."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from agent_supervisor.api.agent import (
    DEFAULT_AGENT_SHUTDOWN,
    DEFAULT_GRACE_SECONDS,
    AgentTemplate,
    TokenBudget,
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
from agent_supervisor.api.worker import WorkerSpec

# The CRD schema cannot be recursive, so it spells out this many levels of nested supervisors below the
# AgentSupervisor itself; the pydantic models enforce the same limit.
MAX_NESTING_DEPTH = 3
MAX_CHILDREN = 256
"""Children of one supervisor, counting each pool member: the bound of `children` and of a pool's replicas.
The API server estimates the cost of the CEL rules from it (cel_budget.py)."""
CHILD_NAME_MAX = 32
MEMBER_NAME_MAX = CHILD_NAME_MAX + 1 + len(str(MAX_CHILDREN - 1))
"""A pool member is named `<pool>-<index>`."""

CHILD_EXACTLY_ONE = "set exactly one of agent, pool, supervisor or worker"
SIGNIFICANT_NOT_PERMANENT = (
    "a significant child must not be permanent: set restart to transient or temporary, or significant to "
    "false (an omitted restart is permanent, except for an agent or a pool with a task)"
)
SIGNIFICANT_NEEDS_AUTO_SHUTDOWN = (
    "significant children need autoShutdown any_significant or all_significant: set autoShutdown, "
    "or set significant to false on every child"
)
TOO_MANY_CHILDREN = (
    f"a supervisor has at most {MAX_CHILDREN} children, each pool member counted: lower a pool's replicas, "
    "or move children into a nested supervisor"
)
MEMBER_NAME_TAKEN = (
    "names of the form <pool>-<number> belong to the members of that pool (present or after a scale-up): "
    "rename this child"
)
TOO_DEEP = (
    f"supervisors may be nested at most {MAX_NESTING_DEPTH} levels below an AgentSupervisor: flatten the "
    "tree, or run this subtree as a separate AgentSupervisor"
)

# "The restart in force is not permanent", in CEL over a child entry; see ChildSpec.effective_restart.
_CEL_EFFECTIVE_NOT_PERMANENT = (
    "has(self.restart) ? self.restart != 'permanent' : "
    "((has(self.agent) && has(self.agent.task)) || (has(self.pool) && has(self.pool.template.task)))"
)
CHILD_RULES = (
    cel_rule(
        "(has(self.agent) ? 1 : 0) + (has(self.pool) ? 1 : 0) + (has(self.supervisor) ? 1 : 0) "
        "+ (has(self.worker) ? 1 : 0) == 1",
        CHILD_EXACTLY_ONE,
    ),
    cel_rule(
        f"!self.significant || ({_CEL_EFFECTIVE_NOT_PERMANENT})", SIGNIFICANT_NOT_PERMANENT, ".significant"
    ),
)


class PoolSpec(ApiModel):
    """A pool: `replicas` identical agents from one template, each an individual child of the supervisor.

    The members are named <pool>-0 ... <pool>-<replicas - 1> and take the pool's place in the start order, in
    index order. Changing replicas adds members at the end (started in order) or removes the highest indexes
    first; every member counts toward the supervisor's limit of children.
    """

    replicas: StrictInt = Field(
        ge=0,
        le=MAX_CHILDREN,
        description=(
            f"How many agents the pool runs (0 to {MAX_CHILDREN}; all children of the supervisor, pool "
            f"members counted one by one, are at most {MAX_CHILDREN})."
        ),
    )
    template: AgentTemplate = Field(description="Template of every member agent.")


class ChildSpec(ApiModel):
    """One child of a supervisor: an agent, a pool of identical agents, a worker (a plain container) or a
    nested supervisor, with its restart and shutdown policy (a pool's apply to each member).

    The operator creates the child as a resource named <supervisor>-<child name>; a pool member as
    <supervisor>-<pool>-<index>. A worker has no resource of its own: its pods <supervisor>-<child>-<attempt>
    and its Service <supervisor>-<child> belong to the supervisor.
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
            "permanent otherwise (a worker too: OTP's default)."
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
            f"{DEFAULT_GRACE_SECONDS} grace seconds for an agent or a worker; for a nested supervisor, as "
            "long as its own children take to stop (OTP's infinity)."
        ),
    )
    agent: AgentTemplate | None = Field(default=None, description="Template of an agent child.")
    pool: PoolSpec | None = Field(
        default=None,
        description=(
            "A pool of identical agents, supervised as individual children named <name>-0, <name>-1, ... "
            "in the pool's place in the start order."
        ),
    )
    supervisor: SupervisorSpec | None = Field(
        default=None, description="Spec of a nested supervisor child, which supervises children of its own."
    )
    worker: WorkerSpec | None = Field(
        default=None,
        description=(
            "A plain container supervised like an agent, with a stable Service when it has ports; e.g. a "
            "tool server started before the agents that use it."
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> ChildSpec:
        if [self.agent, self.pool, self.supervisor, self.worker].count(None) != 3:
            raise SpecError("agent", CHILD_EXACTLY_ONE)
        if self.significant and self.effective_restart is RestartType.PERMANENT:
            raise SpecError("significant", SIGNIFICANT_NOT_PERMANENT)
        return self

    @property
    def kind(self) -> ChildKind:
        """The kind of child this is (of each member of a pool)."""
        if self.supervisor is not None:
            return ChildKind.AGENT_SUPERVISOR
        return ChildKind.WORKER if self.worker is not None else ChildKind.AGENT

    @property
    def template(self) -> AgentTemplate | None:
        """The agent template of an agent child or of each member of a pool."""
        return self.pool.template if self.pool is not None else self.agent

    @property
    def member_names(self) -> list[str]:
        """The children the supervisor supervises for this entry: itself, or a pool's members in order."""
        if self.pool is None:
            return [self.name]
        return [member_name(self.name, index) for index in range(self.pool.replicas)]

    @property
    def effective_restart(self) -> RestartType:
        """The restart type in force, with the omitted value resolved."""
        if self.restart is not None:
            return self.restart
        template = self.template
        return default_restart(template) if template is not None else RestartType.PERMANENT

    @property
    def effective_shutdown(self) -> ShutdownPolicy | None:
        """The shutdown policy in force; None means no time limit (OTP's infinity, for nested supervisors)."""
        if self.shutdown is not None or self.supervisor is not None:
            return self.shutdown
        return DEFAULT_AGENT_SHUTDOWN


def member_name(pool: str, index: int) -> str:
    """The child name of member `index` of pool `pool`."""
    return f"{pool}-{index}"


_MEMBER_SUFFIX = re.compile(r"-[0-9]+$")


def _pool_of(name: str, pools: set[str]) -> str | None:
    """The pool whose member names `name` has the form of, if any."""
    suffix = _MEMBER_SUFFIX.search(name)
    return None if suffix is None or name[: suffix.start()] not in pools else name[: suffix.start()]


class SupervisorSpec(ApiModel):
    """Desired state of an AgentSupervisor: its restart strategy, restart intensity and ordered children.

    Children start in list order, each once the previous one is Ready, and stop in reverse order.
    """

    # Unique names are the API server's own check of the list-map `children` (no CEL cost).
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule(
                f"self.children.map(c, has(c.pool) ? c.pool.replicas : 1).sum() <= {MAX_CHILDREN}",
                TOO_MANY_CHILDREN,
                ".children",
            ),
            cel_rule(
                "self.children.all(p, !has(p.pool) || self.children.all(c, !c.name.startsWith(p.name + '-') "
                "|| !c.name.substring(size(p.name) + 1).matches('^[0-9]+$')))",
                MEMBER_NAME_TAKEN,
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
    token_budget: TokenBudget | None = Field(
        default=None,
        description=(
            "Default token budgets of every agent in this supervisor's subtree (pools and nested supervisors "
            "included): an agent's own tokenBudget fields win, then the nearest supervisor's."
        ),
    )
    children: list[ChildSpec] = Field(
        min_length=1,
        max_length=MAX_CHILDREN,
        json_schema_extra=list_map("name"),
        description=(
            "The children, in start order. Adding, removing or reordering them is applied to the tree. At "
            f"most {MAX_CHILDREN}, each member of a pool counted."
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> SupervisorSpec:
        require_unique([child.name for child in self.children], "children", "name", "child name")
        pools = {child.name for child in self.children if child.pool is not None}
        counted = 0
        for index, child in enumerate(self.children):
            if _pool_of(child.name, pools) is not None:
                raise SpecError(f"children[{index}].name", MEMBER_NAME_TAKEN)
            counted += len(child.member_names) if child.pool is not None else 1
            if counted > MAX_CHILDREN:
                where = f"children[{index}]" + (".pool.replicas" if child.pool is not None else "")
                raise SpecError(where, TOO_MANY_CHILDREN)
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
    """Observed state of one child (of each member of a pool)."""

    name: StrictStr = Field(
        max_length=MEMBER_NAME_MAX, description="The child's name in the spec, or <pool>-<index>."
    )
    kind: ChildKind = Field(description="Agent, AgentSupervisor or Worker.")
    phase: Phase | None = Field(
        default=None, description="The child's phase (its resource's, if it has one)."
    )
    attempt: StrictInt | None = Field(
        default=None,
        ge=0,
        description=(
            "Incarnation the child runs (or last ran); an agent's or worker's pod is <child>-<attempt>."
        ),
    )
    ready: StrictBool = Field(default=False, description="Whether the child is Ready.")
    restarts: StrictInt = Field(
        default=0,
        ge=0,
        description=(
            "How many times this supervisor restarted the child after the child itself exited or failed to "
            "start; restarts as a sibling in another child's one_for_all or rest_for_one group do not count."
        ),
    )
    last_exit: ExitInfo | None = Field(default=None, description="How the child last exited.")


class PoolStatus(ApiModel):
    """Observed size of one pool."""

    name: StrictStr = Field(max_length=CHILD_NAME_MAX, description="The pool's name in the spec.")
    replicas: StrictInt = Field(ge=0, le=MAX_CHILDREN, description="The members the spec asks for.")
    ready_replicas: StrictInt = Field(default=0, ge=0, le=MAX_CHILDREN, description="Members that are Ready.")


class SupervisorStatus(ResourceStatus):
    """Observed state of an AgentSupervisor, written by the operator."""

    children: list[ChildStatus] | None = Field(
        default=None,
        max_length=MAX_CHILDREN,
        json_schema_extra=list_map("name"),
        description="State of each child, in start order; a pool's members one by one.",
    )
    pools: list[PoolStatus] | None = Field(
        default=None,
        max_length=MAX_CHILDREN,
        json_schema_extra=list_map("name"),
        description="Size of each pool: its replicas and how many of its members are Ready.",
    )
    pools_ready: StrictStr | None = Field(
        default=None,
        max_length=1024,
        description="Ready members out of replicas of each pool, e.g. workers 18/20 (the Pools column).",
    )
    workers_ready: StrictStr | None = Field(
        default=None,
        max_length=1024,
        description=(
            "Each worker child and its phase, e.g. tools Running (the Workers column: workers have no "
            "resource, so no row of their own in kubectl get otp)."
        ),
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
    """An Erlang/OTP-style supervisor whose children are Agents, workers (plain containers) and nested
    AgentSupervisors.

    It starts its children in order, restarts them by its strategy when they exit, and gives up and exits
    when they restart more than maxRestarts times in periodSeconds, escalating to its own parent.
    """

    api_version: Literal["otp.agents.dev/v1alpha1"] = API_VERSION
    kind: Literal["AgentSupervisor"] = "AgentSupervisor"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SupervisorSpec
    status: SupervisorStatus | None = None
