"""MCP tool servers an agent uses (`mcpServers` on Agent specs and agent templates)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StrictInt, StrictStr, StringConstraints, model_validator

from agent_supervisor.api.base import (
    ApiModel,
    SpecError,
    cel_rule,
    list_map,
    require_unique,
    validations,
)
from agent_supervisor.api.common import SecretKeyRef
from agent_supervisor.api.worker import PortRef

MAX_MCP_SERVERS = 16
MAX_MCP_HEADERS = 8
MAX_ALLOWED_TOOLS = 128
MCP_EXACTLY_ONE = "set exactly one of url or child"
MCP_PORT_NEEDS_CHILD = "port and path are for child servers only: put them in url"
# A DNS label without '--': the model sees the server's tools as SERVER__TOOL, and names map to env vars.
MCP_SERVER_NAME_PATTERN = r"^[a-z]([a-z0-9]|-[a-z0-9])*$"


class McpHeaderFrom(ApiModel):
    """An HTTP header sent to the MCP server, its value read from a Secret (never from the resource)."""

    name: StrictStr = Field(
        max_length=256,
        pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
        description="Header name, e.g. Authorization.",
    )
    secret_key_ref: SecretKeyRef = Field(
        description=(
            "Secret key holding the header's whole value (e.g. `Bearer ...`). The pod gets it as an "
            "environment variable; the value is never in the resource, its status, a ConfigMap or a log."
        )
    )


class McpServerSpec(ApiModel):
    """An MCP tool server. Its tools are offered to the model as SERVER__TOOL, with the server's own
    JSON Schema; a refused tool, a tool error or a timeout is a result the model sees, never a crash.
    Changes are applied to the running agent without a restart (but for headersFrom, which replaces the pod).
    """

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("has(self.url) != has(self.child)", MCP_EXACTLY_ONE),
            cel_rule("has(self.child) || !(has(self.port) || has(self.path))", MCP_PORT_NEEDS_CHILD),
        )
    )

    name: StrictStr = Field(
        max_length=32,
        pattern=MCP_SERVER_NAME_PATTERN,
        description="Name of the server in this agent (a DNS label without '--'); prefixes its tools' names.",
    )
    url: StrictStr | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+(/[^\s]*)?$",
        description="The server's streamable HTTP endpoint, e.g. http://tools.tools.svc:8000/mcp.",
    )
    child: StrictStr | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$",
        description=(
            "A worker child of the same AgentSupervisor that runs the server: the agent reaches it through "
            "the worker's Service. Only for agents inside an AgentSupervisor; put it before the agent in "
            "`children` so it starts first (rest_for_one restarts the agent when it restarts)."
        ),
    )
    port: PortRef | None = Field(
        default=None,
        description="child: the worker port (number or name); when omitted, the worker's first port.",
    )
    path: StrictStr | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^/[^\s]*$",
        description="child: the endpoint's path on the worker (default /mcp).",
    )
    transport: Literal["streamable-http", "sse"] | None = Field(
        default=None,
        description="streamable-http (default) or sse, for servers that speak only the older SSE transport.",
    )
    headers_from: list[McpHeaderFrom] | None = Field(
        default=None,
        max_length=MAX_MCP_HEADERS,
        json_schema_extra=list_map("name"),
        description="Headers sent with every request, each from a Secret key (e.g. Authorization).",
    )
    allowed_tools: (
        list[Annotated[str, StringConstraints(strict=True, min_length=1, max_length=128)]] | None
    ) = Field(
        default=None,
        max_length=MAX_ALLOWED_TOOLS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Tools of the server the model may call; when omitted, every tool the server lists.",
    )
    timeout_seconds: StrictInt | None = Field(
        default=None, ge=1, le=3600, description="How long one tool call may take (default 30)."
    )
    max_result_bytes: StrictInt | None = Field(
        default=None,
        ge=256,
        le=10_485_760,
        description="Tool results are cut to this many bytes before the model sees them (default 65536).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> McpServerSpec:
        if (self.url is None) == (self.child is None):
            raise SpecError("url", MCP_EXACTLY_ONE)
        if self.child is None and (self.port is not None or self.path is not None):
            raise SpecError("port", MCP_PORT_NEEDS_CHILD)
        require_unique([header.name for header in self.headers_from or []], "headersFrom", "name", "header")
        require_unique(self.allowed_tools or [], "allowedTools", None, "tool")
        return self
