"""The user-facing API: the `Agent` and `AgentSupervisor` resources (group otp.agents.dev, version v1alpha1).

The pydantic models here are the single source of truth: the CRDs in `crds/` are generated from them
(`make crds`), and the operator validates resources with them. `field_issues` turns a ValidationError into
Kubernetes-style field paths; every cross-field rule exists twice, as a model validator and as a CEL rule,
with the same message.

Design decisions:
- Defaults follow OTP/Elixir: strategy one_for_one, maxRestarts 3 (Elixir; OTP's is 1), periodSeconds 5,
  autoShutdown never, significant false, no restart backoff. `restart` left out means transient for an agent
  with a task (it finishes, like a Kubernetes Job; a permanent one would be restarted after succeeding) and
  permanent otherwise; `effective_restart` resolves it.
- `shutdown` is an object with exactly one of `graceSeconds` or `brutalKill: true` (structural, unlike a
  number-or-string). Left out: 5 s for agents (OTP's worker default) and, for nested supervisors, no limit
  (OTP's infinity: they wait for their own children); `effective_shutdown` resolves it, None meaning no limit.
- The CRD schema cannot be recursive: it spells out MAX_NESTING_DEPTH (3) levels of nested supervisors and,
  one level further down, keeps `supervisor` opaque with a CEL rule that rejects it; the models enforce the
  same limit with the same message and field path.
- Lists are bounded (256 children, pool members counted one by one; 32 tools or env entries, ...) so the API
  server's CEL cost estimate stays bounded; the CRDs carry only the CEL rules its budget affords where they
  stand, and the models check every rule at every level (cel_budget.py).
- A `pool` child is `replicas` identical agents, each an ordinary child of the supervisor named
  `<pool>-<index>`; the names of that form are reserved for the pool's members.
- A `worker` child is a plain container (a tool server, say) supervised like an agent: no resource of its own,
  its pods and its Service `<supervisor>-<child>` belong to the supervisor; every field of it is a pod field.
  Secrets reach it only by reference (`env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`).
- An agent's API key is only ever a Secret reference (`model.apiKeySecretRef`); unknown fields are refused.
- `status.supervision` is an opaque object for the operator's supervision state.
"""

from agent_supervisor.api.agent import (
    Agent,
    AgentSpec,
    AgentStatus,
    AgentTemplate,
    ContextSpec,
    ModelParameters,
    ModelRetry,
    ModelSpec,
    ProgramEnvVar,
    TokenBudget,
    ToolSpec,
    effective_budget,
)
from agent_supervisor.api.base import API_VERSION, GROUP, VERSION, SpecError
from agent_supervisor.api.common import (
    AutoShutdown,
    ChildKind,
    Condition,
    ConditionStatus,
    ConditionType,
    ExitClass,
    ExitInfo,
    ObjectMeta,
    Phase,
    ProgressingReason,
    RestartBackoff,
    RestartType,
    SecretKeyRef,
    ShutdownPolicy,
    Strategy,
    TerminatedReason,
)
from agent_supervisor.api.crd import crd_manifests
from agent_supervisor.api.errors import FieldIssue, field_issues
from agent_supervisor.api.mcp import McpHeaderFrom, McpServerSpec
from agent_supervisor.api.phase import find_condition, phase_from_conditions, set_condition
from agent_supervisor.api.supervisor import (
    MAX_CHILDREN,
    MAX_NESTING_DEPTH,
    AgentSupervisor,
    ChildSpec,
    ChildStatus,
    PoolSpec,
    PoolStatus,
    SupervisorSpec,
    SupervisorStatus,
    member_name,
)
from agent_supervisor.api.worker import WorkerSpec

__all__ = [
    "API_VERSION",
    "GROUP",
    "MAX_CHILDREN",
    "MAX_NESTING_DEPTH",
    "VERSION",
    "Agent",
    "AgentSpec",
    "AgentStatus",
    "AgentSupervisor",
    "AgentTemplate",
    "AutoShutdown",
    "ChildKind",
    "ChildSpec",
    "ChildStatus",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ContextSpec",
    "ExitClass",
    "ExitInfo",
    "FieldIssue",
    "McpHeaderFrom",
    "McpServerSpec",
    "ModelParameters",
    "ModelRetry",
    "ModelSpec",
    "ObjectMeta",
    "Phase",
    "PoolSpec",
    "PoolStatus",
    "ProgramEnvVar",
    "ProgressingReason",
    "RestartBackoff",
    "RestartType",
    "SecretKeyRef",
    "ShutdownPolicy",
    "SpecError",
    "Strategy",
    "SupervisorSpec",
    "SupervisorStatus",
    "TerminatedReason",
    "TokenBudget",
    "ToolSpec",
    "WorkerSpec",
    "crd_manifests",
    "effective_budget",
    "field_issues",
    "find_condition",
    "member_name",
    "phase_from_conditions",
    "set_condition",
]
