"""A process identity that survives clock changes, so a recorded pid is never mistaken for a reused one.

A pid alone is not an identity (pids are reused), and psutil's `create_time()` is not a stable one either:
on Linux it is the boot time, which the kernel derives from the wall clock (NTP steps shift it), plus the
process's start ticks; two readings of the same process may differ by a second. The start time in clock
ticks since boot (`/proc/<pid>/stat`, field 22) never changes for a process, so on Linux the identity is
`ticks:<starttime>` and compared exactly. Elsewhere it is `time:<create_time>` and compared with a tolerance
small enough that a reused pid (a new process) is still told apart in practice.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

CREATE_TIME_TOLERANCE = 2.0


def _start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces or ')': split after the last one.
    fields = stat[stat.rfind(")") + 2 :].split()
    with contextlib.suppress(IndexError, ValueError):
        return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
    return None


def identity(pid: int) -> str | None:
    """The identity of the running process `pid`, or None if there is no such process."""
    ticks = _start_ticks(pid)
    if ticks is not None:
        return f"ticks:{ticks}"
    try:
        return f"time:{psutil.Process(pid).create_time()!r}"
    except psutil.Error:
        return None


def _as_time(recorded: str) -> float | None:
    with contextlib.suppress(ValueError):
        return float(recorded.removeprefix("time:"))
    return None


def same_process(pid: int, recorded: str) -> bool:
    """Whether `pid` still is the recorded process (older records hold a bare create time)."""
    if recorded.startswith("ticks:"):
        return identity(pid) == recorded
    then = _as_time(recorded)
    if then is None:
        return False
    try:
        now = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return abs(now - then) <= CREATE_TIME_TOLERANCE
