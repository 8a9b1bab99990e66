"""The `Agent` resource: one LLM agent running in its own pod."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    model_validator,
)

from agent_supervisor.api.base import (
    API_VERSION,
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
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
    ObjectMeta,
    RestartBackoff,
    RestartType,
    SecretKeyRef,
    ShutdownPolicy,
)
from agent_supervisor.api.mcp import MAX_MCP_SERVERS, McpServerSpec
from agent_supervisor.api.pod import EnvVar, ResourceRequirements, Toleration
from agent_supervisor.api.status import ResourceStatus
from agent_supervisor.api.worker import IMAGE_PATTERN, IMAGE_WHITESPACE

MAX_TOOLS = 32
MAX_ENV = 32
MAX_TOLERATIONS = 32
MAX_TEXT = 65_536
DEFAULT_GRACE_SECONDS = 5


class ModelParameters(ApiModel):
    """Sampling parameters sent with each chat completion request; omitted ones use provider defaults."""

    temperature: StrictFloat | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: StrictFloat | None = Field(
        default=None, ge=0, le=1, description="Nucleus sampling probability mass."
    )
    max_tokens: StrictInt | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Most tokens the model may generate in one response (default 1024).",
    )
    seed: StrictInt | None = Field(
        default=None, description="Seed for providers that support reproducible sampling."
    )


class ModelRetry(ApiModel):
    """How a failing model call is retried before the failure counts as an outage (onDependencyOutage)."""

    max_attempts: StrictInt | None = Field(
        default=None, ge=1, le=100, description="Calls tried per step before an outage begins (default 6)."
    )
    initial_backoff_seconds: StrictFloat | None = Field(
        default=None, gt=0, le=3600, description="The first pause between tries (default 0.5)."
    )
    max_backoff_seconds: StrictFloat | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="The longest pause between tries, during an outage too (default 30).",
    )
    max_retry_after_seconds: StrictFloat | None = Field(
        default=None,
        ge=0,
        le=86_400,
        description="A provider's Retry-After is honoured up to this many seconds (default 120).",
    )


class ModelSpec(ApiModel):
    """The language model the agent calls, through an OpenAI-compatible chat completions API."""

    endpoint: StrictStr = Field(
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description=(
            "Base URL of the OpenAI-compatible API, up to and including the version path, e.g. "
            "https://api.openai.com/v1 or http://vllm.models.svc:8000/v1; the agent POSTs to "
            "<endpoint>/chat/completions."
        ),
    )
    name: StrictStr = Field(
        min_length=1, max_length=256, description="Model name sent in each request, e.g. gpt-4o-mini."
    )
    parameters: ModelParameters | None = Field(default=None, description="Sampling parameters.")
    timeout_seconds: StrictInt | None = Field(
        default=None,
        ge=1,
        le=3600,
        description=(
            "How long one model call may take. When omitted: 60 seconds plus a quarter second per token of "
            "parameters.maxTokens, so a slow CPU server has time to write a full reply (316 s by default)."
        ),
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "Secret key holding the API key, sent as a bearer token. The key never appears in the resource: "
            "only this reference does. Omit it for endpoints that need no key."
        ),
    )
    retry: ModelRetry | None = Field(
        default=None, description="Retries of a failing call; past them the endpoint is unavailable."
    )


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMED_LABEL = r"([a-z0-9][-a-z0-9]*)?[a-z]([-a-z0-9]*[a-z0-9])?"
"""A label with a letter in it: what a wildcard's last label must be (an address has none)."""
HostPattern = Annotated[
    str,
    StringConstraints(
        strict=True,
        max_length=DNS_SUBDOMAIN_MAX,
        # A name or an IPv4 address, or `*.` and a name whose last label has a letter: wildcards match host
        # names only, never addresses. An optional `:port` allows that port only.
        pattern=rf"^({_LABEL}(\.{_LABEL})*|\*\.({_LABEL}\.)*{_NAMED_LABEL})(:[0-9]{{1,5}})?$",
    ),
]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
CidrNetwork = Annotated[
    str,
    StringConstraints(strict=True, max_length=43),
    Field(json_schema_extra={"format": "cidr"}),
    AfterValidator(lambda value: _cidr(value)),  # a lambda: _cidr is defined below, for reading order
]


def _cidr(value: str) -> str:
    """The network as written, if it is one; otherwise a ValueError naming the fix."""
    if "/" not in value:
        raise ValueError(f"{value!r} is not a CIDR network: write it as {value}/32 (or /128 for IPv6)")
    try:
        ipaddress.ip_network(value)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a CIDR network: {err}") from None
    return value


ProgramArg = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=4096)]
EnvName = Annotated[str, StringConstraints(strict=True, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class ProgramEnvVar(ApiModel):
    """An environment variable of run_program's program: a plain value, or a Secret key (never copied into
    the runtime config: the pod maps it into the agent's container and the program inherits it by name)."""

    name: EnvName = Field(description="Name of the variable.")
    value: StrictStr | None = Field(default=None, max_length=32_768, description="Literal value.")
    secret_key_ref: SecretKeyRef | None = Field(default=None, description="Take the value from a Secret key.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ProgramEnvVar:
        if (self.value is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of value or secretKeyRef")
        return self


class ToolSpec(ApiModel):
    """A tool the agent may call, with its settings. Unknown tool names make the resource Invalid."""

    name: StrictStr = Field(
        max_length=64,
        pattern=r"^[a-z][a-z0-9_]*$",
        description=(
            "Tool name. Built in: send_message (send a message to another agent, no reply), ask_agent (send "
            "one and wait for the reply), http_get (fetch a URL from allowedHosts), finish (end the task "
            "with a result), run_program (run the configured command)."
        ),
    )
    allowed_hosts: list[HostPattern] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "http_get: the hosts it may contact, e.g. api.github.com or *.example.com (a leading *. matches "
            "subdomains, never IP addresses); every other host is refused. host:port allows that port only, "
            "instead of allowedPorts."
        ),
    )
    allowed_ports: list[Port] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "http_get: the ports it may connect to, for allowedHosts entries without a :port of their own "
            "(default [80, 443])."
        ),
    )
    allowed_networks: list[CidrNetwork] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "http_get: private, loopback, link-local, multicast or reserved networks (CIDR, e.g. "
            "10.96.0.0/12 for in-cluster Services) it may connect to. Addresses of those ranges outside them "
            "are refused, whatever allowed name resolves to them; the check is on the address connected to."
        ),
    )
    max_response_bytes: StrictInt | None = Field(
        default=None, ge=1, le=10_485_760, description="http_get: responses are cut to this many bytes."
    )
    timeout_seconds: StrictInt | None = Field(
        default=None,
        ge=1,
        le=3600,
        description=(
            "ask_agent: how long to wait for the reply before the call fails; http_get: how long the "
            "whole call may take, redirects included; run_program: the program's process group is killed "
            "after this."
        ),
    )
    command: list[ProgramArg] | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
        description="run_program: argv of the program (no shell), e.g. [wc, -w].",
    )
    allow_arguments: StrictBool | None = Field(
        default=None, description="run_program: whether the model may append arguments (default true)."
    )
    max_output_bytes: StrictInt | None = Field(
        default=None, ge=1, le=10_485_760, description="run_program: stdout and stderr are each cut to this."
    )
    working_dir: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="run_program: the program's working directory.",
    )
    env: list[ProgramEnvVar] | None = Field(
        default=None,
        max_length=MAX_ENV,
        json_schema_extra=list_map("name"),
        description="run_program: environment variables of the program, plain or from Secret keys.",
    )
    inherit_env: list[EnvName] | None = Field(
        default=None,
        max_length=MAX_ENV,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "run_program: variables of the agent container's environment passed on to the program (default "
            "[PATH]); nothing else is, and never the agent's own secrets."
        ),
    )

    @model_validator(mode="after")
    def _unique_hosts(self) -> ToolSpec:
        require_unique(self.allowed_hosts or [], "allowedHosts", None, "host")
        require_unique([str(p) for p in self.allowed_ports or []], "allowedPorts", None, "port")
        require_unique(self.allowed_networks or [], "allowedNetworks", None, "network")
        require_unique([var.name for var in self.env or []], "env", "name", "environment variable name")
        return self


class ContextSpec(ApiModel):
    """How the agent keeps its conversation within the model's context."""

    max_tokens: StrictInt | None = Field(
        default=None,
        ge=256,
        le=10_000_000,
        description=(
            "The model's context size in tokens. Beyond it (estimated at 4 characters a token) the oldest "
            "tool results are elided before a request; when omitted they are elided only when the model "
            "reports an overflow."
        ),
    )
    max_tool_result_chars: StrictInt | None = Field(
        default=None,
        ge=256,
        le=10_000_000,
        description="Tool results longer than this are cut to it before the model sees them (default 16000).",
    )


MAX_BUDGET_TOKENS = 10_000_000_000


class TokenBudget(ApiModel):
    """Token budgets: prompt plus completion tokens of the agent's model calls, as its provider reports them.

    Set on an Agent or an agent template; on an AgentSupervisor it is the default of every agent in its
    subtree. Each field is taken from the nearest place that sets it: the agent's own, then its supervisor's,
    then that supervisor's ancestors'.
    """

    per_task: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_BUDGET_TOKENS,
        description=(
            "Most tokens one task may use (a task agent's task, or one message of a service agent); the "
            "task then ends with BudgetExhausted (exit code 3 for a task agent)."
        ),
    )
    per_hour: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_BUDGET_TOKENS,
        description=(
            "Most tokens the agent may use in any rolling hour, kept across its restarts. Past it a task "
            "agent ends its task with BudgetExhausted (exit code 3); a service agent pauses: it stays Ready, "
            "answers new messages with HTTP 429 until the window frees, then resumes on its own (no restart, "
            "no restart intensity spent). Condition BudgetAvailable reports it."
        ),
    )

    def under(self, default: TokenBudget | None) -> TokenBudget:
        """This budget with each field it leaves out taken from `default` (the nearer one wins)."""
        if default is None:
            return self
        return TokenBudget(
            per_task=self.per_task if self.per_task is not None else default.per_task,
            per_hour=self.per_hour if self.per_hour is not None else default.per_hour,
        )


def effective_budget(own: TokenBudget | None, default: TokenBudget | None) -> TokenBudget | None:
    """The budget in force below a supervisor whose (already resolved) budget is `default`."""
    if own is None:
        return default
    return own.under(default)


class AgentTemplate(ApiModel):
    """What an agent is and runs: its model, prompt, task, tools, and pod settings.

    The spec of an Agent, and the template of an agent child in an AgentSupervisor. Changes to the model,
    prompt, task, tools or maxSteps are applied to the running agent without a restart; changes to the pod
    settings (image, resources, env, serviceAccountName, nodeSelector, tolerations) replace its pod without
    counting as a restart.
    """

    model: ModelSpec = Field(description="The language model the agent calls.")
    system_prompt: StrictStr = Field(
        min_length=1, max_length=MAX_TEXT, description="System prompt that defines the agent's role."
    )
    task: StrictStr | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description=(
            "The task to carry out. With a task the agent works on it, records the result and exits 0; "
            "without one it is a service that serves messages from its inbox, one message per task, and "
            "never exits on its own."
        ),
    )
    tools: list[ToolSpec] | None = Field(
        default=None,
        max_length=MAX_TOOLS,
        json_schema_extra=list_map("name"),
        description="Tools the agent may call, each at most once in the list.",
    )
    mcp_servers: list[McpServerSpec] | None = Field(
        default=None,
        max_length=MAX_MCP_SERVERS,
        json_schema_extra=list_map("name"),
        description=(
            "MCP tool servers the agent uses; the model sees their tools as SERVER__TOOL (the server's name, "
            "two underscores, the tool's name)."
        ),
    )
    context: ContextSpec | None = Field(
        default=None, description="How the conversation is kept within the model's context."
    )
    token_budget: TokenBudget | None = Field(
        default=None,
        description=(
            "Token budgets per task and per rolling hour; fields left out come from the nearest supervisor "
            "that sets them (spec.tokenBudget of an AgentSupervisor)."
        ),
    )
    max_steps: StrictInt = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Most model calls the agent makes for one task; the task stops when it is reached.",
    )
    on_dependency_outage: Literal["wait", "exit"] = Field(
        default="wait",
        description=(
            "The model endpoint still unavailable after the retries (connection errors, 429, 5xx, "
            "timeouts): wait keeps the task's place, reports condition DependencyAvailable=False and tries "
            "again with capped backoff (no restart, no restart intensity spent); exit ends the agent with "
            "ModelUnavailable (75) so its supervisor restarts it, as OTP would. An MCP server down past "
            "three attempts is reported the same way (McpServerUnavailable); under wait a tool call that "
            "needs it waits for it, under exit the call is an error result the model sees."
        ),
    )
    resume: StrictBool = Field(
        default=True,
        description=(
            "After a restart, continue from the last checkpoint (completed steps and unprocessed messages). "
            "false starts from scratch each time, like a restarted OTP process with fresh state."
        ),
    )
    image: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        # As a worker's image: the pattern, a CEL rule for API servers whose `$` matches before a final
        # newline, and the model's own check with the fix.
        json_schema_extra={
            "pattern": IMAGE_PATTERN,
            **validations(cel_rule("!self.matches('\\\\s')", IMAGE_WHITESPACE)),
        },
        description=(
            "Container image of the agent runtime (no whitespace); defaults to the operator's configured "
            "agent image."
        ),
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="Resources of the agent's container."
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=MAX_ENV,
        json_schema_extra=list_map("name"),
        description="Extra environment variables of the agent's container.",
    )
    service_account_name: StrictStr | None = Field(
        default=None,
        max_length=DNS_SUBDOMAIN_MAX,
        pattern=DNS_SUBDOMAIN_PATTERN,
        description=(
            "ServiceAccount the agent's pod runs as. When omitted, the operator creates one for this "
            "agent alone (its name plus -agent), the only account that may write the agent's checkpoint; an "
            "account named here gets no such grant from the operator: bind it the Role named after the "
            "agent plus -checkpoint (docs/operations.md, Agent identity)."
        ),
    )
    node_selector: dict[str, Annotated[str, StringConstraints(strict=True, max_length=63)]] | None = Field(
        default=None, max_length=32, description="Node labels the agent's pod must be scheduled onto."
    )
    tolerations: list[Toleration] | None = Field(
        default=None,
        max_length=MAX_TOLERATIONS,
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
        description="Taints the agent's pod tolerates.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> AgentTemplate:
        if self.image is not None and any(char.isspace() for char in self.image):
            raise SpecError("image", IMAGE_WHITESPACE)
        require_unique([tool.name for tool in self.tools or []], "tools", "name", "tool name")
        require_unique([var.name for var in self.env or []], "env", "name", "environment variable name")
        require_unique([mcp.name for mcp in self.mcp_servers or []], "mcpServers", "name", "MCP server name")
        return self

    @property
    def is_task(self) -> bool:
        """A task agent finishes; a service agent (no task) serves its inbox until stopped."""
        return self.task is not None


class AgentSpec(AgentTemplate):
    """Desired state of an Agent.

    A standalone Agent supervises itself like a one_for_one supervisor of one child, using `restart`,
    `maxRestarts`, `periodSeconds`, `restartBackoff` and `shutdown`. An Agent created by an AgentSupervisor
    follows its child entry in the supervisor instead.
    """

    restart: RestartType | None = Field(
        default=None,
        description=(
            "When the agent is restarted after it exits: permanent (always), transient (only after an "
            "abnormal exit) or temporary (never). When omitted: transient for an agent with a task (it "
            "finishes once and is retried only if it fails), permanent for a service agent."
        ),
    )
    max_restarts: StrictInt = Field(
        default=DEFAULT_MAX_RESTARTS,
        ge=0,
        le=MAX_RESTARTS_LIMIT,
        description=(
            "Restart intensity: most restarts within periodSeconds. One more and the agent is not "
            "restarted: it becomes Failed with condition RestartBudgetExhausted (default 3, as Elixir)."
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
    restart_backoff: RestartBackoff | None = Field(
        default=None,
        description="Optional delay between restarts; restarts are immediate when omitted, as in OTP.",
    )
    shutdown: ShutdownPolicy | None = Field(
        default=None,
        description=(
            "How the agent's pod is stopped: set exactly one of graceSeconds or brutalKill; "
            f"{DEFAULT_GRACE_SECONDS} grace seconds when omitted."
        ),
    )

    @property
    def effective_restart(self) -> RestartType:
        """The restart type in force, with the omitted value resolved."""
        return self.restart or default_restart(self)

    @property
    def effective_shutdown(self) -> ShutdownPolicy:
        """The shutdown policy in force, with the omitted value resolved."""
        return self.shutdown or DEFAULT_AGENT_SHUTDOWN


DEFAULT_AGENT_SHUTDOWN = ShutdownPolicy(grace_seconds=DEFAULT_GRACE_SECONDS)


def default_restart(template: AgentTemplate) -> RestartType:
    """Task agents are retried only when they fail; service agents always come back."""
    return RestartType.TRANSIENT if template.is_task else RestartType.PERMANENT


class AgentStatus(ResourceStatus):
    """Observed state of an Agent, written by the operator."""

    supervisor: StrictStr | None = Field(
        default=None,
        max_length=DNS_SUBDOMAIN_MAX,
        description="Name of the AgentSupervisor this agent is a child of; empty for a standalone agent.",
    )
    pod_name: StrictStr | None = Field(
        default=None,
        max_length=DNS_SUBDOMAIN_MAX,
        description="Name of the pod running the current incarnation.",
    )
    attempt: StrictInt | None = Field(
        default=None,
        ge=0,
        description=(
            "Incarnation number of the current pod; it grows with every (re)start and is on the pod's labels."
        ),
    )
    config_revision: StrictStr | None = Field(
        default=None, max_length=128, description="Revision of the configuration the operator last rendered."
    )
    applied_config_revision: StrictStr | None = Field(
        default=None,
        max_length=128,
        description="Revision of the configuration the running agent reports as applied.",
    )
    hourly_tokens_used: StrictInt | None = Field(
        default=None,
        ge=0,
        description=(
            "With tokenBudget.perHour: tokens the agent used in the rolling hour, as of its last report "
            "(read after each finished task and at each budget pause and resume)."
        ),
    )
    hourly_token_budget_left: StrictInt | None = Field(
        default=None,
        ge=0,
        description=(
            "With tokenBudget.perHour: tokens left in the rolling hour, as of the agent's last report."
        ),
    )


class Agent(ApiModel):
    """An LLM agent running in its own pod, restarted by OTP rules.

    On its own, an Agent is supervised like a one_for_one supervisor with one child; inside an AgentSupervisor
    tree, its supervisor decides when it restarts.
    """

    api_version: Literal["otp.agents.dev/v1alpha1"] = API_VERSION
    kind: Literal["Agent"] = "Agent"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AgentSpec
    status: AgentStatus | None = None
