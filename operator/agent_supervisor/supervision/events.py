"""What happened, as the operator reports it to the core.

Child events carry the attempt number of the incarnation they are about, so a late or repeated event about an
older incarnation (or one already handled) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_supervisor.supervision.exits import ExitReason


@dataclass(frozen=True, slots=True)
class Start:
    """Start the supervisor: its children in order. Also the manual reset of a terminated supervisor."""


@dataclass(frozen=True, slots=True)
class Stop:
    """The supervisor is being deleted or stopped: stop every child in reverse start order, then terminate."""


@dataclass(frozen=True, slots=True)
class SpecChanged:
    """The spec passed to `decide` was edited: children added, removed, reordered, or templates changed.

    `decide` always reconciles the spec it is given, so this event only asks for that to happen now.
    """


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (the requeue asked for by a WaitUntil fired): start restarts whose backoff expired."""


@dataclass(frozen=True, slots=True)
class ChildReady:
    name: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ChildExited:
    name: str
    attempt: int
    reason: ExitReason
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChildStartFailed:
    """The incarnation never became Ready: it failed, or its start deadline passed.

    The operator reports this once it has given up on the attempt, and removes that attempt's pod itself: like
    a failed `start_link` in OTP, a failed start leaves no process behind to stop.
    """

    name: str
    attempt: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChildMissing:
    """After an operator restart, the incarnation `attempt` of a child was not found.

    A running child that vanished counts as an abnormal exit; one being stopped has finished stopping. A child
    still `starting` is not affected: its pod may simply not have been created before the crash, and
    `pending_actions` re-issues that StartChild.
    """

    name: str
    attempt: int


Event = Start | Stop | SpecChanged | Tick | ChildReady | ChildExited | ChildStartFailed | ChildMissing
