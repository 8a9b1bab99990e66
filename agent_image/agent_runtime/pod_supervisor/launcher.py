"""Starting incarnations as fresh processes, fast: multiprocessing's forkserver with the runtime preloaded.

Why the forkserver. A new incarnation must be a new process (fresh memory), and `python -m agent_runtime`
spends most of its start-up importing. Forking a process that has already imported the runtime removes that
cost, but the pod supervisor itself cannot be that process: it runs an event loop, threads and sockets, and a
fork of it would inherit them half-alive. multiprocessing's forkserver is the well-kept form of the
alternative, a single-threaded process started by exec (so it shares nothing with the pod supervisor but the
standard streams), which imports the preload list once (preload.py) and forks a child per request. It
reports each child's pid and, through the forkserver, its exit status (with the signal), and standard
library maintainers keep it correct across Python versions.

Only one incarnation runs at a time, and the next is launched only after the previous one's process object
is closed, so multiprocessing's own bookkeeping (which polls every child's status pipe when a process starts)
never races with this module's reading of an exit.
"""

import asyncio
import contextlib
import multiprocessing
import os
import select
import signal
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext, ForkServerProcess
from typing import Final

from agent_runtime.pod_supervisor.child import run_incarnation

PRELOAD: Final = ["agent_runtime.pod_supervisor.preload"]
_BLOCKED: Final = {signal.SIGTERM, signal.SIGINT}


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended: `returncode` as multiprocessing reports it (-N when signal N killed it)."""

    returncode: int

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None

    @property
    def exit_code(self) -> int:
        """A container's exit code: the process's code, or 128 + N for signal N."""
        return 128 - self.returncode if self.returncode < 0 else self.returncode


def _resolve(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


class Launcher:
    def __init__(self) -> None:
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)

    def start_server(self) -> None:
        """Start the forkserver now, so it preloads while the pod supervisor itself starts up.

        SIGTERM and SIGINT are blocked while it is spawned, and it keeps that mask: on the local cluster the
        kubelet signals the container's whole process group, and a forkserver killed by the pod's SIGTERM
        would lose every incarnation's exit status. A blocked signal also stays pending in an incarnation
        until it unblocks it (child.py), so a stop sent during its first milliseconds is not lost.
        """
        from multiprocessing import forkserver, resource_tracker

        # multiprocessing starts its resource tracker first, and *unblocks* both signals after it has (3.11):
        # so start it on its own, then block, then start the forkserver.
        resource_tracker.ensure_running()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            forkserver.ensure_running()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def launch(self, attempt: int) -> "Incarnation":
        """Fork incarnation `attempt`; blocks until the forkserver reports its pid (run it in a thread)."""
        self.start_server()  # a no-op while the forkserver lives; starts a new one if it died
        process = self._context.Process(
            target=run_incarnation, args=(attempt,), name=f"incarnation-{attempt}"
        )
        process.start()
        assert process.pid is not None  # set by start()
        return Incarnation(attempt, process)


class Incarnation:
    """One running incarnation's process: its pid, signals to its group, and its exit."""

    def __init__(self, attempt: int, process: ForkServerProcess) -> None:
        self.attempt = attempt
        self._process = process
        self.pid: int = process.pid or 0
        # A pidfd names this very process even after its pid is reused, and tells when it ends even if the
        # forkserver (its parent) is gone: then its exit status comes from waitpid, see _status().
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(self.pid)

    def signal_group(self, signum: int) -> None:
        """Signal the incarnation's process group (its session); the process alone if it has none yet."""
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:  # not yet in its own group (a few microseconds after fork), or gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
        except PermissionError:
            pass  # the pid is no longer ours to signal: it has ended

    async def wait(self) -> ExitStatus:
        """Wait for the process to end; its status, closing every handle on it."""
        sentinel = self._process.sentinel
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        loop.add_reader(sentinel, _resolve, ended)
        try:
            await ended
        finally:
            loop.remove_reader(sentinel)
        status = await self._status()
        self._close()
        return status

    def _alive(self) -> bool:
        if self._pidfd is None:
            return False
        readable, _, _ = select.select([self._pidfd], [], [], 0)
        return not readable

    async def _status(self) -> ExitStatus:
        returncode = self._process.exitcode
        if returncode is None:  # the status pipe is readable, so poll() has read it: cannot happen
            returncode = 255
        if returncode != 255 or self._pidfd is None:
            return ExitStatus(returncode)
        # 255 is also what multiprocessing reports when the forkserver itself died. Then the incarnation may
        # still run (re-parented to the pod supervisor, a subreaper), or may have ended as its child: wait
        # for it here and take the status from waitpid.
        if self._alive():
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self._pidfd, _resolve, ended)
            try:
                await ended
            finally:
                loop.remove_reader(self._pidfd)
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)  # noqa: ASYNC222 (WNOHANG never blocks)
        except ChildProcessError:
            return ExitStatus(255)  # a real exit 255, or reaped by the forkserver before it died
        return ExitStatus(os.waitstatus_to_exitcode(status) if pid else 255)

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self._process.close()
