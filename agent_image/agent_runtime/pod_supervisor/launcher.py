"""Starting incarnations as fresh processes: the first by exec, every later one fast from a forkserver.

Why a forkserver. A new incarnation must be a new process (fresh memory), and `python -m agent_runtime`
spends most of its start-up importing. Forking a process that has already imported the runtime removes that
cost, but the pod supervisor itself cannot be that process: it runs an event loop, threads and sockets, and a
fork of it would inherit them half-alive. multiprocessing's forkserver is the well-kept form of the
alternative: a single-threaded process started by exec (so it shares nothing with the pod supervisor but the
standard streams), which imports the preload list once (preload.py) and forks a child per request, and
reports each child's pid and exit status (with the signal). Standard library maintainers keep it correct
across Python versions.

Why not for the first incarnation. In a fresh pod the forkserver would have to import the runtime before it
could fork anything, which is exactly what a fresh interpreter does, plus the forkserver's own start: so the
pod supervisor starts the first incarnation itself with os.posix_spawn (a fresh interpreter in a new session,
default signals, nothing imported in this process first), and starts the forkserver once that incarnation is
ready, to preload in the background for the restarts to come.

Only one incarnation runs at a time, and the next is launched only after the previous one's process object
is closed, so multiprocessing's own bookkeeping (which polls every child's status pipe when a process starts)
never races with the reading of an exit. Light on imports: this runs before the pod supervisor loads
anything else.
"""

import multiprocessing
import os
import signal
import sys
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Final, Protocol

from agent_runtime.pod_supervisor.child import run_incarnation

PRELOAD: Final = ["agent_runtime.pod_supervisor.preload"]
_BLOCKED: Final = {signal.SIGTERM, signal.SIGINT}


class ProcessHandle(Protocol):
    """What the pod supervisor needs of an incarnation's process (multiprocessing's processes have it)."""

    @property
    def pid(self) -> int | None: ...
    @property
    def sentinel(self) -> int: ...
    @property
    def exitcode(self) -> int | None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...
    def close(self) -> None: ...


class SpawnedProcess:
    """A process this one started with posix_spawn, watched through a pidfd (readable once it has ended)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sentinel = os.pidfd_open(pid)
        self._returncode: int | None = None

    def _wait(self, flags: int) -> int | None:
        if self._returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:  # collected elsewhere: its status is lost
                self._returncode = 255
                return self._returncode
            if pid:
                self._returncode = os.waitstatus_to_exitcode(status)
        return self._returncode

    @property
    def exitcode(self) -> int | None:
        """The return code (-N for signal N), or None while it runs."""
        return self._wait(os.WNOHANG)

    def join(self, timeout: float | None = None) -> None:
        self._wait(0)

    def is_alive(self) -> bool:
        return self.exitcode is None

    def close(self) -> None:
        os.close(self.sentinel)


def _ensure_resource_tracker() -> None:
    """multiprocessing's resource tracker (every start method needs it), leaving the signal mask as it was.

    Python 3.11 *unblocks* SIGTERM and SIGINT after starting the tracker, which would undo the pod
    supervisor's blocking of them during its own start-up (main.py) and before a forkserver starts.
    """
    from multiprocessing import resource_tracker

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    resource_tracker.ensure_running()
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


class Launcher:
    def __init__(self) -> None:
        self._forkserver: ForkServerContext = multiprocessing.get_context("forkserver")
        self._forkserver.set_forkserver_preload(PRELOAD)

    def launch_fresh(self, attempt: int) -> SpawnedProcess:
        """Start incarnation `attempt` in a fresh interpreter; returns at once (not when it is ready).

        OSError where the kernel has no pidfds (before Linux 5.3): then nothing was started."""
        os.close(os.pidfd_open(os.getpid()))
        argv = [sys.executable, "-m", "agent_runtime.pod_supervisor.child", str(attempt), str(os.getpid())]
        pid = os.posix_spawn(
            sys.executable,
            argv,
            os.environ,
            setsid=True,
            setsigmask=(),
            setsigdef=(signal.SIGTERM, signal.SIGINT, signal.SIGCHLD),
        )
        return SpawnedProcess(pid)

    def start_server(self) -> None:
        """Start the forkserver (a no-op while it runs), so that it preloads the runtime from now on.

        SIGTERM and SIGINT are blocked while it is spawned, and it keeps that mask: on the local cluster the
        kubelet signals the container's whole process group, and a forkserver killed by the pod's SIGTERM
        would lose every incarnation's exit status. A blocked signal also stays pending in an incarnation
        until it unblocks it (child.py), so a stop sent during its first milliseconds is not lost.
        """
        from multiprocessing import forkserver

        _ensure_resource_tracker()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def launch(self, attempt: int) -> BaseProcess:
        """Fork incarnation `attempt` from the forkserver; blocks until it has forked (run it in a thread)."""
        self.start_server()  # a no-op while the forkserver lives; starts a new one if it died
        return self._start(self._forkserver.Process(target=run_incarnation, args=(attempt,)), attempt)

    @staticmethod
    def _start(process: BaseProcess, attempt: int) -> BaseProcess:
        process.name = f"incarnation-{attempt}"
        process.start()
        assert process.pid is not None  # set by start()
        return process
