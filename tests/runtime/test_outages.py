"""Issue 13 item 4: a model outage past the retries is a state the agent waits out, not a crash."""

import asyncio

from agent_runtime import exitcodes
from agent_runtime.agent import Agent
from agent_runtime.checkpoint import NoCheckpointStore
from agent_runtime.config import RuntimeConfig
from agent_runtime.events import EventBus
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient
from agent_runtime.modelserver.app import create_model_app
from agent_runtime.modelserver.scenarios import Failure, Scenario, ScriptedToolCall, Step
from agent_runtime.outage import endpoint_host
from agent_runtime.peers import PeerClient
from tests.runtime.inprocess import config, run_task

# Four attempts per try (see inprocess.config): ten failures outlast two whole retry budgets.
DOWN_FOR = 10
FINISH = [{"name": "finish"}]


def finish_with(result: str) -> Step:
    return Step(tool_calls=[ScriptedToolCall(name="finish", arguments={"result": result})])


async def test_a_long_outage_is_waited_out_and_the_task_completes_in_place() -> None:
    first = Step(tool_calls=[ScriptedToolCall(name="no_such_tool")])
    second = finish_with("done after the outage")
    outage = Step(fail=Failure(status=503, times=DOWN_FOR), tool_calls=second.tool_calls)
    scenarios = {"outage": Scenario(steps=[first, outage])}

    run = await run_task(scenarios, config("outage", tools=FINISH))

    assert (run.exit.code, run.exit.result) == (exitcodes.EXIT_OK, "done after the outage")
    # The first step ran once: the outage kept the task's place instead of starting it over.
    assert run.statuses == [200] + [503] * DOWN_FOR + [200]
    assert [len(body["messages"]) for body in run.requests][:2] == [2, 4]
    kinds = [event.type for event in run.events if event.type.startswith("dependency_")]
    assert kinds == ["dependency_unavailable", "dependency_available"]
    went = next(event.data for event in run.events if event.type == "dependency_unavailable")
    assert went["dependency"] == "model" and went["host"] == "model" and went["reason"] == "HTTP 503"
    assert run.agent.status()["dependencies"] == []


async def test_while_waiting_the_agent_stays_ready_and_reports_the_outage() -> None:
    runtime = config("down", model={"endpoint": "http://user:secret@model.example:8000/v1"})
    scenarios = {"down": Scenario(steps=[Step(fail=Failure(status=429, times=10**9, retry_after_seconds=0))])}
    agent, events, metrics = _agent(runtime, scenarios)
    with events.subscription() as queue:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        while (await queue.get()).type != "dependency_unavailable":
            pass
        status = agent.status()
        agent.request_stop()
        outcome = await running
    await agent.aclose()

    assert outcome.code == exitcodes.EXIT_OK  # drained on the stop, not a crash
    assert status["ready"] is True
    [model] = status["dependencies"]
    assert model["name"] == "model" and model["available"] is False
    assert model["host"] == "model.example:8000" and model["reason"] == "HTTP 429"
    assert "secret" not in str(status)
    assert metrics.registry.get_sample_value("agent_dependency_available", {"dependency": "model"}) == 0


async def test_a_stop_ends_the_wait_at_once() -> None:
    scenarios = {"down": Scenario(steps=[Step(fail=Failure(status=503, times=10**9))])}
    hour = {"maxAttempts": 1, "initialBackoffSeconds": 3600, "maxBackoffSeconds": 3600}
    slow = config("down", model={"retry": hour})
    agent, events, _ = _agent(slow, scenarios)
    with events.subscription() as queue:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        while (await queue.get()).type != "dependency_unavailable":
            pass
        # A wait of up to an hour (jittered): only the stop can end it soon, and it does.
        agent.request_stop()
        outcome = await running
    await agent.aclose()
    assert outcome.code == exitcodes.EXIT_OK


def test_only_the_host_of_an_endpoint_is_shown() -> None:
    assert endpoint_host("https://key:pw@api.example.com/v1") == "api.example.com"
    assert endpoint_host("http://10.0.0.1:8000/v1") == "10.0.0.1:8000"


def _agent(runtime: RuntimeConfig, scenarios: dict[str, Scenario]) -> tuple[Agent, EventBus, Metrics]:
    import httpx

    transport = httpx.ASGITransport(app=create_model_app(scenarios))

    def factory(current: RuntimeConfig) -> ModelClient:
        return ModelClient(current.model, None, transport=transport)

    events, metrics = EventBus(), Metrics("a")
    peers = PeerClient("a", "default", runtime.peers, "token", None)
    return Agent(runtime, NoCheckpointStore(), factory, peers, metrics, events), events, metrics
