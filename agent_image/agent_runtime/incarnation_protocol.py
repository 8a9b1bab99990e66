"""The contract between the operator and the pod supervisor: restarting an agent in place.

With in-place restarts on, PID 1 of an agent's container is the *pod supervisor*
(`agent_runtime.pod_supervisor`). It starts each incarnation of the agent as a fresh OS process, stops it by
its shutdown policy and reports every change on a small authenticated HTTP API, the *control port*. The
operator holds one watch on each pod's control port (see docs/in-place-restarts.md) and decides, as before,
what restarts: the pod supervisor never restarts an incarnation on its own.

This module is the whole contract: the operator imports it, and nothing else of the pod supervisor. It is pure
(no I/O). The environment variable names live in `agent_runtime.incarnation_env` and are re-exported here.

Endpoints (all but /healthz need `Authorization: Bearer <token>`, or the token alone in `CONTROL_TOKEN_HEADER`
for a client that comes through the API server's pod proxy, which consumes Authorization itself; sha256(token)
is `CONTROL_TOKEN_SHA256_ENV`):

- `GET  /v1/incarnation`            -> `IncarnationState` (JSON)
- `GET  /v1/incarnation?watch=true` -> NDJSON stream of `WatchLine`: the current state first, then one line
  per change, and a heartbeat line at least every `HEARTBEAT_SECONDS`.
- `POST /v1/incarnation`            `StartRequest` -> start incarnation `attempt` (see StartRequest)
- `POST /v1/incarnation/stop`       `StopRequest`  -> stop incarnation `attempt` (see StopRequest)
- `POST /v1/incarnation/release`   `ReleaseRequest` -> end the container with the exited incarnation's exit
- `GET  /healthz`                   -> 200 while the pod supervisor works and a running incarnation is healthy
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_runtime.incarnation_env import ATTEMPT_ENV as ATTEMPT_ENV
from agent_runtime.incarnation_env import CONTROL_PORT_ENV as CONTROL_PORT_ENV
from agent_runtime.incarnation_env import CONTROL_TOKEN_SHA256_ENV as CONTROL_TOKEN_SHA256_ENV
from agent_runtime.incarnation_env import FIRST_ATTEMPT_ENV as FIRST_ATTEMPT_ENV

PROTOCOL_VERSION: Final = 1

DEFAULT_CONTROL_PORT: Final = 8081
CONTROL_TOKEN_HEADER: Final = "X-Control-Token"
CONTROL_PORT_NAME: Final = "control"
HEARTBEAT_SECONDS: Final = 5.0

Phase = Literal["Starting", "Ready", "Stopping", "Exited"]
"""Starting: the process runs, /readyz has not answered 200 yet. Ready: it has (once; a later 503 does not go
back). Stopping: the pod supervisor is stopping it (a stop or a newer start was asked for). Exited: it
ended."""


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")


class IncarnationExit(_Wire):
    """How one incarnation ended. `exitCode` follows a container's: the process's code, or 128+N when signal N
    killed it."""

    attempt: int = Field(ge=1)
    exit_code: int = Field(alias="exitCode")
    signal: int | None = None
    reason: str = Field(description="CamelCase, as in agent_runtime.exitcodes; 'Killed' for a signal")
    message: str = ""
    stopped: bool = Field(
        default=False, description="True when the operator asked for the stop (a stop or a newer start)"
    )
    terminating: bool = Field(
        default=False,
        description="True when the pod's own SIGTERM (its deletion, a node shutdown) stopped it, and the "
        "operator did not ask for the stop: the incarnation ended with its pod, not on its own",
    )
    finished_at: str = Field(alias="finishedAt", description="RFC 3339")


class IncarnationState(_Wire):
    """The pod supervisor's whole state: the current incarnation and how the last ones ended."""

    protocol: int = PROTOCOL_VERSION
    attempt: int = Field(ge=1, description="The current (newest) incarnation")
    phase: Phase
    pid: int | None = None
    started_at: str = Field(alias="startedAt")
    ready_at: str | None = Field(default=None, alias="readyAt")
    exits: tuple[IncarnationExit, ...] = Field(
        default=(),
        description="The last exits, newest last (at most MAX_EXITS); the current one's when Exited",
    )

    def exit_of(self, attempt: int) -> IncarnationExit | None:
        return next((done for done in reversed(self.exits) if done.attempt == attempt), None)


MAX_EXITS: Final = 8


class WatchLine(_Wire):
    type: Literal["state", "heartbeat"]
    state: IncarnationState | None = None


class StartRequest(_Wire):
    """Start incarnation `attempt`, stopping the current one first if it still runs (SIGTERM to its
    process group, SIGKILL after `graceSeconds`). Idempotent: `attempt` equal to the current one changes
    nothing (200); lower than the current one is refused with 409 and the state (a newer incarnation is never
    replaced); higher starts it (202)."""

    attempt: int = Field(ge=1)
    grace_seconds: int = Field(default=30, ge=0, alias="graceSeconds")


class StopRequest(_Wire):
    """Stop incarnation `attempt` (SIGTERM to its process group, SIGKILL after `graceSeconds`). Idempotent: an
    attempt that already exited, or is older than the current one, changes nothing (200); a newer one is
    refused with 409."""

    attempt: int = Field(ge=1)
    grace_seconds: int = Field(default=30, ge=0, alias="graceSeconds")


class ReleaseRequest(_Wire):
    """The operator will not restart exited incarnation `attempt`: the pod supervisor writes that
    incarnation's termination message and exits with its exit code, so the pod ends as a single-process pod
    would have. 409 unless `attempt` is the current incarnation and it has exited."""

    attempt: int = Field(ge=1)
