"""One running incarnation's process: its pid, signals to its group, and how it ended."""

import asyncio
import contextlib
import os
import select
from dataclasses import dataclass

from agent_runtime.pod_supervisor.launcher import ProcessHandle


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


class Incarnation:
    """One running incarnation's process: its pid, signals to its group, and its exit."""

    def __init__(self, attempt: int, process: ProcessHandle) -> None:
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
        if returncode is None:
            # A spawned incarnation (a pod's first) is this process's own child: its status pipe closes as it
            # exits, a moment before waitpid can collect it. (A forked one's status comes through the pipe.)
            await asyncio.to_thread(self._process.join)
            returncode = self._process.exitcode
            assert returncode is not None  # join() has waited for it
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
