"""The `mcpServers` part of the runtime config contract: the MCP tool servers an agent uses.

Pure pydantic (no I/O imports): the operator imports this through `agent_runtime.config`. Header values are
never in the config: each header names the environment variable that holds it (set from a Secret), so a
ConfigMap, a status or a log line can carry the config without carrying a credential.
"""

import re
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

TOOL_SEPARATOR: Final = "__"
"""The model sees MCP tools as `<server>__<tool>`."""
_SERVER_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class McpHeader(_Model):
    name: str = Field(description="HTTP header name, e.g. Authorization.")
    value_env: str = Field(description="Environment variable holding the value (mapped from a Secret).")

    @field_validator("name")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value

    @field_validator("value_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value


class McpServerConfig(_Model):
    name: str = Field(description="DNS label; the model sees this server's tools as `<name>__<tool>`.")
    url: str = Field(description="The server's MCP endpoint, e.g. http://tools:8000/mcp.")
    transport: Literal["streamable-http", "sse"] = Field(
        default="streamable-http", description="`sse` only for servers that speak nothing newer."
    )
    headers: list[McpHeader] = Field(default_factory=list)
    allowed_tools: list[str] | None = Field(
        default=None, description="Tools of the server the model may call; unset means all it lists."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="One tool call fails after this.")
    max_result_bytes: int = Field(default=65536, gt=0, description="Longer results are cut to this size.")
    start_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long the first step waits for the server's tool list; after it the agent works "
        "without this server's tools and offers them once the server answers.",
    )

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not _SERVER_NAME.match(value) or TOOL_SEPARATOR in value:
            raise ValueError(
                f"server name {value!r} must be a DNS-1123 label (lowercase letters, digits, single '-')"
            )
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url {value!r} must start with http:// or https://")
        return value


def unique_servers(servers: list[McpServerConfig]) -> list[McpServerConfig]:
    names = [server.name for server in servers]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"MCP server names must be unique; repeated: {', '.join(repeated)}")
    return servers
