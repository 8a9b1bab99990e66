"""`kubectl exec`: a command run as a local process in a container's process environment.

The process gets what the container's own process gets (its environment, `LOCALCLUSTER_ROOT`, working
directory, and container paths in its arguments mapped to host paths as for the container's command), in a
process group of its own. That group is killed when the client goes away or the container stops, and is
recorded next to the container's, so that `local down` kills it even after a crash. With a TTY the command
runs on a pseudo-terminal that is its controlling terminal (so shells do job control and `kubectl exec -it`
resizes reach it); without one, stdout and stderr are kept apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localcluster.kubelet import channels, orphans
from localcluster.kubelet.channels import ChannelSocket

# Makes the pseudo-terminal on fd 0 the controlling terminal of the new session, then runs the command.
_CONTROLLING_TTY_SHIM = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)
READ_SIZE = 65536


@dataclass(frozen=True)
class ExecRequest:
    argv: Sequence[str]  # resolved to host terms
    env: Mapping[str, str]
    cwd: Path
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool
    container_dir: Path  # where the session's process is recorded, so `local down` finds it after a crash
    container_ended: asyncio.Event  # the container's run is over: the command goes with it


async def _until_done(
    request: ExecRequest, process: asyncio.subprocess.Process, client: asyncio.Task[None]
) -> int:
    """Waits for the command; kills its group when the client leaves or the container stops first."""
    pid_file = orphans.exec_pid_file(request.container_dir, process.pid)
    orphans.record(pid_file, process.pid)
    try:
        waiting = asyncio.create_task(process.wait())
        container = asyncio.create_task(request.container_ended.wait())
        await asyncio.wait({waiting, client, container}, return_when=asyncio.FIRST_COMPLETED)
        container.cancel()
        if not waiting.done():
            _kill_group(process.pid)
        returncode = await waiting
    finally:
        orphans.forget(pid_file)
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _pump(reader: asyncio.StreamReader, socket: ChannelSocket, channel: int) -> None:
    while chunk := await reader.read(READ_SIZE):
        await socket.send(channel, chunk)


async def run_piped(request: ExecRequest, socket: ChannelSocket) -> int:
    """Runs the command with pipes; returns its exit code (128 + signal when killed)."""
    process = await asyncio.create_subprocess_exec(
        *request.argv,
        stdin=subprocess.PIPE if request.stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE if request.stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE if request.stderr else subprocess.DEVNULL,
        cwd=request.cwd,
        env=dict(request.env),
        start_new_session=True,
    )

    async def to_stdin(data: bytes) -> None:
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.write(data)
            with contextlib.suppress(ConnectionError):
                await process.stdin.drain()

    async def close_stdin() -> None:
        if process.stdin is not None:
            process.stdin.close()

    pumps = [
        asyncio.create_task(_pump(stream, socket, channel))
        for stream, channel in ((process.stdout, channels.STDOUT), (process.stderr, channels.STDERR))
        if stream is not None
    ]
    client = asyncio.create_task(socket.receive(to_stdin, close_stdin, lambda _w, _h: None))
    try:
        code = await _until_done(request, process, client)
        await asyncio.gather(*pumps, return_exceptions=True)
    finally:
        client.cancel()
        _kill_group(process.pid)
    return code


async def run_on_tty(request: ExecRequest, socket: ChannelSocket) -> int:
    """Runs the command on a pseudo-terminal; its output (stdout and stderr alike) goes to stdout."""
    master, slave = pty.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CONTROLLING_TTY_SHIM,
            *request.argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=request.cwd,
            env={"TERM": "xterm", **request.env},
            start_new_session=True,
        )
    finally:
        os.close(slave)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, READ_SIZE)
        except OSError:  # EIO: every holder of the terminal is gone
            data = b""
        if not data:
            loop.remove_reader(master)
        output.put_nowait(data)

    async def forward() -> None:
        while chunk := await output.get():
            await socket.send(channels.STDOUT, chunk)

    async def to_terminal(data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(master, data)

    async def end_of_input() -> None:
        await to_terminal(b"\x04")  # what a terminal sends for Ctrl-D

    def resize(width: int, height: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    loop.add_reader(master, readable)
    forwarding = asyncio.create_task(forward())
    client = asyncio.create_task(socket.receive(to_terminal, end_of_input, resize))
    try:
        code = await _until_done(request, process, client)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(forwarding, 1.0)
    finally:
        client.cancel()
        forwarding.cancel()
        loop.remove_reader(master)
        os.close(master)
        _kill_group(process.pid)
    return code


async def run(request: ExecRequest, socket: ChannelSocket) -> None:
    """Runs the session to its end and reports how the command ended on the error channel."""
    try:
        code = await (run_on_tty(request, socket) if request.tty else run_piped(request, socket))
    except OSError as error:
        await socket.finish(channels.failure(f"error executing command in container: {error}"))
        return
    await socket.finish(channels.exit_status(code))
