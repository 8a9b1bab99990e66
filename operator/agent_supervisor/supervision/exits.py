"""How a child incarnation ended, classified the way OTP's `do_restart` needs it."""

from __future__ import annotations

from enum import StrEnum

from agent_supervisor.supervision.persisted import Persisted


class ExitReason(StrEnum):
    """OTP's three exit classes as the operator maps pods onto them.

    normal: exit code 0. shutdown: a stop the supervisor (or the operator on its behalf) asked for, or a child
    supervisor that shut itself down. abnormal: anything else - a non-zero exit, OOM kill, eviction, a pod
    deleted by someone else, or a start that never became Ready within its deadline.
    """

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    ABNORMAL = "abnormal"


class ExitRecord(Persisted):
    """The last exit of a child, kept in status so users can see why it ended."""

    attempt: int
    reason: ExitReason
    at: int
    exit_code: int | None = None
    detail: str = ""
    start_failed: bool = False
