"""What the operator must do, in the order given. Every action is safe to execute more than once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from agent_supervisor.supervision.spec import ShutdownPolicy
from agent_supervisor.supervision.state import ShutdownReason


@dataclass(frozen=True, slots=True)
class StartChild:
    """Create incarnation `attempt` of the child from the template `template_hash` (stamp both on the pod).

    Pods of the child with an older attempt are leftovers and are replaced; one with this attempt already
    exists after a crash and is kept.
    """

    name: str
    attempt: int
    template_hash: str


@dataclass(frozen=True, slots=True)
class StopChild:
    """Stop incarnation `attempt` honouring `shutdown`; it completes when that attempt's exit is reported."""

    name: str
    attempt: int
    shutdown: ShutdownPolicy


@dataclass(frozen=True, slots=True)
class WaitUntil:
    """Send a Tick at or after second `at` (a restart is waiting for its backoff)."""

    at: int


@dataclass(frozen=True, slots=True)
class RemoveChild:
    """The child left the spec and has stopped: delete its objects."""

    name: str


@dataclass(frozen=True, slots=True)
class ShutdownSelf:
    """Every child has stopped and the supervisor has exited with `reason`.

    Its parent sees this as a child exit: ChildStartFailed when the reason is failed_to_start_child (the child
    supervisor never became Ready), otherwise ChildExited with reason shutdown - so the parent restarts it
    only if it is permanent, as in OTP.
    """

    reason: ShutdownReason


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


class EventReason(StrEnum):
    STARTED = "Started"
    STOPPED = "Stopped"
    CHILD_RESTARTED = "ChildRestarted"
    GROUP_RESTARTED = "GroupRestarted"
    CHILD_EXITED = "ChildExited"
    CHILD_START_FAILED = "ChildStartFailed"
    INTENSITY_EXCEEDED = "IntensityExceeded"
    ESCALATED = "Escalated"
    FAILED_TO_START = "FailedToStart"
    AUTO_SHUTDOWN = "AutoShutdown"
    CHILD_ADDED = "ChildAdded"
    CHILD_REMOVED = "ChildRemoved"
    CHILD_REPLACED = "ChildReplaced"


@dataclass(frozen=True, slots=True)
class EmitEvent:
    """A Kubernetes Event to record on the supervisor resource."""

    type: EventType
    reason: EventReason
    message: str


Action = StartChild | StopChild | WaitUntil | RemoveChild | ShutdownSelf | EmitEvent
