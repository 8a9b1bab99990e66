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


class ContainerProcess:
    """A running container process; signals go to its whole process group, as to a container."""

    def __init__(self, process: asyncio.subprocess.Process, pump: asyncio.Task[None], pid_file: Path) -> None:
        self._process = process
        self._pump = pump
        self._pid_file = pid_file
        self._exit: ExitStatus | None = None
        self.ended = asyncio.Event()  # set once the run is over and its process group killed

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def stdin(self) -> asyncio.StreamWriter | None:
        """The container's stdin, for `kubectl attach -i`, when its spec asks for one (`stdin: true`)."""
        return self._process.stdin

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
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
        orphans.record(pid_file, process.pid)
        assert process.stdout is not None
        pump = asyncio.create_task(_pump(process.stdout, log_path), name=f"log {log_path.name}")
        return cls(process, pump, pid_file)

    async def wait(self) -> ExitStatus:
        """Wait for the process to exit, then kill whatever it left in its group (a container dies whole)."""
        if self._exit is None:
            returncode = await self._process.wait()
            self._signal_group(signal.SIGKILL)
            orphans.forget(self._pid_file)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._pump), PUMP_DRAIN_SECONDS)
            self._pump.cancel()
            self._exit = ExitStatus.from_returncode(returncode)
            self.ended.set()
        return self._exit

    def send_signal(self, sig: int) -> None:
        if self._process.returncode is None:
            self._signal_group(sig)

    async def stop(self, grace_seconds: float) -> ExitStatus:
        """SIGTERM the group, wait up to ``grace_seconds``, then SIGKILL it."""
        self.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(self.wait()), timeout=max(grace_seconds, 0))
        self.send_signal(signal.SIGKILL)
        return await self.wait()

    def _signal_group(self, sig: int) -> None:
        # The process leads its own session, so its pid is the group id even after it has exited.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)


async def _pump(output: asyncio.StreamReader, log_path: Path) -> None:
    with log_path.open("ab") as handle:
        writer = logformat.LogWriter(handle)
        while chunk := await output.read(65536):
            writer.write(chunk)
