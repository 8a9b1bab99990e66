"""Issue 14 item 4: token budgets. A service agent over its hourly budget pauses (Ready, answering 429) and
resumes when the window frees; a task agent ends its task with BudgetExhausted; the window outlives restarts.

The scripted model counts tokens as words: a service message `[message from s]\\nhello` under the system
prompt `[[scenario:x]]` is a 5-token prompt, and the reply `ok` one more token: 6 tokens per message.
"""

import asyncio
from pathlib import Path

import httpx

from agent_runtime import exitcodes
from agent_runtime.agent import Agent
from agent_runtime.api import create_app
from agent_runtime.checkpoint import CheckpointStore
from agent_runtime.checkpoint.file_store import FileCheckpointStore
from agent_runtime.config import RuntimeConfig
from agent_runtime.events import Event, EventBus
from agent_runtime.messages import AgentMessage
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient
from agent_runtime.modelserver.app import create_model_app
from agent_runtime.modelserver.scenarios import Scenario, ScriptedToolCall, Step
from agent_runtime.peers import DeliveryError, PeerClient
from agent_runtime.reload import ConfigReloader
from agent_runtime.token_window import BUCKET_SECONDS, WINDOW_SECONDS
from tests.runtime.inprocess import config, run_task

TOKEN = "token"
SCENARIOS = {"ok": Scenario(steps=[Step(reply="ok")])}
PER_MESSAGE = 6


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _service(per_hour: int) -> RuntimeConfig:
    return config("ok", task=None, budgets={"maxTokensPerHour": per_hour})


def _agent(runtime: RuntimeConfig, store: CheckpointStore, clock: Clock) -> tuple[Agent, EventBus, Metrics]:
    transport = httpx.ASGITransport(app=create_model_app(SCENARIOS))

    def factory(current: RuntimeConfig) -> ModelClient:
        return ModelClient(current.model, None, transport=transport)

    events, metrics = EventBus(), Metrics("a")
    peers = PeerClient("a", "default", runtime.peers, TOKEN, None)
    return Agent(runtime, store, factory, peers, metrics, events, clock=clock), events, metrics


def _message(number: int) -> dict[str, str]:
    return {"id": f"m{number}", "sender": "s", "content": "hello"}


async def _until(queue: "asyncio.Queue[Event]", kind: str) -> Event:
    while (event := await queue.get()).type != kind:
        pass
    return event


async def test_a_service_agent_over_its_hourly_budget_pauses_answers_429_and_resumes(tmp_path: Path) -> None:
    clock = Clock()
    agent, events, metrics = _agent(_service(2 * PER_MESSAGE - 1), FileCheckpointStore(tmp_path / "c"), clock)
    app = create_app(agent, ConfigReloader(tmp_path / "absent.yaml", agent), events, metrics, TOKEN)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://agent",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with events.subscription() as queue:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        for number in (1, 2):  # 6 tokens, then 12: the second takes the window past the limit of 11
            assert (await http.post("/v1/messages", json=_message(number))).status_code == 202
            await _until(queue, "task_finished")
        exhausted = (await _until(queue, "budget_exhausted")).data

        refused = await http.post("/v1/messages", json=_message(3))
        ready = await http.get("/readyz")
        status = (await http.get("/v1/status")).json()
        scraped = (await http.get("/metrics")).text

        clock.now += WINDOW_SECONDS + BUCKET_SECONDS  # the two messages' tokens fall out of the window
        assert (await http.post("/v1/messages", json=_message(4))).status_code == 202
        available = (await _until(queue, "budget_available")).data
        finished = (await _until(queue, "task_finished")).data
        agent.request_stop()
        outcome = await running
    await http.aclose()
    await agent.aclose()

    assert exhausted["budget"] == "perHour" and exhausted["limit"] == 11 and exhausted["used"] == 12
    assert exhausted["retryAfterSeconds"] > WINDOW_SECONDS - BUCKET_SECONDS
    # Paused, not stopped: Ready, and new work is refused with what, how much and until when.
    assert ready.status_code == 200 and status["ready"] is True and status["phase"] == "waiting_for_budget"
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) == exhausted["retryAfterSeconds"]
    body = refused.json()
    assert body["budget"]["name"] == "perHour" and body["budget"]["used"] == 12
    assert "hourly token budget" in body["detail"] and "maxTokensPerHour" in body["detail"]
    budget = status["tokenBudget"]
    assert (budget["perHour"], budget["usedInWindow"], budget["leftInWindow"]) == (11, 12, 0)
    assert budget["exhausted"] is True and budget["freesAt"] == exhausted["freesAt"]
    assert "agent_hourly_tokens_used 12.0" in scraped
    assert "agent_hourly_token_budget_remaining 0.0" in scraped
    assert 'agent_token_budget_exhaustions_total{budget="per_hour"} 1.0' in scraped
    # Resumed in the same process (no exit, so nothing for a supervisor to restart).
    assert available["used"] == 0 and finished["task"] == "m4" and finished["outcome"] == "finished"
    assert outcome.code == exitcodes.EXIT_OK and agent.state.tasks_completed == 3


async def test_the_hourly_window_outlives_a_restart(tmp_path: Path) -> None:
    clock, store = Clock(), FileCheckpointStore(tmp_path / "c")
    agent, events, _ = _agent(_service(PER_MESSAGE), store, clock)
    with events.subscription() as queue:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        await agent.accept(AgentMessage.model_validate(_message(1)))
        await _until(queue, "budget_exhausted")
        agent.request_stop()
        await running
    await agent.aclose()

    clock.now += 60  # a crash-looping agent comes back quickly: the window it left is still there
    again, events, _ = _agent(_service(PER_MESSAGE), store, clock)
    await again.restore()
    assert again.budget_refusal() is not None
    assert again.status()["tokenBudget"]["usedInWindow"] == PER_MESSAGE
    await again.aclose()


async def test_a_fresh_start_keeps_only_the_token_window(tmp_path: Path) -> None:
    clock, store = Clock(), FileCheckpointStore(tmp_path / "c")
    agent, events, _ = _agent(_service(PER_MESSAGE), store, clock)
    with events.subscription() as queue:
        await agent.restore()
        running = asyncio.create_task(agent.run())
        await agent.accept(AgentMessage.model_validate(_message(1)))
        await _until(queue, "budget_exhausted")
        await agent.accept(AgentMessage.model_validate(_message(2)))  # still in the inbox: paused
        agent.request_stop()
        await running
    await agent.aclose()

    fresh = _service(PER_MESSAGE).model_copy(update={"resume": False})
    again, _, _ = _agent(fresh, store, clock)
    await again.restore()
    assert again.state.inbox == [] and again.state.tasks_completed == 0  # the rest is gone
    assert again.budget_refusal() is not None  # the window is not
    await again.aclose()


async def test_a_task_agent_over_its_hourly_budget_ends_its_task_with_budget_exhausted(
    tmp_path: Path,
) -> None:
    store = FileCheckpointStore(tmp_path / "c")
    first = Step(tool_calls=[ScriptedToolCall(name="no_such_tool")])
    finish = Step(tool_calls=[ScriptedToolCall(name="finish", arguments={"result": "done"})])
    scenarios = {"two": Scenario(steps=[first, finish])}
    runtime = config("two", tools=[{"name": "finish"}], budgets={"maxTokensPerHour": 3})

    run = await run_task(scenarios, runtime, store)
    # The next incarnation (a new task text, as after a restart with an edit) starts over budget: it ends
    # at once without calling the model.
    again = await run_task(scenarios, runtime.model_copy(update={"task": "another"}), store)

    assert run.exit.code == exitcodes.EXIT_BUDGET_EXHAUSTED and run.exit.reason == "BudgetExhausted"
    assert "hourly token budget (3) used up" in run.exit.message
    assert len(run.requests) == 1
    assert [event.data["budget"] for event in run.events if event.type == "budget_exhausted"] == ["perHour"]
    assert again.exit.code == exitcodes.EXIT_BUDGET_EXHAUSTED and again.requests == []


async def test_a_per_task_budget_ends_the_task_and_is_announced() -> None:
    scenarios = {"loop": Scenario(steps=[Step(tool_calls=[ScriptedToolCall(name="no_such_tool")])] * 5)}
    run = await run_task(scenarios, config("loop", budgets={"maxTokens": 5}))

    assert run.exit.code == exitcodes.EXIT_BUDGET_EXHAUSTED
    [event] = [event.data for event in run.events if event.type == "budget_exhausted"]
    assert event["budget"] == "perTask" and event["limit"] == 5 and event["used"] >= 5


async def test_a_caller_is_told_why_a_paused_peer_refused_its_message() -> None:
    detail = "agent 'b' is paused: its hourly token budget ... in 42s"

    def paused_peer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"detail": detail}, headers={"Retry-After": "42"})

    peers = PeerClient("a", "default", config("ok").peers, TOKEN, None)
    peers._client = httpx.AsyncClient(transport=httpx.MockTransport(paused_peer))
    try:
        await peers.cast("b", "hello", "m1")
    except DeliveryError as err:
        message = str(err)
    else:
        raise AssertionError("a 429 must fail the delivery")
    finally:
        await peers.aclose()
    assert message == f"agent 'b' refused the message (HTTP 429): {detail}"
