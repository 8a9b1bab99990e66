"""Everything a supervisor remembers between events, small enough to live in the resource's `status`.

The operator may crash at any moment, so this state - not the operator's memory - is the supervisor: it holds
the restart history, every child's incarnation (attempt number) and lifecycle, and the remaining steps of any
multi-step operation (start-up, group restart, shutdown, spec change). `to_json`/`from_json` round-trip
exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import Field

from agent_supervisor.supervision.exits import ExitRecord
from agent_supervisor.supervision.persisted import Persisted
from agent_supervisor.supervision.spec import ChildKind, ShutdownPolicy, SupervisorSpec, default_shutdown


class ChildLifecycle(StrEnum):
    PENDING = "pending"
    """Known but not started since the supervisor (re)started: waiting its turn in start order."""
    STARTING = "starting"
    """StartChild was issued for `attempt`; not Ready yet."""
    RUNNING = "running"
    """The incarnation `attempt` is Ready."""
    STOPPING = "stopping"
    """StopChild was issued for `attempt`; waiting for it to exit."""
    STOPPED = "stopped"
    """Stopped by the supervisor; a plan may start it again."""
    RESTARTING = "restarting"
    """A restart is decided (and counted); waiting for its backoff time or its turn in a group restart."""
    EXITED = "exited"
    """Exited on its own and is not restarted (a transient child's normal exit); its spec is kept."""
    REMOVED = "removed"
    """A temporary child that ended: OTP deletes its spec, so it is never started again until a reset."""
    START_FAILED = "start_failed"
    """Added by a spec change, its first start failed: OTP's start_child returned an error. Not counted, not
    restarted, left out of group restarts; started again after the next spec change or a manual reset."""


ALIVE = frozenset({ChildLifecycle.STARTING, ChildLifecycle.RUNNING, ChildLifecycle.STOPPING})
"""Lifecycles in which an incarnation (a pod, or a child supervisor) exists."""


class SupervisorLifecycle(StrEnum):
    IDLE = "idle"
    """Created, not started."""
    STARTING = "starting"
    """Starting its children in order, each after the previous one is Ready."""
    RUNNING = "running"
    """Start-up finished; supervising."""
    SHUTTING_DOWN = "shutting_down"
    """Stopping every child in reverse start order before terminating (see `shutdown_reason`)."""
    TERMINATED = "terminated"
    """Every child stopped; the supervisor has exited with `shutdown_reason`."""


class ShutdownReason(StrEnum):
    REACHED_MAX_RESTART_INTENSITY = "reached_max_restart_intensity"
    FAILED_TO_START_CHILD = "failed_to_start_child"
    AUTO_SHUTDOWN = "auto_shutdown"
    STOP_REQUESTED = "stop_requested"


class PlanPurpose(StrEnum):
    START_UP = "start_up"
    GROUP_RESTART = "group_restart"
    SPEC_CHANGE = "spec_change"
    SHUTDOWN = "shutdown"


class Step(Persisted):
    """One sequential step of a plan. `forget`: the child is temporary and is removed once stopped."""

    op: Literal["stop", "start"]
    child: str
    forget: bool = False


class Plan(Persisted):
    """A multi-step operation; only the first step runs, the rest wait for it (stop/start one at a time)."""

    purpose: PlanPurpose
    steps: list[Step]
    trigger: str | None = None
    """The child whose exit caused a group restart."""


class ChildState(Persisted):
    name: str
    kind: ChildKind = ChildKind.AGENT
    lifecycle: ChildLifecycle = ChildLifecycle.PENDING
    attempt: int = 0
    """The attempt number of the current (or last) incarnation; 0 = never started."""
    template_hash: str = ""
    """The template the current (or last) incarnation was started from."""
    shutdown: ShutdownPolicy = Field(default_factory=lambda fields: default_shutdown(fields["kind"]))
    """The shutdown policy the current incarnation was started with (its pod's grace period)."""
    restarts: int = 0
    """Counted restarts of this child over the supervisor's life, for status."""
    last_exit: ExitRecord | None = None
    ready_at: int | None = None
    not_before: int | None = None
    """Backoff: the restart decided for this child may not start before this second."""
    backoff_streak: int = 0
    """Consecutive restarts of this child, for the exponential backoff."""
    joining: bool = False
    """Added by a spec change while the supervisor ran, and not started successfully yet: OTP's start_child
    has not returned, so a failed start is an error for its caller, never a restart (dynamic.py)."""


class SupervisorState(Persisted):
    version: Literal[1] = 1
    lifecycle: SupervisorLifecycle = SupervisorLifecycle.IDLE
    shutdown_reason: ShutdownReason | None = None
    last_attempt: int = 0
    """The supervisor-wide attempt counter: every (re)start takes the next number."""
    restarts: list[int] = []
    """OTP's restart history: whole seconds, newest first, trimmed to the period on each restart."""
    children: list[ChildState] = []
    """In start order; children that left the spec but still run are kept at the end until stopped."""
    plan: Plan | None = None
    removals: list[str] = []
    """Children dropped by the last decision whose objects the operator must delete."""

    @classmethod
    def initial(cls, spec: SupervisorSpec) -> Self:
        return cls(
            children=[
                ChildState(name=child.name, kind=child.kind, template_hash=child.template_hash)
                for child in spec.children
            ]
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls.model_validate(data)

    def find(self, name: str) -> ChildState | None:
        return next((child for child in self.children if child.name == name), None)
