"""The runtime's MCP client against reference servers from PyPI that nobody here wrote.

Both speak stdio only; the runtime speaks HTTP only (a tool server is a supervised child with a Service, not
a process inside the agent's pod), so each is put behind the SDK's streamable HTTP server by a bridge.
"""

import contextlib
import http.server
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_runtime.mcp import McpToolset
from agent_runtime.mcp_config import McpServerConfig
from tests.runtime.mcp.servers import serving, stdio_bridge

BIN = Path(sys.executable).parent


# Context managers, not async fixtures: the SDK's anyio scopes must be left in the task that entered them.
@contextlib.asynccontextmanager
async def real_server(name: str, command: str, args: list[str]) -> AsyncIterator[McpToolset]:
    async with stdio_bridge(str(BIN / command), args) as app, serving(app) as url:
        toolset = McpToolset()
        toolset.update([McpServerConfig(name=name, url=url, max_result_bytes=4000)])
        try:
            await toolset.wait_started()
            yield toolset
        finally:
            await toolset.aclose()


def time_server() -> contextlib.AbstractAsyncContextManager[McpToolset]:
    return real_server("time", "mcp-server-time", ["--local-timezone", "UTC"])


@pytest.fixture
def page() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><h1>Local page</h1><p>The answer is 42.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/page"
    server.shutdown()


async def test_mcp_server_time_answers_through_the_runtime():
    async with time_server() as time_tools:
        await _converts(time_tools)


async def _converts(time_tools: McpToolset) -> None:
    assert {"time__get_current_time", "time__convert_time"} <= set(time_tools.names)
    result = await time_tools.call(
        "time__convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
    )
    assert not result.is_error, result.content
    assert "21:00" in result.content


async def test_mcp_server_time_errors_and_schema_are_tool_results():
    async with time_server() as time_tools:
        bad_zone = await time_tools.call("time__get_current_time", {"timezone": "Not/AZone"})
        missing = await time_tools.call("time__get_current_time", {})
    assert bad_zone.is_error
    assert "Not/AZone" in bad_zone.content
    assert missing.is_error
    assert "'timezone' is a required property" in missing.content


async def test_mcp_server_fetch_reads_a_local_page(page):
    args = ["--ignore-robots-txt", "--allow-private-ips"]
    async with real_server("web", "mcp-server-fetch", args) as fetch_tools:
        result = await fetch_tools.call("web__fetch", {"url": page})
    assert not result.is_error, result.content
    assert "The answer is 42." in result.content
