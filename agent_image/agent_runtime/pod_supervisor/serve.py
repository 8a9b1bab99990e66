"""The pod supervisor's event loop: the state machine, the control API and the signals, until the end."""

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Collection, Iterator
from concurrent.futures import Future
from typing import Any

import uvicorn

from agent_runtime import exitcodes
from agent_runtime.pod_supervisor import orphans, summary
from agent_runtime.pod_supervisor.control_api import create_app
from agent_runtime.pod_supervisor.exits import Ended
from agent_runtime.pod_supervisor.launcher import Incarnation, Launcher
from agent_runtime.pod_supervisor.settings import Settings
from agent_runtime.pod_supervisor.supervisor import PodSupervisor

log = logging.getLogger("agent_runtime.pod_supervisor")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The pod supervisor owns SIGTERM/SIGINT: it stops the incarnation first and the server last.
        yield


def _server(supervisor: PodSupervisor, settings: Settings) -> _Server:
    app = create_app(supervisor, settings.token_sha256, settings.heartbeat_seconds)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    return _Server(config)


def _end_summary(done: Ended | None) -> tuple[int, dict[str, object]]:
    if done is None:
        message = "the pod supervisor ended before any incarnation ran"
        return exitcodes.EXIT_OK, {"exitCode": 0, "reason": exitcodes.reason_for(0), "message": message}
    return done.record.exit_code, done.summary


async def serve(
    settings: Settings,
    launcher: Launcher,
    first: "Future[Incarnation]",
    control: socket.socket,
    shutdown_signals: Collection[signal.Signals],
    started_at: float,
) -> int:
    loop = asyncio.get_running_loop()
    supervisor = PodSupervisor(launcher, settings)
    supervisor.begin(settings.first_attempt, asyncio.wrap_future(first), since=started_at)
    for signum in shutdown_signals:
        loop.add_signal_handler(signum, supervisor.terminate)
    # Orphans that exit on their own while an incarnation runs are collected at once (no zombies pile up);
    # live ones are left alone until their incarnation ends.
    loop.add_signal_handler(signal.SIGCHLD, lambda: orphans.reap_dead(_protected(supervisor)))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, shutdown_signals)
    server = _server(supervisor, settings)
    serving = asyncio.create_task(server.serve(sockets=[control]))
    log.info(
        "pod supervisor serving the control API on %s:%d (incarnations' API on port %d)",
        settings.host,
        settings.control_port,
        settings.agent_port,
    )
    try:
        either: set[asyncio.Future[Any]] = {supervisor.ended, serving}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not supervisor.ended.done():
            serving.result()  # raises what ended the server
            raise RuntimeError("the control API server stopped on its own")
        done = supervisor.ended.result()  # raises what made the state machine fail
    except BaseException:
        # The pod supervisor cannot go on: take the running incarnation down with it rather than leave it
        # unsupervised (main() logs the error and ends the container).
        if (pid := supervisor.running_pid) is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        raise
    code, document = _end_summary(done)
    summary.write(document)
    log.info("pod supervisor exiting with %d", code)
    supervisor.feed.close()  # ends every watch, so the server's graceful shutdown need not wait for them
    server.should_exit = True
    await asyncio.wait({serving}, timeout=3)
    await orphans.sweep(lambda: (), log.info)
    return code


def _protected(supervisor: PodSupervisor) -> Collection[int]:
    # The running incarnation becomes this process's child if its forkserver dies: never reap it here.
    pid = supervisor.running_pid
    return (pid,) if pid is not None else ()
