"""Processes an incarnation left behind, re-parented to the pod supervisor (a subreaper): find, kill, reap.

A tool's subprocess runs in a session of its own (run_program starts one per call), so signalling the
incarnation's process group does not reach it. When the incarnation dies without cleaning up (SIGKILL after
the grace period, a crash), such processes are orphaned and become the pod supervisor's children. They are
told apart from the pod supervisor's own helpers (the forkserver and multiprocessing's resource tracker) by
their session: the helpers share the pod supervisor's, anything from an incarnation has another one.
"""

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_PROC: Final = Path("/proc")
SWEEP_SECONDS: Final = 5.0


@dataclass(frozen=True)
class _Proc:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int


def _read(pid_dir: Path) -> _Proc | None:
    try:
        text = (pid_dir / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return _Proc(int(pid_dir.name), fields[0], int(fields[1]), int(fields[2]), int(fields[3]))
    except (IndexError, ValueError):
        return None


def _child_pids() -> list[int] | None:
    """The pod supervisor's children from /proc/self/task/*/children; None where the kernel lacks the file."""
    pids: list[int] = []
    try:
        for task in (_PROC / "self" / "task").iterdir():
            pids += [int(pid) for pid in (task / "children").read_text().split()]
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        pass  # a thread that ended meanwhile: its children are listed under another one
    return pids


def orphans(protected: Collection[int] = ()) -> list[_Proc]:
    """The pod supervisor's children from another session (so from an incarnation), except `protected`."""
    me, my_session = os.getpid(), os.getsid(0)
    pids = _child_pids()
    candidates = (
        [_PROC / str(pid) for pid in pids]
        if pids is not None
        else [entry for entry in _PROC.iterdir() if entry.name.isdigit()]
    )
    found = []
    for entry in candidates:
        proc = _read(entry)
        if proc and proc.ppid == me and proc.session != my_session and proc.pid not in protected:
            found.append(proc)
    return found


def reap_dead(protected: Collection[int] = ()) -> None:
    """Collect orphans that have already exited (zombies), leaving live ones alone."""
    for proc in orphans(protected):
        if proc.state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)


def _kill(proc: _Proc) -> None:
    if proc.pgrp not in (0, os.getpgrp()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pgrp, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGKILL)


async def sweep(protected: Callable[[], Collection[int]], log: Callable[[str], None]) -> None:
    """Kill and reap every orphan, and the orphans their deaths make, for at most SWEEP_SECONDS."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SWEEP_SECONDS
    killed: set[int] = set()
    while found := orphans(protected()):
        for proc in found:
            if proc.state != "Z":
                _kill(proc)
                killed.add(proc.pid)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG never blocks)
        if loop.time() > deadline:
            log(f"{len(found)} leftover processes did not go away within {SWEEP_SECONDS:g}s")
            return
        await asyncio.sleep(0.005)  # a SIGKILLed process takes a moment to become a zombie
    if killed:
        log(f"killed {len(killed)} leftover process{'es' if len(killed) > 1 else ''} of the incarnation")
