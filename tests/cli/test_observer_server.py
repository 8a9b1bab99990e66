"""The Observer's server against a stand-in API client: a kind it may not read is reported on the page
instead of holding the page back, and the on-demand reads only reach the operator's own pods and Agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent_supervisor.cli.observer.server import application
from tests.cli.bodies import NS, agent

FORBIDDEN = {
    "kind": "Status",
    "message": 'events is forbidden: User "observer" cannot list resource "events"',
}


class Response:
    def __init__(self, status: int, body: Any, hang: bool = False) -> None:
        self.status = status
        self._body = body
        self._hang = hang

    async def json(self, content_type: str | None = None) -> Any:
        return self._body

    async def text(self, errors: str = "strict") -> str:
        return json.dumps(self._body)

    def release(self) -> None:
        pass

    @property
    def content(self) -> AsyncIterator[bytes]:
        async def lines() -> AsyncIterator[bytes]:
            if self._hang:  # a watch with nothing to say
                await asyncio.Event().wait()
            yield b""

        return lines()


class FakeApi:
    """Lists: one Agent, nothing else; Events forbidden. Watches stay open and quiet."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def call_api(
        self, path: str, method: str, query_params: list[tuple[str, str]], **_: Any
    ) -> Response:
        self.paths.append(path)
        query = dict(query_params)
        if path.endswith("/events"):
            return Response(403, FORBIDDEN)
        if query.get("watch") == "true":
            return Response(200, None, hang=True)
        items = [agent("solo", status={"phase": "Running"})] if path.endswith("/agents") else []
        return Response(200, {"metadata": {"resourceVersion": "1"}, "items": items})

    async def close(self) -> None:
        pass


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(application(FakeApi(), [NS]))) as running:
        yield running


async def first_snapshot(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/events")
    assert response.headers["Content-Type"] == "text/event-stream"
    async for line in response.content:
        if line.startswith(b"data: "):
            return dict(json.loads(line.removeprefix(b"data: ")))
    raise AssertionError("the stream ended without a snapshot")


async def test_a_kind_it_cannot_read_is_reported_and_the_rest_is_shown(client: TestClient[Any, Any]) -> None:
    shown = await asyncio.wait_for(first_snapshot(client), 10)
    assert [tree["id"] for tree in shown["trees"]] == [f"{NS}/solo"]
    [problem] = shown["problems"]
    assert f"events in {NS}" in problem and "403" in problem and "forbidden" in problem


async def test_logs_and_summaries_only_of_the_operators_pods_and_agents(client: TestClient[Any, Any]) -> None:
    log = await client.get("/api/log", params={"namespace": NS, "pod": "anything"})
    assert log.status == 404
    runtime = await client.get("/api/runtime", params={"namespace": NS, "agent": "not-an-agent"})
    assert runtime.status == 404
    missing = await client.get("/api/log", params={"namespace": NS})
    assert (missing.status, await missing.text()) == (400, "the query parameter pod is required")


async def test_the_page_loads_only_from_the_observer(client: TestClient[Any, Any]) -> None:
    page = await client.get("/")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert 'src="static/observer.js"' in await page.text()
    assert (await client.get("/static/observer.js")).status == 200
    assert (await client.get("/static/server.py")).status == 404
