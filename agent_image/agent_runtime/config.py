"""The versioned runtime config contract (`runtime.otp.agents.dev/v1`).

The operator renders a `RuntimeConfig` into a ConfigMap; the runtime reads it from the path in env
`AGENT_CONFIG`. JSON/YAML keys are camelCase; Python attributes are snake_case. This module stays free of I/O
libraries so the operator can import it.
"""

import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from agent_runtime import fast_yaml
from agent_runtime.mcp_config import McpServerConfig, unique_servers
from agent_runtime.paths import builtin_path
from agent_runtime.tool_settings import TOOL_SETTINGS

API_VERSION: Final = "runtime.otp.agents.dev/v1"
KIND: Final = "RuntimeConfig"
DEFAULT_CONFIG_PATH: Final = "/etc/agent/config.yaml"
CONFIG_PATH_ENV: Final = "AGENT_CONFIG"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEMPLATE_FIELDS: Final = frozenset({"name", "namespace", "api"})
_RESERVED_MODEL_PARAMETERS: Final = frozenset({"model", "messages", "tools", "stream"})
_OUTPUT_LIMIT_PARAMETERS: Final = frozenset({"max_tokens", "max_completion_tokens"})
BASE_TIMEOUT_SECONDS: Final = 60.0
SECONDS_PER_OUTPUT_TOKEN: Final = 0.25
"""Without `timeoutSeconds`, a call may take 60 s plus 0.25 s per token of its output limit (a CPU server
writing 4 tokens a second): the default 1024-token limit gives 316 s."""


class ConfigError(Exception):
    """The config is missing or invalid; `str()` lists every problem as `field.path: problem`."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _dns_label(value: str, what: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} must be a DNS-1123 label (lowercase letters, digits, '-', at most 63)"
        )
    return value


class AgentIdentity(_Model):
    name: str = Field(description="The agent's name; peers address it by this name.")
    namespace: str = Field(default="default")
    supervisor_path: str = Field(default="", description="Supervisors above this agent, e.g. `root/team`.")

    @field_validator("name", "namespace")
    @classmethod
    def _labels(cls, value: str, info: ValidationInfo) -> str:
        return _dns_label(value, str(info.field_name))


class RetryConfig(_Model):
    max_attempts: int = Field(default=6, ge=1, description="Model calls tried per step before giving up.")
    initial_backoff_seconds: float = Field(default=0.5, gt=0)
    max_backoff_seconds: float = Field(default=30.0, gt=0)
    max_retry_after_seconds: float = Field(
        default=120.0, ge=0, description="A provider's Retry-After is honoured up to this many seconds."
    )
    reject_after_same_errors: int = Field(
        default=3,
        ge=0,
        description="The same HTTP 500 error body this many times running is a rejection of the request "
        "(a server failing deterministically), not an outage; 0 treats every 500 as an outage.",
    )


class ModelConfig(_Model):
    endpoint: str = Field(
        description="Base URL of an OpenAI-compatible API, e.g. `https://api.openai.com/v1`."
    )
    name: str = Field(min_length=1, description="Model name sent as `model`.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Extra request fields, e.g. temperature or max_tokens."
    )
    api_key_env: str | None = Field(
        default=None, description="Name of the env var holding the API key (set from a Secret)."
    )
    max_output_tokens: int = Field(
        default=1024, ge=1, description="Most tokens one reply may have; sent as `max_tokens`."
    )
    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Read timeout of one model call; unset: 60 s plus 0.25 s per token of maxOutputTokens.",
    )
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @property
    def read_timeout_seconds(self) -> float:
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return BASE_TIMEOUT_SECONDS + self.max_output_tokens * SECONDS_PER_OUTPUT_TOKEN

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint {value!r} must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("parameters")
    @classmethod
    def _no_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        reserved = sorted(_RESERVED_MODEL_PARAMETERS & value.keys())
        if reserved:
            raise ValueError(f"reserved keys {reserved} are set by the runtime; remove them from parameters")
        limits = sorted(_OUTPUT_LIMIT_PARAMETERS & value.keys())
        if limits:
            raise ValueError(
                f"{limits[0]}: set model.maxOutputTokens instead (the runtime sends it as max_tokens)"
            )
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class ToolSpec(_Model):
    name: str = Field(description=f"One of: {', '.join(sorted(TOOL_SETTINGS))}.")
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_tool_with_valid_settings(self) -> "ToolSpec":
        settings_model = TOOL_SETTINGS.get(self.name)
        if settings_model is None:
            raise ValueError(f"unknown tool {self.name!r}; known tools: {', '.join(sorted(TOOL_SETTINGS))}")
        try:
            settings_model.model_validate(self.settings)
        except ValidationError as err:
            raise ValueError(f"settings of tool {self.name!r}: {_join(_problems(err, 'settings'))}") from None
        return self


class Budgets(_Model):
    max_tokens: int | None = Field(default=None, gt=0, description="Prompt + completion tokens per task.")
    max_tokens_per_hour: int | None = Field(
        default=None,
        gt=0,
        description="Prompt + completion tokens of the agent's model calls in any rolling hour: past it a "
        "task agent ends its task (BudgetExhausted) and a service agent pauses until the window frees.",
    )
    max_seconds: float | None = Field(default=None, gt=0, description="Wall-clock seconds per task.")


class ContextConfig(_Model):
    """How the conversation is kept within the model's context."""

    max_tool_result_chars: int = Field(
        default=16000,
        ge=256,
        description="A tool result longer than this is cut to it before the model sees it.",
    )
    max_tokens: int | None = Field(
        default=None,
        gt=0,
        description="The model's context in tokens: beyond it (estimated at 4 characters a token) the oldest "
        "tool results are elided before a request. Unset: elided only when the model reports an overflow.",
    )


class PeersConfig(_Model):
    address_template: str = Field(
        default="http://{name}.{namespace}.svc:8080",
        description="Base URL of a peer; placeholders {name}, {namespace} and {api} (the API server URL).",
    )
    via_api_server: bool = Field(
        default=False,
        description="The template goes through the API server's service proxy: authenticate to it with the "
        "service account token and carry the message token in X-Agent-Token.",
    )
    addresses: dict[str, str] = Field(
        default_factory=dict, description="Fixed base URLs by agent name; they win over the template."
    )

    @field_validator("address_template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        try:
            fields = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
        except ValueError as err:
            raise ValueError(f"malformed template {value!r}: {err}") from None
        unknown = sorted(fields - _TEMPLATE_FIELDS)
        if unknown:
            raise ValueError(f"unknown placeholders {unknown}; use only {{name}}, {{namespace}}, {{api}}")
        if "name" not in fields:
            raise ValueError("the template must contain {name}")
        return value.rstrip("/")


class CheckpointConfig(_Model):
    store: Literal["none", "file", "kubernetes"] = Field(
        default="none", description="`kubernetes` survives pod deletion; `file` is for tests and development."
    )
    path: str | None = Field(default=None, description="File store: the checkpoint file.")
    config_map_name: str | None = Field(
        default=None, description="Kubernetes store: the ConfigMap (default `<agent>-checkpoint`)."
    )
    api_url: str | None = Field(
        default=None, description="Kubernetes store: API server URL; default from the in-pod environment."
    )
    max_bytes: int = Field(default=512 * 1024, ge=4096, description="Cap on the compressed checkpoint.")

    @model_validator(mode="after")
    def _path_for_file_store(self) -> "CheckpointConfig":
        if self.store == "file" and not self.path:
            raise ValueError("store 'file' needs checkpoint.path")
        return self


class RuntimeConfig(_Model):
    api_version: str = Field(default=API_VERSION)
    kind: Literal["RuntimeConfig"] = KIND
    revision: str = Field(
        default="0", description="Set by the operator; reported back as the applied revision."
    )
    agent: AgentIdentity
    model: ModelConfig
    system_prompt: str
    task: str | None = Field(default=None, description="Set: a task agent. Unset: a service agent.")
    tools: list[ToolSpec] = Field(default_factory=list)
    mcp_servers: list[McpServerConfig] = Field(
        default_factory=list, description="MCP tool servers; their tools are offered as `<server>__<tool>`."
    )
    max_steps: int = Field(default=50, ge=1, description="Model calls per task.")
    budgets: Budgets = Field(default_factory=Budgets)
    context: ContextConfig = Field(default_factory=ContextConfig)
    resume: bool = Field(
        default=True, description="False: discard any checkpoint at start (a clean restart)."
    )
    peers: PeersConfig = Field(default_factory=PeersConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    on_dependency_outage: Literal["wait", "exit"] = Field(
        default="wait",
        description="A model still unavailable after its retries: `wait` keeps the task's place and retries "
        "with capped backoff until it answers; `exit` ends the process with code 75 (crash and restart).",
    )
    drain_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="After SIGTERM, how long a running step may take before it is abandoned.",
    )

    @field_validator("api_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value != API_VERSION:
            raise ValueError(f"unsupported apiVersion {value!r}; this runtime reads {API_VERSION!r}")
        return value

    @field_validator("tools")
    @classmethod
    def _unique_tools(cls, value: list[ToolSpec]) -> list[ToolSpec]:
        names = [tool.name for tool in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"tool names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @field_validator("mcp_servers")
    @classmethod
    def _unique_mcp_servers(cls, value: list[McpServerConfig]) -> list[McpServerConfig]:
        return unique_servers(value)

    @model_validator(mode="after")
    def _programs_do_not_get_the_api_key(self) -> "RuntimeConfig":
        key = self.model.api_key_env
        for index, tool in enumerate(self.tools):
            if key and tool.name == "run_program" and key in tool.settings.get("inheritEnv", []):
                raise ValueError(
                    f"tools[{index}].settings.inheritEnv: {key} holds the model API key (model.apiKeyEnv); "
                    "a program must never get it: remove it from inheritEnv"
                )
        return self

    @property
    def mode(self) -> Literal["task", "service"]:
        return "service" if self.task is None else "task"

    @property
    def checkpoint_config_map(self) -> str:
        return self.checkpoint.config_map_name or f"{self.agent.name}-checkpoint"

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready document (camelCase) the operator writes into the ConfigMap."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _problems(err: ValidationError, prefix: str = "") -> list[str]:
    problems = []
    for detail in err.errors(include_url=False):
        path = prefix
        for part in detail["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = detail["msg"].removeprefix("Value error, ")
        # A check across fields (a model validator) names its own fields in its message.
        problems.append(f"{path}: {message}" if path else message)
    return problems


def _join(problems: list[str]) -> str:
    return "; ".join(problems)


def parse_config(document: Mapping[str, Any]) -> RuntimeConfig:
    """Validate a config document; raises ConfigError naming each bad field."""
    try:
        return RuntimeConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError("invalid runtime config: " + _join(_problems(err))) from None


def load_config(path: str | Path) -> RuntimeConfig:
    """Read and validate the YAML (or JSON) config file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"cannot read runtime config {str(path)!r}: {err.strerror}; set {CONFIG_PATH_ENV}"
        ) from None
    try:
        document = fast_yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"runtime config {str(path)!r} is not valid YAML/JSON: {err}") from None
    if not isinstance(document, Mapping):
        raise ConfigError(f"runtime config {str(path)!r} must be a mapping with apiVersion {API_VERSION!r}")
    return parse_config(document)


def config_path_from_env() -> Path:
    explicit = os.environ.get(CONFIG_PATH_ENV)
    return Path(explicit) if explicit else builtin_path(DEFAULT_CONFIG_PATH)


def dump_config(config: RuntimeConfig) -> str:
    """YAML text of a config, as the operator renders it."""
    return yaml.safe_dump(config.to_document(), sort_keys=False)
