"""One container run: a local process in its own process group, its output written to the run's log file.

The output goes through a pipe the kubelet reads, so that every line is recorded with the time it was
written (see localcluster/logformat.py), as a container runtime records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from localcluster import logformat
from localcluster.kubelet import orphans

# How long the output pump may outlive the process (a child that escaped the group may hold the pipe).
PUMP_DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended: ``exit_code`` follows the container convention (128 + signal when killed)."""

    exit_code: int
    signal: int | None

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitStatus:
        if returncode < 0:
            return cls(128 - returncode, -returncode)
        return cls(returncode, None)


class _Output(asyncio.SubprocessProtocol):
    """Writes the process's output (stdout and stderr share one pipe) to the run's log as it comes, and
    tells when the process has exited, which is not when its pipe closes: a child left in the group may
    still hold it (asyncio's own Process.wait() waits for the pipes too)."""

    def __init__(self, log: BinaryIO) -> None:
        self._writer = logformat.LogWriter(log)
        self.exited = asyncio.Event()
        self.output_closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._writer.write(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.output_closed.set()

    def process_exited(self) -> None:
        self.exited.set()


class ContainerProcess:
    """A running container process; signals go to its whole process group, as to a container."""

    def __init__(
        self, transport: asyncio.SubprocessTransport, output: _Output, log: BinaryIO, pid_file: Path
    ) -> None:
        self._transport = transport
        self._output = output
        self._log = log
        self._pid_file = pid_file
        self._pid = transport.get_pid()
        self._waiting: asyncio.Task[ExitStatus] | None = None
        self.ended = asyncio.Event()  # set once the run is over and its process group killed

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def stdin(self) -> asyncio.WriteTransport | None:
        """The container's stdin, for `kubectl attach -i`, when its spec asks for one (`stdin: true`)."""
        pipe = self._transport.get_pipe_transport(0)
        return pipe if isinstance(pipe, asyncio.WriteTransport) else None

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        pid_file: Path,
        *,
        stdin: bool = False,
    ) -> ContainerProcess:
        """Start ``argv`` and record it in ``pid_file``; raises OSError when the program cannot start.

        The previous run's log file becomes ``<container>.previous.log``; this run writes a new one.
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logformat.rotate(log_path)
        log = log_path.open("ab")
        try:
            transport, output = await asyncio.get_running_loop().subprocess_exec(
                lambda: _Output(log),
                *argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
        orphans.record(pid_file, transport.get_pid())
        return cls(transport, output, log, pid_file)

    async def wait(self) -> ExitStatus:
        """Wait for the process to exit, then kill whatever it left in its group (a container dies whole)."""
        if self._waiting is None:
            self._waiting = asyncio.create_task(self._wait_once())
        return await asyncio.shield(self._waiting)

    async def _wait_once(self) -> ExitStatus:
        await self._output.exited.wait()
        returncode = self._transport.get_returncode()
        assert returncode is not None
        self._signal_group(signal.SIGKILL)
        orphans.forget(self._pid_file)
        with contextlib.suppress(TimeoutError):  # the rest of the output, unless an escaped child holds it
            await asyncio.wait_for(self._output.output_closed.wait(), PUMP_DRAIN_SECONDS)
        self._transport.close()
        self._log.close()
        self.ended.set()
        return ExitStatus.from_returncode(returncode)

    def send_signal(self, sig: int) -> None:
        if self._transport.get_returncode() is None:
            self._signal_group(sig)

    async def stop(self, grace_seconds: float) -> ExitStatus:
        """SIGTERM the group, wait up to ``grace_seconds``, then SIGKILL it."""
        self.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.wait(), timeout=max(grace_seconds, 0))
        self.send_signal(signal.SIGKILL)
        return await self.wait()

    def _signal_group(self, sig: int) -> None:
        # The process leads its own session, so its pid is the group id even after it has exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, sig)
