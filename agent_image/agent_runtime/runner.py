"""Process wiring: config -> components -> HTTP server + agent loop -> exit code and termination message."""

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn
from starlette.applications import Starlette

from agent_runtime import exitcodes, termination, tracing
from agent_runtime.agent import Agent, Exit, ModelFactory
from agent_runtime.api import DEFAULT_MAX_REQUEST_BYTES, create_app
from agent_runtime.checkpoint import CheckpointError, CheckpointTooLargeError
from agent_runtime.checkpoint.factory import open_store
from agent_runtime.config import ConfigError, RuntimeConfig, config_path_from_env, load_config
from agent_runtime.events import EventBus
from agent_runtime.kube import KubeAccess, KubeAccessError, kube_access
from agent_runtime.listening import listen
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient, ModelRejectedError, ModelUnavailableError
from agent_runtime.peers import PeerClient
from agent_runtime.reload import ConfigReloader
from agent_runtime.tools import CrashRequestedError

log = logging.getLogger(__name__)

TOKEN_ENV: Final = "AGENT_MESSAGE_TOKEN"
MAX_REQUEST_BYTES_ENV: Final = "AGENT_MAX_REQUEST_BYTES"
OUTBOX_GRACE_SECONDS: Final = 2.0


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by the runtime (`stop`) once the agent has drained.

    Two of uvicorn's pauses are skipped: it looks at `should_exit` on a 100 ms tick, and after asking its
    connections to close it sleeps 100 ms before it waits for them (in 100 ms steps). An idle runtime spent
    about 200 ms of every stop there, and a group restart stops its children one after the other. Written
    against uvicorn 0.54 (requirements/constraints.txt pins it); the rest of the server is uvicorn's.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runtime owns SIGTERM/SIGINT: it drains the agent first and stops the server last.
        yield

    def stop(self) -> None:
        self.should_exit = True
        self._exit.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # each tick also refreshes the Date header, once a second
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # closes once its response is sent
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        state = self.server_state
        # uvicorn offers no event for "every connection closed": look every 5 ms (it looks every 100 ms).
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        for task in state.tasks:
            task.cancel(msg="the runtime is exiting")
        for server in self.servers:
            await server.wait_closed()


def _bind(host: str, port: int) -> socket.socket:
    try:
        sock = listen(host, port)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port} (AGENT_HOST/AGENT_PORT): {err.strerror}") from err
    sock.set_inheritable(True)
    return sock


def _max_request_bytes() -> int:
    raw = os.environ.get(MAX_REQUEST_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_REQUEST_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(
            f"{MAX_REQUEST_BYTES_ENV}={raw!r}: expected a positive number of bytes, e.g. 1048576, "
            "or leave it unset"
        )
    return int(raw)


def _model_factory(metrics: Metrics, events: EventBus) -> ModelFactory:
    def on_retry(reason: str, delay: float) -> None:
        metrics.model_retries.labels(reason=reason.split(" (")[0]).inc()
        events.publish("model_retry", reason=reason, delaySeconds=round(delay, 3))

    def make(config: RuntimeConfig) -> ModelClient:
        key = None
        if config.model.api_key_env:
            key = os.environ.get(config.model.api_key_env)
            if not key:
                raise ConfigError(
                    f"model.apiKeyEnv: env var {config.model.api_key_env} is empty or unset; "
                    "map the API key Secret into it"
                )
        return ModelClient(config.model, key, on_retry=on_retry)

    return make


def _peer_kube_access(config: RuntimeConfig) -> KubeAccess | None:
    if not (config.peers.via_api_server or "{api}" in config.peers.address_template):
        return None
    try:
        return kube_access(config.checkpoint.api_url)
    except KubeAccessError as err:
        raise ConfigError(f"peers.addressTemplate: {err}") from err


def exit_for(error: BaseException) -> Exit:
    match error:
        case CrashRequestedError():
            return Exit(exitcodes.EXIT_CRASH_REQUESTED, f"crash requested: {error}")
        case ModelUnavailableError():
            return Exit(exitcodes.EXIT_MODEL_UNAVAILABLE, str(error))
        case ConfigError():
            return Exit(exitcodes.EXIT_CONFIG_INVALID, str(error))
        case ModelRejectedError():
            return Exit(exitcodes.EXIT_MODEL_REJECTED, str(error))
        case CheckpointError() | CheckpointTooLargeError():
            return Exit(exitcodes.EXIT_CRASH, str(error))
    log.error("unexpected error", exc_info=error)
    return Exit(exitcodes.EXIT_CRASH, f"unexpected error: {type(error).__name__}: {error}")


def _summarise(outcome: Exit, agent: Agent | None) -> None:
    summary: dict[str, object] = {
        "exitCode": outcome.code,
        "reason": outcome.reason,
        "message": outcome.message,
        "result": outcome.result,
    }
    if agent is not None:
        summary |= {"revision": agent.config.revision, "steps": agent.state.steps_total}
    termination.write(summary)
    log.info("exiting with %d (%s): %s", outcome.code, outcome.reason, outcome.message)


async def _serve(app: Starlette, sock: socket.socket) -> tuple[_Server, "asyncio.Task[None]"]:
    server = _Server(
        uvicorn.Config(
            app,
            log_level="warning",
            # uvicorn's own log format is not JSON: its loggers go through the runtime's JSON handler.
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            # Named, not "auto": probing for httptools and websockets costs start-up time for nothing.
            http="h11",
            ws="none",
        )
    )
    return server, asyncio.create_task(server.serve(sockets=[sock]))


async def _build(config: RuntimeConfig) -> tuple[Agent, ConfigReloader, EventBus, Metrics]:
    events = EventBus()
    metrics = Metrics(config.agent.name)
    token = os.environ.get(TOKEN_ENV) or None
    peers = PeerClient(
        config.agent.name, config.agent.namespace, config.peers, token, _peer_kube_access(config)
    )
    agent = Agent(config, open_store(config), _model_factory(metrics, events), peers, metrics, events)
    return agent, ConfigReloader(config_path_from_env(), agent), events, metrics


async def run_agent() -> int:
    """The `agent-runtime` process: returns the exit code (see agent_runtime.exitcodes)."""
    try:
        config = load_config(config_path_from_env())
        max_request_bytes = _max_request_bytes()
        sock = _bind(os.environ.get("AGENT_HOST", "0.0.0.0"), int(os.environ.get("AGENT_PORT", "8080")))
        agent, reloader, events, metrics = await _build(config)
    except (ConfigError, CheckpointError) as err:
        outcome = Exit(exitcodes.EXIT_CONFIG_INVALID, str(err))
        _summarise(outcome, None)
        return outcome.code
    tracing.configure_from_env(config.agent.name, config.agent.namespace)
    token = os.environ.get(TOKEN_ENV) or None
    server, serving = await _serve(
        create_app(agent, reloader, events, metrics, token, max_request_bytes), sock
    )
    outcome = await _supervise_loop(agent, reloader, config)
    if outcome.code == exitcodes.EXIT_OK:
        await agent.drain_outbox(OUTBOX_GRACE_SECONDS)
    # Open /v1/events streams end now: the server would otherwise wait for them, then cancel them.
    events.close(reason=outcome.reason)
    server.stop()
    await asyncio.wait({serving}, timeout=3)
    await agent.aclose()
    tracing.shutdown()
    _summarise(outcome, agent)
    return outcome.code


async def _after_abandon(agent: Agent) -> Exit:
    try:
        await agent.persist()  # the last completed step, in case the cancel interrupted its save
    except (CheckpointError, CheckpointTooLargeError) as err:
        return exit_for(err)
    return Exit(exitcodes.EXIT_OK, "stopped on SIGTERM; the unfinished step was abandoned and will be redone")


async def _supervise_loop(agent: Agent, reloader: ConfigReloader, config: RuntimeConfig) -> Exit:
    """Run the agent to its end; SIGTERM/SIGINT drain it, abandoning a step that outlives the timeout."""
    loop = asyncio.get_running_loop()
    watcher = asyncio.create_task(reloader.watch())
    abandoned = False
    running: asyncio.Task[Exit] | None = None

    def abandon() -> None:
        nonlocal abandoned
        if running is not None and not running.done():
            abandoned = True
            running.cancel()

    def on_signal() -> None:
        agent.request_stop()
        loop.call_later(agent.config.drain_timeout_seconds, abandon)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        return await running
    except asyncio.CancelledError:
        if not abandoned:
            raise
        return await _after_abandon(agent)
    except Exception as err:
        return exit_for(err)
    finally:
        watcher.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
