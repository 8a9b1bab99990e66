"""A worker child: a plain container (a tool server, a cache, a queue consumer) that an AgentSupervisor
supervises exactly like an agent, without the agent runtime.

The operator runs it in a pod with the restricted security context and gives it a stable Service named after
the child. Every field is a pod field: any change replaces the pod (without counting as a restart).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, StringConstraints, model_validator

from agent_supervisor.api.base import (
    DNS_SUBDOMAIN_MAX,
    DNS_SUBDOMAIN_PATTERN,
    ApiModel,
    SpecError,
    cel_rule,
    list_map,
    require_unique,
    validations,
)
from agent_supervisor.api.pod import EnvVar, ResourceRequirements

MAX_WORKER_ENV = 32
MAX_ENV_FROM = 16
MAX_PORTS = 16
MAX_ARGS = 64
MAX_ARG_LENGTH = 4096

# An image reference has no whitespace at all: a stray space or newline would make the kubelet pull another
# name (or fail late, as ErrImagePull); the API refuses it at once.
IMAGE_PATTERN = r"^[^\s]+$"
# IANA_SVC_NAME, Kubernetes' rule for port names: at most 15 characters, lower-case letters, digits and '-',
# no '-' at either end; the API server's regular expressions have no look-ahead, so "at least one letter"
# and "no '--'" are checked by the model (WorkerPort).
PORT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
PORT_NAME_MAX = 15

IMAGE_WHITESPACE = "an image reference has no whitespace: remove the spaces or line breaks"
ENV_FROM_EXACTLY_ONE = "set exactly one of secretRef or configMapRef"
PROBE_EXACTLY_ONE = "set exactly one of httpGet, tcpSocket or exec"
PORT_NAME_RULES = "a port name needs at least one letter and no '--' (an IANA service name): rename the port"
UNKNOWN_PORT = "names no port of this worker: use a name from ports, or a port number"

Arg = Annotated[str, StringConstraints(strict=True, max_length=MAX_ARG_LENGTH)]
PortRef = StrictInt | Annotated[str, StringConstraints(strict=True, max_length=PORT_NAME_MAX, min_length=1)]


class Protocol(StrEnum):
    """A port's transport protocol."""

    TCP = "TCP"
    UDP = "UDP"


class WorkerPort(ApiModel):
    """A port the worker listens on; the child's Service offers it under the same name and number."""

    name: StrictStr = Field(
        max_length=PORT_NAME_MAX,
        pattern=PORT_NAME_PATTERN,
        description=(
            "Name of the port (an IANA service name: lower-case letters, digits and '-', at most 15 "
            "characters), unique in the worker; probes may refer to it."
        ),
    )
    container_port: StrictInt = Field(ge=1, le=65535, description="Port number the container listens on.")
    protocol: Protocol = Field(default=Protocol.TCP, description="TCP (default) or UDP.")

    @model_validator(mode="after")
    def _has_letter(self) -> WorkerPort:
        if not any(char.isalpha() for char in self.name) or "--" in self.name:
            raise SpecError("name", PORT_NAME_RULES)
        return self


class LocalObjectReference(ApiModel):
    """A Secret or ConfigMap in the supervisor's namespace, by name."""

    name: StrictStr = Field(
        max_length=DNS_SUBDOMAIN_MAX, pattern=DNS_SUBDOMAIN_PATTERN, description="Name of the object."
    )


class EnvFromSource(ApiModel):
    """Every key of a Secret or ConfigMap as an environment variable. A Secret's values stay in the Secret:
    only its name is in the resource."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule("has(self.secretRef) != has(self.configMapRef)", ENV_FROM_EXACTLY_ONE),
        )
    )

    secret_ref: LocalObjectReference | None = Field(default=None, description="Take every key of a Secret.")
    config_map_ref: LocalObjectReference | None = Field(
        default=None, description="Take every key of a ConfigMap."
    )
    prefix: StrictStr | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
        description="Prepended to every key to make the variable's name.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvFromSource:
        if (self.secret_ref is None) == (self.config_map_ref is None):
            raise SpecError("secretRef", ENV_FROM_EXACTLY_ONE)
        return self


class HttpGetAction(ApiModel):
    """Ready when a GET of `path` on `port` answers 200-399."""

    path: StrictStr = Field(
        default="/", max_length=2048, pattern=r"^/[^\s]*$", description="Path to request, e.g. /healthz."
    )
    port: PortRef = Field(description="Port number, or the name of one of the worker's ports.")


class TcpSocketAction(ApiModel):
    """Ready when a TCP connection to `port` is accepted."""

    port: PortRef = Field(description="Port number, or the name of one of the worker's ports.")


class ExecAction(ApiModel):
    """Ready when the command exits 0, run inside the container."""

    command: list[Arg] = Field(
        min_length=1, max_length=MAX_ARGS, description="The command and its arguments (no shell)."
    )


class ReadinessProbe(ApiModel):
    """How the kubelet tells that the worker is Ready: its supervisor starts the next child only then."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel_rule(
                "(has(self.httpGet) ? 1 : 0) + (has(self.tcpSocket) ? 1 : 0) + (has(self.exec) ? 1 : 0) == 1",
                PROBE_EXACTLY_ONE,
            ),
        )
    )

    http_get: HttpGetAction | None = Field(default=None, description="An HTTP GET probe.")
    tcp_socket: TcpSocketAction | None = Field(default=None, description="A TCP connect probe.")
    exec: ExecAction | None = Field(default=None, description="A command run in the container.")
    initial_delay_seconds: StrictInt | None = Field(
        default=None, ge=0, le=3600, description="Seconds after the start before the first probe."
    )
    period_seconds: StrictInt | None = Field(
        default=None, ge=1, le=3600, description="Seconds between probes (Kubernetes' default: 10)."
    )
    timeout_seconds: StrictInt | None = Field(
        default=None, ge=1, le=3600, description="Seconds before one probe times out (default 1)."
    )
    failure_threshold: StrictInt | None = Field(
        default=None, ge=1, le=100, description="Failed probes in a row before it is not Ready (default 3)."
    )
    success_threshold: StrictInt | None = Field(
        default=None, ge=1, le=1, description="Always 1 for readiness, as in Kubernetes."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ReadinessProbe:
        if [self.http_get, self.tcp_socket, self.exec].count(None) != 2:
            raise SpecError("httpGet", PROBE_EXACTLY_ONE)
        return self

    @property
    def port(self) -> int | str | None:
        """The port the probe connects to; None for an exec probe."""
        action = self.http_get or self.tcp_socket
        return None if action is None else action.port


class WorkerSecurityContext(ApiModel):
    """The few settings of the restricted security context a worker may change. It always runs as non-root,
    without privilege escalation, with every capability dropped and the RuntimeDefault seccomp profile."""

    run_as_user: StrictInt | None = Field(
        default=None,
        ge=1,
        le=2_147_483_647,
        description="User id to run as (never 0); the operator's configured user when omitted.",
    )
    run_as_group: StrictInt | None = Field(
        default=None, ge=1, le=2_147_483_647, description="Group id to run as (never 0)."
    )
    read_only_root_filesystem: StrictBool = Field(
        default=True,
        description=(
            "Whether the root filesystem is read-only (default true; /tmp is always a writable emptyDir). "
            "Set false only for a program that must write elsewhere."
        ),
    )


class WorkerSpec(ApiModel):
    """A plain container supervised like an agent: started in order, Ready by its readiness probe (Running
    without one), restarted by its child entry's restart type, stopped by its shutdown policy.

    The operator runs it as the pod <supervisor>-<child>-<attempt> and, when it has ports, gives it the
    Service <supervisor>-<child>, which always routes to the current incarnation. The container gets
    POD_NAME, POD_NAMESPACE and POD_IP from the downward API.
    """

    image: StrictStr = Field(
        min_length=1,
        max_length=512,
        # The pattern and the CEL rule say the same (the rule for API servers whose `$` matches before a final
        # newline); the model checks it itself, to say what to do about it.
        json_schema_extra={
            "pattern": IMAGE_PATTERN,
            **validations(cel_rule("!self.matches('\\\\s')", IMAGE_WHITESPACE)),
        },
        description="Container image, e.g. ghcr.io/example/tool-server:1.2 (no whitespace).",
    )
    command: list[Arg] | None = Field(
        default=None, max_length=MAX_ARGS, description="Entrypoint; the image's when omitted."
    )
    args: list[Arg] | None = Field(
        default=None, max_length=MAX_ARGS, description="Arguments to the entrypoint."
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=MAX_WORKER_ENV,
        json_schema_extra=list_map("name"),
        description=(
            "Environment variables: literal values, or single keys of a Secret or ConfigMap. Secret values "
            "are only ever referenced (valueFrom.secretKeyRef), never written into the resource."
        ),
    )
    env_from: list[EnvFromSource] | None = Field(
        default=None,
        max_length=MAX_ENV_FROM,
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
        description="Every key of Secrets or ConfigMaps, by reference, as environment variables.",
    )
    ports: list[WorkerPort] | None = Field(
        default=None,
        max_length=MAX_PORTS,
        json_schema_extra=list_map("name"),
        description="Ports the worker listens on; its Service offers them. No ports, no Service.",
    )
    readiness_probe: ReadinessProbe | None = Field(
        default=None,
        description=(
            "When the worker is Ready. Without a probe it is Ready as soon as its container runs, and the "
            "next child may start before the worker listens."
        ),
    )
    resources: ResourceRequirements | None = Field(default=None, description="Resources of the container.")
    security_context: WorkerSecurityContext | None = Field(
        default=None, description="The settings of the restricted security context a worker may change."
    )

    @model_validator(mode="after")
    def _consistent(self) -> WorkerSpec:
        if any(char.isspace() for char in self.image):
            raise SpecError("image", IMAGE_WHITESPACE)
        require_unique([var.name for var in self.env or []], "env", "name", "environment variable name")
        ports = self.ports or []
        require_unique([port.name for port in ports], "ports", "name", "port name")
        require_unique(
            [f"{port.container_port}/{port.protocol.value}" for port in ports],
            "ports",
            "containerPort",
            "port number and protocol",
        )
        probe = self.readiness_probe
        if probe is not None and isinstance(probe.port, str) and probe.port not in {p.name for p in ports}:
            action = "httpGet" if probe.http_get is not None else "tcpSocket"
            raise SpecError(f"readinessProbe.{action}.port", f"{probe.port!r} {UNKNOWN_PORT}")
        return self
