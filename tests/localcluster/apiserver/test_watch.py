"""Watch semantics on the wire: replay, bookmarks, initial events, selectors, timeouts, dropped streams."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
async def http(local_apiserver) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=local_apiserver.url) as session:
        yield session


@pytest.fixture
async def ns(http: aiohttp.ClientSession) -> str:
    name = f"w-{uuid.uuid4().hex[:8]}"
    async with http.post("/api/v1/namespaces", json={"metadata": {"name": name}}) as response:
        assert response.status == 201
    return name


async def send(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **headers: str) -> dict:
    async with http.request(method, path, json=body, headers=headers) as response:
        data = await response.json()
        assert response.status < 300, data
        return data


async def merge(http: aiohttp.ClientSession, path: str, body: dict) -> dict:
    async with http.patch(
        path, data=json.dumps(body), headers={"Content-Type": "application/merge-patch+json"}
    ) as response:
        data = await response.json()
        assert response.status == 200, data
        return data


class Stream:
    """Reads watch events from an open response, each with a deadline."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, within: float = 5.0) -> dict | None:
        line = await asyncio.wait_for(self.response.content.readline(), within)
        return json.loads(line) if line else None

    async def take(self, count: int, within: float = 5.0) -> list[tuple[str, str]]:
        out = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, f"stream ended after {out}"
            out.append((event["type"], event["object"]["metadata"].get("name", "")))
        return out


async def open_watch(http: aiohttp.ClientSession, path: str, **headers: str) -> Stream:
    response = await http.get(path, headers=headers)
    assert response.status == 200
    return Stream(response)


async def test_watch_from_zero_lists_then_follows(http, ns):
    await send(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "a"}})
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=0")
    assert await stream.take(1) == [("ADDED", "a")]
    await merge(http, f"/api/v1/namespaces/{ns}/configmaps/a", {"data": {"k": "v"}})
    await send(http, "DELETE", f"/api/v1/namespaces/{ns}/configmaps/a")
    assert await stream.take(2) == [("MODIFIED", "a"), ("DELETED", "a")]


async def test_too_old_version_is_200_with_error_event(local_apiserver, http, ns):
    server = local_apiserver.server
    local_apiserver.call(lambda: setattr(server.store.hub, "compacted_rv", server.store.rv))
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=1")
    event = await stream.next()
    assert event is not None and event["type"] == "ERROR"
    assert event["object"]["kind"] == "Status"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    assert await stream.next() is None


async def test_bookmarks_carry_the_latest_version(http, ns):
    listed = await send(http, "GET", f"/api/v1/namespaces/{ns}/configmaps")
    rv = listed["metadata"]["resourceVersion"]
    stream = await open_watch(
        http, f"/api/v1/namespaces/{ns}/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
    )
    # The test server sends a bookmark after 2 s of silence.
    event = await stream.next(within=5)
    assert event is not None and event["type"] == "BOOKMARK"
    assert event["object"]["kind"] == "ConfigMap"
    assert int(event["object"]["metadata"]["resourceVersion"]) >= int(rv)


async def test_send_initial_events_ends_with_annotated_bookmark(http, ns):
    for name in ("a", "b"):
        await send(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": name}})
    stream = await open_watch(
        http,
        f"/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&resourceVersion=",
    )
    assert await stream.take(2) == [("ADDED", "a"), ("ADDED", "b")]
    bookmark = await stream.next()
    assert bookmark is not None and bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_objects_moving_across_a_selector_are_added_and_deleted(http, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    await send(http, "POST", base, {"metadata": {"name": "m", "labels": {"app": "db"}}})
    listed = await send(http, "GET", base)
    stream = await open_watch(
        http,
        f"{base}?watch=true&labelSelector=app%3Dweb&resourceVersion={listed['metadata']['resourceVersion']}",
    )
    await merge(http, f"{base}/m", {"metadata": {"labels": {"app": "web"}}})
    await merge(http, f"{base}/m", {"data": {"x": "1"}})
    await merge(http, f"{base}/m", {"metadata": {"labels": {"app": "db"}}})
    assert await stream.take(3) == [("ADDED", "m"), ("MODIFIED", "m"), ("DELETED", "m")]


async def test_timeout_seconds_ends_the_stream(http, ns):
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true&timeoutSeconds=1")
    assert await stream.next(within=5) is None


async def test_drop_watches_closes_open_streams(local_apiserver, http, ns):
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=0")
    async with http.post("/localcluster/v1/faults/drop-watches") as response:
        assert (await response.json())["dropped"] >= 1
    assert await stream.next() is None


async def test_watch_with_table_accept_sends_table_rows(http, ns):
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true", Accept=TABLE)
    await send(
        http, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "t"}, "data": {"a": "1"}}
    )
    event = await stream.next()
    assert event is not None and event["type"] == "ADDED"
    table = event["object"]
    assert table["kind"] == "Table"
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert table["rows"][0]["cells"][0] == "t"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_events_from_other_namespaces_and_kinds_are_not_delivered(http, ns):
    other = f"{ns}-o"
    await send(http, "POST", "/api/v1/namespaces", {"metadata": {"name": other}})
    stream = await open_watch(http, f"/api/v1/namespaces/{ns}/configmaps?watch=true")
    await send(http, "POST", f"/api/v1/namespaces/{other}/configmaps", {"metadata": {"name": "elsewhere"}})
    await send(http, "POST", f"/api/v1/namespaces/{ns}/secrets", {"metadata": {"name": "secret"}})
    await send(http, "POST", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "here"}})
    assert await stream.take(1) == [("ADDED", "here")]


async def test_compacted_history_expires_watches_from_older_versions(http, ns):
    base = f"/api/v1/namespaces/{ns}/configmaps"
    listed = await send(http, "GET", base)
    await send(http, "POST", base, {"metadata": {"name": "after-the-list"}})
    async with http.post("/localcluster/v1/faults/compact-history") as response:
        compacted = (await response.json())["compactedResourceVersion"]
    assert int(compacted) > int(listed["metadata"]["resourceVersion"])
    stale = await open_watch(
        http, f"{base}?watch=true&resourceVersion={listed['metadata']['resourceVersion']}"
    )
    event = await stale.next()
    assert event is not None and event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    # A watch from the compacted version itself still gets every later change.
    fresh = await open_watch(http, f"{base}?watch=true&resourceVersion={compacted}")
    await send(http, "POST", base, {"metadata": {"name": "after-the-compaction"}})
    assert await fresh.take(1) == [("ADDED", "after-the-compaction")]
