"""The runtime config an Agent's pod reads: rendered from the Agent, validated against the runtime's contract.

The document is `agent_runtime.config.RuntimeConfig` (apiVersion runtime.otp.agents.dev/v1). Its revision is a
hash of everything else in it, so the revision changes exactly when the running agent must reload.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from agent_runtime.config import ConfigError, dump_config, parse_config
from agent_supervisor import api
from agent_supervisor.translate import labels, mcp_servers

MODEL_API_KEY_ENV: Final = "AGENT_MODEL_API_KEY"
"""The env var the pod maps the model API key Secret into; the config names it, never the key itself."""
DEFAULT_PEER_TEMPLATE: Final = "http://{name}.{namespace}.svc:8080"
REVISION_LENGTH: Final = 16

# How each API tool field becomes a runtime tool setting, per tool; a field a tool does not take is an error.
_TOOL_SETTINGS: Final[dict[str, dict[str, str]]] = {
    "http_get": {
        "allowed_hosts": "allowedHosts",
        "allowed_ports": "allowedPorts",
        "allowed_networks": "allowedNetworks",
        "max_response_bytes": "maxBytes",
        "timeout_seconds": "timeoutSeconds",
    },
    "ask_agent": {"timeout_seconds": "defaultTimeoutSeconds"},
    "run_program": {
        "command": "command",
        "allow_arguments": "allowArguments",
        "timeout_seconds": "timeoutSeconds",
        "max_output_bytes": "maxOutputBytes",
        "working_dir": "workingDir",
        "env": "env",
        "inherit_env": "inheritEnv",
    },
}
DEFAULT_INHERIT_ENV: Final = ("PATH",)


class RenderError(ValueError):
    """The Agent cannot be turned into a valid runtime config; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What the runtime config needs beyond the Agent's spec."""

    namespace: str
    supervisor_path: str = ""
    """Supervisors above the agent, root first, joined by '/'; empty for a standalone Agent."""
    peer_template: str = DEFAULT_PEER_TEMPLATE
    """Base URL of a peer agent, with {name}, {namespace} and optionally {api}."""
    peers_via_api_server: bool = False
    api_url: str | None = None
    """The API server URL as seen from pods; None lets the runtime find it in its environment."""
    checkpoint_store: Literal["kubernetes", "file", "none"] = "kubernetes"
    checkpoint_path: str | None = None
    """The checkpoint file, for the file store only (tests and development)."""


class RenderedConfig(NamedTuple):
    document: dict[str, Any]
    """The validated RuntimeConfig document (camelCase, JSON-ready), revision included."""
    revision: str

    @property
    def text(self) -> str:
        """The YAML stored under `config.yaml` in the agent's ConfigMap."""
        return dump_config(parse_config(self.document))


def tool_settings(tool: api.ToolSpec) -> dict[str, Any]:
    """The runtime settings of one tool. Raises RenderError naming an API field the tool does not take."""
    mapping = _TOOL_SETTINGS.get(tool.name, {})
    settings: dict[str, Any] = {}
    for field, value in tool.model_dump(by_alias=False, exclude_none=True, exclude={"name"}).items():
        alias = api.ToolSpec.model_fields[field].alias or field
        if field not in mapping:
            takers = sorted(name for name, fields in _TOOL_SETTINGS.items() if field in fields)
            raise RenderError(f"{alias}: tool {tool.name!r} takes no {alias}; only {', '.join(takers)} do")
        settings[mapping[field]] = value
    if tool.env is not None:
        settings |= _program_env(tool)
    return settings


def _program_env(tool: api.ToolSpec) -> dict[str, Any]:
    """Plain values go into the config; a Secret's value never does: the pod maps it into the agent's
    container under the program's variable name (agent_pod.py) and the program inherits it by that name."""
    plain = {var.name: var.value for var in tool.env or [] if var.value is not None}
    secret = [var.name for var in tool.env or [] if var.secret_key_ref is not None]
    inherited = list(DEFAULT_INHERIT_ENV if tool.inherit_env is None else tool.inherit_env)
    return {"env": plain, "inheritEnv": [*inherited, *(name for name in secret if name not in inherited)]}


def render(agent: api.Agent, ctx: RenderContext) -> RenderedConfig:
    """The runtime config of `agent`, validated with the runtime's own model. Raises RenderError."""
    name = agent.metadata.name
    if not name:
        raise RenderError("metadata.name: the Agent has no name")
    spec = agent.spec
    tools = []
    for index, tool in enumerate(spec.tools or []):
        try:
            tools.append({"name": tool.name, "settings": tool_settings(tool)})
        except RenderError as err:
            raise RenderError(f"spec.tools[{index}].{err}") from None
    try:
        servers = mcp_servers.runtime_servers(spec)
    except ValueError as err:
        raise RenderError(f"spec.{err}") from None
    body: dict[str, Any] = {
        "apiVersion": "runtime.otp.agents.dev/v1",
        "kind": "RuntimeConfig",
        "agent": {"name": name, "namespace": ctx.namespace, "supervisorPath": ctx.supervisor_path},
        "model": _model(spec.model),
        "systemPrompt": spec.system_prompt,
        "task": spec.task,
        "tools": tools,
        "mcpServers": servers,
        "maxSteps": spec.max_steps,
        "budgets": _budgets(spec.token_budget),
        "context": None
        if spec.context is None
        else spec.context.model_dump(by_alias=True, exclude_none=True),
        "resume": spec.resume,
        "onDependencyOutage": spec.on_dependency_outage,
        "peers": {"addressTemplate": ctx.peer_template, "viaApiServer": ctx.peers_via_api_server},
        "checkpoint": _checkpoint(name, ctx),
    }
    document = _validated(body)
    revision = _revision(document)
    return RenderedConfig(document=_validated({**document, "revision": revision}), revision=revision)


def _model(model: api.ModelSpec) -> dict[str, Any]:
    # Sampling parameters are sent as request fields, so they keep the provider's snake_case names; the
    # output limit is the runtime's own field (it also sets the default timeout).
    parameters = (
        {} if model.parameters is None else model.parameters.model_dump(by_alias=False, exclude_none=True)
    )
    max_tokens = parameters.pop("max_tokens", None)
    rendered: dict[str, Any] = {"endpoint": model.endpoint, "name": model.name, "parameters": parameters}
    if max_tokens is not None:
        rendered["maxOutputTokens"] = max_tokens
    if model.timeout_seconds is not None:
        rendered["timeoutSeconds"] = model.timeout_seconds
    if model.api_key_secret_ref is not None:
        rendered["apiKeyEnv"] = MODEL_API_KEY_ENV
    if model.retry is not None:
        rendered["retry"] = model.retry.model_dump(by_alias=True, exclude_none=True)
    return rendered


def _budgets(budget: api.TokenBudget | None) -> dict[str, Any] | None:
    """The runtime's budgets from spec.tokenBudget (already merged with its supervisors' defaults when the
    Agent is a supervisor's child: manifests.child_agent writes the budget in force into its spec)."""
    if budget is None:
        return None
    rendered = {"maxTokens": budget.per_task, "maxTokensPerHour": budget.per_hour}
    return {key: value for key, value in rendered.items() if value is not None}


def _checkpoint(name: str, ctx: RenderContext) -> dict[str, Any]:
    match ctx.checkpoint_store:
        case "kubernetes":
            return {
                "store": "kubernetes",
                "configMapName": labels.checkpoint_name(name),
                "apiUrl": ctx.api_url,
            }
        case "file":
            return {"store": "file", "path": ctx.checkpoint_path}
        case "none":
            return {"store": "none"}


def _validated(body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return parse_config({key: value for key, value in body.items() if value is not None}).to_document()
    except ConfigError as err:
        raise RenderError(str(err)) from None


def _revision(document: Mapping[str, Any]) -> str:
    unrevised = {key: value for key, value in document.items() if key != "revision"}
    canonical = json.dumps(unrevised, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]
