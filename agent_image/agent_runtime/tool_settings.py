"""Per-tool settings: part of the config contract, so the operator can reject unknown tools and bad settings.

Pure pydantic (no I/O imports): the operator imports this through `agent_runtime.config`.
"""

import ipaddress
import re
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from agent_runtime.egress import parse_host_entry

RUNTIME_SECRET_ENV: Final = frozenset({"AGENT_MESSAGE_TOKEN"})
"""Environment the runtime holds for itself and never hands to a program (the model API key's variable is
named by the config, so the config checks that one)."""
_ENV_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ToolSettings(BaseModel):
    """Base of every tool's settings: camelCase keys, unknown keys rejected (typos fail loudly)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class NoSettings(ToolSettings):
    """The tool takes no settings."""


class PeerSettings(ToolSettings):
    allowed_peers: list[str] | None = Field(
        default=None, description="Agent names this tool may address; unset means any agent."
    )


class AskAgentSettings(PeerSettings):
    default_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Reply timeout when the model gives none."
    )
    max_timeout_seconds: float = Field(default=600.0, gt=0, description="Upper bound on the model's timeout.")


class HttpGetSettings(ToolSettings):
    allowed_hosts: list[str] = Field(
        min_length=1,
        description=(
            "Hosts the tool may fetch from: exact names or IP addresses, or `*.example.com` for any "
            "subdomain (names only, never addresses); `host:port` allows that port only, not allowedPorts."
        ),
    )
    allowed_ports: list[int] = Field(
        default_factory=lambda: [80, 443],
        min_length=1,
        description="Ports the tool may connect to, for allowedHosts entries without a port of their own.",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description=(
            "CIDR networks the tool may connect to although they are private, loopback, link-local, "
            "multicast or reserved (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8); addresses of such ranges "
            "outside them are refused, whatever name resolves to them."
        ),
    )
    max_bytes: int = Field(default=65536, gt=0, description="Response bodies are cut at this many bytes.")
    timeout_seconds: float = Field(
        default=10.0, gt=0, description="The whole call, redirects included, fails after this."
    )
    max_redirects: int = Field(default=3, ge=0, description="Each redirect target must be allowed too.")

    @field_validator("allowed_hosts")
    @classmethod
    def _host_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_host_entry(entry)  # raises ValueError naming the entry and the fix
        return value

    @field_validator("allowed_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"{port} is not a port: give numbers from 1 to 65535")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            if "/" not in network:
                raise ValueError(f"{network!r} is not a CIDR network: write it as {network}/32 (or /128)")
            try:
                ipaddress.ip_network(network)
            except ValueError as err:
                raise ValueError(f"{network!r} is not a CIDR network: {err}") from None
        return value


class RunProgramSettings(ToolSettings):
    command: list[str] = Field(
        min_length=1, description="argv of the program; it runs as a separate process."
    )
    description: str = Field(
        default="Run the configured program. `input` goes to its stdin; `args` are appended to its command.",
        description="What the model is told the program does.",
    )
    allow_arguments: bool = Field(
        default=True, description="Whether the model may append `args` to the command."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="The process group is killed after this.")
    max_output_bytes: int = Field(
        default=65536, gt=0, description="stdout and stderr are each cut at this size."
    )
    working_dir: str | None = None
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables set for the program."
    )
    inherit_env: list[str] = Field(
        default_factory=lambda: ["PATH"],
        description="Variables of the runtime's own environment passed on to the program; nothing else is.",
    )

    @field_validator("inherit_env")
    @classmethod
    def _no_secrets(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name in RUNTIME_SECRET_ENV:
                raise ValueError(
                    f"{name} is the runtime's own secret and a program must never get it: "
                    "remove it from inheritEnv"
                )
        return value


TOOL_SETTINGS: Final[dict[str, type[ToolSettings]]] = {
    "send_message": PeerSettings,
    "ask_agent": AskAgentSettings,
    "http_get": HttpGetSettings,
    "finish": NoSettings,
    "run_program": RunProgramSettings,
    # Test/demo only: lets a scripted model make the agent exit with EXIT_CRASH_REQUESTED.
    "crash": NoSettings,
}
"""Every tool the runtime knows, by name, with the model its `settings` must match."""
