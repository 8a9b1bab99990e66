"""`/readyz?wait=SECONDS` answers the moment the agent's start is over, so the pod supervisor sees Ready at
once instead of at its next poll (issue 12); plain `/readyz` still answers at once."""

import asyncio
from pathlib import Path

import httpx

from agent_runtime.agent import Agent
from agent_runtime.api import create_app
from agent_runtime.events import EventBus
from agent_runtime.metrics import Metrics
from agent_runtime.model import ModelClient
from agent_runtime.peers import PeerClient
from agent_runtime.reload import ConfigReloader
from tests.runtime.inprocess import config


class SlowStore:
    """A checkpoint store whose load returns only when the test lets it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def load(self) -> bytes | None:
        await self.release.wait()
        return None

    async def save(self, blob: bytes) -> None:
        return None

    async def clear(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_readyz_wait_answers_once_the_start_is_over(tmp_path: Path) -> None:
    runtime = config("echo", task=None)  # type: ignore[arg-type]
    store = SlowStore()
    events, metrics = EventBus(), Metrics("a")
    peers = PeerClient("a", "default", runtime.peers, None, None)
    agent = Agent(runtime, store, lambda c: ModelClient(c.model, None), peers, metrics, events)
    app = create_app(agent, ConfigReloader(tmp_path / "config.yaml", agent), events, metrics, "token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as http:
        assert (await http.get("/readyz")).status_code == 503  # not ready yet, and asked not to wait
        assert (await http.get("/readyz?wait=0.05")).status_code == 503  # still restoring after the wait

        waiting = asyncio.create_task(http.get("/readyz?wait=1"))
        restoring = asyncio.create_task(agent.restore())
        await asyncio.sleep(0.01)
        assert not waiting.done(), "answered before the agent was ready"
        store.release.set()
        await restoring
        answer = await asyncio.wait_for(waiting, 0.5)  # well within its 1 s wait: at once
        assert answer.status_code == 200
        assert answer.json()["ready"] is True

        for bad in ("-1", "2", "nan", "soon"):
            refused = await http.get(f"/readyz?wait={bad}")
            assert refused.status_code == 400
            assert "wait=" in refused.json()["detail"]
    await agent.aclose()
    await peers.aclose()


async def test_readyz_wait_ends_when_the_agent_stops_before_it_was_ready(tmp_path: Path) -> None:
    runtime = config("echo", task=None)  # type: ignore[arg-type]
    events, metrics = EventBus(), Metrics("a")
    peers = PeerClient("a", "default", runtime.peers, None, None)
    agent = Agent(runtime, SlowStore(), lambda c: ModelClient(c.model, None), peers, metrics, events)
    app = create_app(agent, ConfigReloader(tmp_path / "config.yaml", agent), events, metrics, "token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agent") as http:
        waiting = asyncio.create_task(http.get("/readyz?wait=1"))
        await asyncio.sleep(0.01)
        agent.request_stop()  # a stop during the start: the held probe must not hold up the server's exit
        answer = await asyncio.wait_for(waiting, 0.5)
        assert answer.status_code == 503
    await agent.aclose()
    await peers.aclose()
