"""One agent in this process against the scripted model app (no sockets): fast tests of the loop's rules."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from agent_runtime.agent import Agent, Exit
from agent_runtime.checkpoint import CheckpointStore, NoCheckpointStore
from agent_runtime.config import RuntimeConfig, parse_config
from agent_runtime.events import Event, EventBus
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient
from agent_runtime.modelserver.app import create_model_app
from agent_runtime.modelserver.scenarios import Scenario
from agent_runtime.peers import PeerClient
from agent_runtime.runner import exit_for


@dataclass
class Run:
    exit: Exit
    agent: Agent
    requests: list[dict[str, Any]]
    """Every chat completion request body the agent sent, in order."""
    statuses: list[int]
    events: list[Event] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        assert self.agent.state.task is not None
        return self.agent.state.task.messages


def config(scenario: str, task: str = "go", **extra: Any) -> RuntimeConfig:
    model = {"endpoint": "http://model/v1", "name": "scripted", **extra.pop("model", {})}
    model.setdefault("retry", {"maxAttempts": 4, "initialBackoffSeconds": 0.001, "maxBackoffSeconds": 0.002})
    return parse_config(
        {
            "apiVersion": "runtime.otp.agents.dev/v1",
            "agent": {"name": "a"},
            "model": model,
            "systemPrompt": f"[[scenario:{scenario}]]",
            "task": task,
            **extra,
        }
    )


async def run_task(
    scenarios: dict[str, Scenario] | None,
    runtime: RuntimeConfig,
    store: CheckpointStore | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Run:
    """Run a task agent to its exit; the exit is what the process would report.

    With `scenarios` the model is the scripted app, in this process; without, the real server at the
    config's endpoint. `sleep` takes the model client's pauses between retries.
    """
    requests: list[dict[str, Any]] = []
    statuses: list[int] = []

    async def record_request(request: httpx.Request) -> None:
        requests.append(json.loads(request.content))

    async def record_response(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    transport = None if scenarios is None else httpx.ASGITransport(app=create_model_app(scenarios))
    hooks = {"request": [record_request], "response": [record_response]}

    def factory(current: RuntimeConfig) -> ModelClient:
        return ModelClient(current.model, None, sleep=sleep, transport=transport, event_hooks=hooks)

    events = EventBus()
    peers = PeerClient("a", "default", runtime.peers, "token", None)
    agent = Agent(runtime, store or NoCheckpointStore(), factory, peers, Metrics("a"), events)
    seen: list[Event] = []
    with events.subscription() as queue:
        try:
            await agent.restore()
            outcome = await agent.run()
        except Exception as err:
            outcome = exit_for(err)
        finally:
            await agent.aclose()
            await peers.aclose()
        while not queue.empty():
            seen.append(queue.get_nowait())
    return Run(outcome, agent, requests, statuses, seen)
