"""MCP benchmark (`make bench`): prints a table; asserts correctness only, never timing.

- MCP tool-call overhead on loopback: the runtime's registry dispatching one model tool call to an MCP
  server in another process and handing back the text the model sees (schema check, one POST on the kept
  session, result formatting), p50/p99 over 500 calls, goal p50 <= 5 ms;
- an agent with three MCP servers: process start to /readyz OK (Ready does not wait for MCP servers), and to
  all three servers' tools listed (what the first step waits for).
"""

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_runtime.mcp import McpToolset
from agent_runtime.mcp_config import McpServerConfig
from agent_runtime.model import ToolCall
from agent_runtime.tools import ToolContext
from agent_runtime.tools.registry import ToolRegistry
from benchmarks.reporting import ResultTable, p50_p99, print_when_done
from benchmarks.test_bench_runtime import Runtime, base_config, model_url, ok, poll  # noqa: F401
from tests.runtime.conftest import free_address

SERVER = "agent_runtime.mcp_tool_server"
CALLS = 500
RESULTS = ResultTable(third_column="goal", value_width=16)


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield from print_when_done(RESULTS, "MCP benchmark", "loopback, one server process per MCP server")


def tool_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    host, port = free_address()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER, "--host", host, "--port", str(port)], stdout=out, stderr=out
        )
    poll(lambda: _listening(host, port))
    return process, f"http://{host}:{port}/mcp"


def _listening(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


async def _overhead(url: str) -> list[float]:
    toolset = McpToolset()
    toolset.update([McpServerConfig(name="tools", url=url)])
    await toolset.wait_started()
    registry = ToolRegistry({}, toolset)
    context = ToolContext("bench", "t", 0, 0)
    samples = []
    try:
        for index in range(CALLS + 20):
            call = ToolCall(id=f"c{index}", name="tools__echo", arguments='{"text": "ping"}')
            started = time.perf_counter()
            result = await registry.call(call, context)
            elapsed = time.perf_counter() - started
            assert result.content == "ping", result.content
            if index >= 20:  # warm-up: first connections, first schema compile
                samples.append(elapsed)
    finally:
        await toolset.aclose()
    return samples


def test_mcp_tool_call_overhead_on_loopback(tmp_path: Path) -> None:
    process, url = tool_server(tmp_path / "server.log")
    try:
        samples = asyncio.run(_overhead(url))
    finally:
        process.terminate()
        process.wait(10)
    RESULTS.record(f"MCP tool call, p50 / p99 ({CALLS} calls)", p50_p99(samples), "p50 <= 5 ms")


SERVER_TOOLS = 5
"""What agent_runtime.mcp_tool_server lists: add, echo, whoami, slow and big."""


def test_agent_with_three_mcp_servers_start_to_ready(model_url: str, tmp_path: Path) -> None:  # noqa: F811
    servers = [tool_server(tmp_path / f"server{i}.log") for i in range(3)]
    ready, listed = [], []
    try:
        mcp = [{"name": f"s{i}", "url": url} for i, (_, url) in enumerate(servers)]
        for run in range(3):
            agent = Runtime(tmp_path / f"r{run}", base_config("mcp", model_url, mcpServers=mcp))
            started = time.perf_counter()
            ready.append(agent.start())

            def all_listed(agent: Runtime = agent) -> bool:
                status = agent.get("/v1/status").json()["mcpServers"]
                return len(status) == 3 and all(
                    s["connected"] and s["tools"] == SERVER_TOOLS for s in status.values()
                )

            poll(all_listed)
            listed.append(time.perf_counter() - started)
            agent.stop()
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(10)
    RESULTS.record("3 MCP servers: start to /readyz (median of 3)", f"{sorted(ready)[1] * 1000:.0f} ms", "")
    RESULTS.record("3 MCP servers: start to tools listed (median)", f"{sorted(listed)[1] * 1000:.0f} ms", "")
