"""How an incarnation ended: its exit status plus the termination summary it wrote (summary.py), as the
protocol reports it, and the summary to write back when the container ends with that exit."""

import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent_runtime import exitcodes
from agent_runtime.incarnation_protocol import IncarnationExit
from agent_runtime.pod_supervisor.incarnation import ExitStatus

KILLED = "Killed"


def rfc3339(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True)
class Ended:
    """One exit as reported on the control API, and the summary for the container's termination message."""

    record: IncarnationExit
    summary: dict[str, Any]


def ended(
    attempt: int,
    status: ExitStatus,
    written: dict[str, Any] | None,
    stopped: bool,
    note: str = "",
    *,
    terminating: bool = False,
) -> Ended:
    """Combine the process's status with what it wrote. The status wins: a summary whose exitCode differs
    (written, then the process died another way) only lends its result fields, not its reason."""
    code = status.exit_code
    if status.signal is not None:
        reason = KILLED
        message = f"killed by {_signal_name(status.signal)}{note}"
    elif written is not None and written.get("exitCode") == code:
        reason = str(written.get("reason") or exitcodes.reason_for(code))
        message = str(written.get("message") or "")
    else:
        reason = exitcodes.reason_for(code)
        message = f"exited with code {code} without a termination message"
    summary = {**(written or {}), "exitCode": code, "reason": reason, "message": message}
    record = IncarnationExit(
        attempt=attempt,
        exit_code=code,
        signal=status.signal,
        reason=reason,
        message=message,
        stopped=stopped,
        terminating=terminating and not stopped,
        finished_at=rfc3339(),
    )
    return Ended(record, summary)
