"""The runtime's MCP client against a server written here with the SDK, on loopback streamable HTTP."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from agent_runtime.mcp import McpToolset
from agent_runtime.mcp import connection as connection_module
from agent_runtime.mcp_config import McpServerConfig
from tests.runtime.mcp.servers import SilentOnDelete, demo_server, free_port, serving


def server(url: str, **extra: object) -> McpServerConfig:
    return McpServerConfig.model_validate({"name": "demo", "url": url, **extra})


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with serving(demo_server().streamable_http_app()) as endpoint:
        yield endpoint


@pytest.fixture
async def toolset() -> AsyncIterator[McpToolset]:
    tools = McpToolset()
    yield tools
    await tools.aclose()


async def started(toolset: McpToolset, *servers: McpServerConfig) -> McpToolset:
    toolset.update(list(servers))
    await toolset.wait_started()
    return toolset


async def test_tools_are_offered_as_server__tool_with_the_servers_schema(url, toolset):
    await started(toolset, server(url))
    by_name = {entry["function"]["name"]: entry["function"] for entry in toolset.schemas()}
    assert {"demo__add", "demo__echo", "demo__big", "demo__slow", "demo__broken", "demo__grow"} <= set(
        by_name
    )
    add = by_name["demo__add"]
    assert add["description"] == "Add two integers."
    assert add["parameters"]["properties"]["a"]["type"] == "integer"
    assert set(add["parameters"]["required"]) == {"a", "b"}


async def test_a_call_returns_the_servers_result(url, toolset):
    await started(toolset, server(url))
    result = await toolset.call("demo__add", {"a": 2, "b": 40})
    assert (result.content, result.is_error) == ("42", False)


async def test_arguments_are_validated_against_the_schema_before_the_call(url, toolset):
    await started(toolset, server(url))
    result = await toolset.call("demo__add", {"a": "two"})
    assert result.is_error
    assert "bad arguments for demo__add" in result.content
    assert "'b' is a required property" in result.content
    assert "a: 'two' is not of type 'integer'" in result.content


async def test_a_tool_error_is_a_result_the_model_sees(url, toolset):
    await started(toolset, server(url))
    result = await toolset.call("demo__broken", {})
    assert result.is_error
    assert "the tool broke" in result.content


async def test_allowed_tools_hides_and_refuses_the_others(url, toolset):
    await started(toolset, server(url, allowedTools=["echo"]))
    assert [entry["function"]["name"] for entry in toolset.schemas()] == ["demo__echo"]
    refused = await toolset.call("demo__add", {"a": 1, "b": 2})
    assert refused.is_error
    assert "'add' of MCP server 'demo' is not allowed; allowed: echo" in refused.content
    assert (await toolset.call("demo__echo", {"text": "hi"})).content == "hi"


async def test_a_call_past_timeout_seconds_is_a_tool_error_and_the_session_goes_on(url, toolset):
    await started(toolset, server(url, timeoutSeconds=0.2))
    result = await toolset.call("demo__slow", {"seconds": 30})
    assert result.is_error
    assert "did not answer within 0.2s (timeoutSeconds)" in result.content
    assert (await toolset.call("demo__echo", {"text": "still here"})).content == "still here"


async def test_a_server_that_never_ends_the_session_does_not_hold_the_agents_exit(monkeypatch):
    """The session's DELETE runs as the connection closes, past the cancellation that closes it: a server
    (or proxy) that never answers it must not keep a finished agent from exiting (its HTTP server is already
    down then, so its liveness probe would fail and the kubelet's SIGTERM would turn its success into a
    crash)."""
    monkeypatch.setattr(connection_module, "CLOSE_TIMEOUT_SECONDS", 0.2, raising=False)
    app = SilentOnDelete(demo_server().streamable_http_app())
    async with serving(app) as endpoint:
        tools = await started(McpToolset(), server(endpoint))
        assert (await tools.call("demo__echo", {"text": "hi"})).content == "hi"
        try:
            await asyncio.wait_for(tools.aclose(), 30)
        finally:
            app.released.set()
        assert app.deletes == 1, "the session was ended the polite way first"


async def test_a_result_over_max_result_bytes_is_cut(url, toolset):
    await started(toolset, server(url, maxResultBytes=100))
    result = await toolset.call("demo__big", {"size": 5000})
    assert not result.is_error
    assert result.content.startswith("x" * 100 + "\n[truncated at 100 bytes of 5000]")
    assert result.content.count("x") == 100


async def test_tools_list_changed_is_picked_up(url, toolset):
    await started(toolset, server(url))
    assert "demo__extra" not in toolset.names
    assert (await toolset.call("demo__grow", {})).content == "grown"
    for _ in range(500):  # the listing after the notification runs on the connection's own task
        if "demo__extra" in toolset.names:
            break
        await asyncio.sleep(0.01)
    assert (await toolset.call("demo__extra", {})).content == "extra here"


async def test_a_server_that_starts_late_is_waited_for_then_used(toolset):
    port = free_port()
    toolset.update([server(f"http://127.0.0.1:{port}/mcp")])
    waiting = asyncio.create_task(toolset.wait_started())
    for _ in range(500):  # it has tried and failed at least once before the server exists
        if toolset.status()["demo"]["lastError"]:
            break
        await asyncio.sleep(0.01)
    assert not waiting.done()
    early = await toolset.call("demo__echo", {"text": "x"})
    assert early.is_error and "not available yet" in early.content
    async with serving(demo_server().streamable_http_app(), port):
        await waiting
        assert toolset.status()["demo"]["connected"]
        assert (await toolset.call("demo__echo", {"text": "late but here"})).content == "late but here"


async def test_a_server_that_never_comes_is_given_up_on_at_start_only(toolset):
    port = free_port()
    toolset.update([server(f"http://127.0.0.1:{port}/mcp", startWaitSeconds=0.3)])
    await toolset.wait_started()  # returns: the agent works without the server's tools
    assert toolset.schemas() == []
    async with serving(demo_server().streamable_http_app(), port):
        for _ in range(2000):  # still reconnecting: the tools appear once the server answers
            if "demo__echo" in toolset.names:
                break
            await asyncio.sleep(0.01)
        assert (await toolset.call("demo__echo", {"text": "found"})).content == "found"


async def test_a_restarted_server_is_reconnected(toolset):
    port = free_port()
    async with serving(demo_server().streamable_http_app(), port) as endpoint:
        await started(toolset, server(endpoint))
        assert (await toolset.call("demo__echo", {"text": "one"})).content == "one"
    lost = await toolset.call("demo__echo", {"text": "gone"})
    assert lost.is_error and "unavailable" in lost.content
    async with serving(demo_server().streamable_http_app(), port):
        for _ in range(2000):
            result = await toolset.call("demo__echo", {"text": "two"})
            if not result.is_error:
                break
            await asyncio.sleep(0.01)
        assert result.content == "two"


async def test_config_changes_keep_unchanged_sessions_and_apply_the_rest(url, toolset):
    await started(toolset, server(url))
    toolset.update([server(url, allowedTools=["add"])])
    await toolset.wait_started()
    assert toolset.names == ["demo__add"]
    toolset.update([])
    assert toolset.names == []
    assert json.dumps(toolset.status()) == "{}"
