"""The Observer's server against a stand-in API client: a kind it may not read is reported on the page
instead of holding the page back, and the on-demand reads only reach the operator's own pods and Agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from agent_supervisor.cli.observer import kube
from agent_supervisor.cli.observer.server import BROADCAST, MIRROR, application
from tests.chart.test_observer import documented
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


ENDED_POD = {
    "metadata": {"name": "solo-1", "namespace": NS, "labels": {"otp.agents.dev/agent": "solo"}},
    "status": {"containerStatuses": [{"name": "agent", "state": {"terminated": {"exitCode": 1}}}]},
}


class FakeApi:
    """Lists one Agent and its ended pod; Events are forbidden; watches stay open and quiet. Records calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    async def call_api(
        self, path: str, method: str, query_params: list[tuple[str, str]], **_: Any
    ) -> Response:
        query = dict(query_params)
        self.calls.append((method, path, query))
        if path.endswith("/events"):
            return Response(403, FORBIDDEN)
        if query.get("watch") == "true":
            return Response(200, None, hang=True)
        if path.endswith("/log"):
            return Response(200, "the last words")
        if "/proxy/" in path:
            return Response(200, {"phase": "idle", "step": 0})
        items = {"agents": [agent("solo", status={"phase": "Running"})], "pods": [ENDED_POD]}
        return Response(
            200, {"metadata": {"resourceVersion": "1"}, "items": items.get(path.rsplit("/", 1)[1], [])}
        )

    async def close(self) -> None:
        pass


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
async def client(api: FakeApi) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(application(api, [NS]))) as running:
        yield running


async def first_snapshot(
    client: TestClient[Any, Any], check: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any]:
    """The first snapshot pushed on a new /events stream for which `check` holds."""
    response = await client.get("/events")
    assert response.headers["Content-Type"] == "text/event-stream"
    async for line in response.content:
        if line.startswith(b"data: "):
            shown = dict(json.loads(line.removeprefix(b"data: ")))
            if check(shown):
                return shown
    raise AssertionError("the stream ended without such a snapshot")


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


def rbac_request(method: str, path: str, query: dict[str, str]) -> tuple[str, str, str]:
    """(API group, resource[/subresource], verb) of a namespaced request, as the RBAC authorizer sees it."""
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[parts.index("namespaces") + 2 :]
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    verbs = {"GET": "watch" if query.get("watch") == "true" else ("list" if len(rest) == 1 else "get")}
    return group, resource, verbs[method]


async def test_every_call_it_makes_is_one_the_charts_observer_role_grants(
    api: FakeApi, client: TestClient[Any, Any]
) -> None:
    await asyncio.wait_for(first_snapshot(client), 10)
    log = await client.get("/api/log", params={"namespace": NS, "pod": "solo-1"})
    assert (await log.json())["log"] == json.dumps("the last words")
    summary = await client.get("/api/runtime", params={"namespace": NS, "agent": "solo"})
    assert (await summary.json())["summary"] == {"phase": "idle", "step": 0}
    made = {rbac_request(*call) for call in api.calls}
    assert ("", "pods/log", "get") in made and ("", "services/proxy", "get") in made
    assert made <= documented(), "a call the observer makes that its chart Role does not grant"


async def test_a_page_that_went_away_leaves_no_error_and_the_others_are_served(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    first = await client.get("/events")
    async for line in first.content:
        if line.startswith(b"data: "):
            break
    first.close()
    # A change after the page left: the next push meets the closed connection.
    mirror = client.server.app[MIRROR]
    number = client.server.app[BROADCAST].number
    mirror.apply(kube.AGENTS, "ADDED", agent("late", status={"phase": "Starting"}))
    await asyncio.wait_for(
        first_snapshot(client, lambda s: f"{NS}/late" in [t["id"] for t in s["trees"]]), 10
    )
    assert client.server.app[BROADCAST].number > number
    await asyncio.sleep(0)  # no timing: only lets the first handler run its failed write
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]
