"""MCP servers for the tests: one written here with the SDK's MCPServer (FastMCP in mcp 1.x), served over
streamable HTTP on loopback in the test's own event loop, and a bridge that puts a stdio-only server from
PyPI behind the same HTTP transport."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from mcp import ClientSession, types
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_server() -> MCPServer:
    """Tools that each exercise one rule of the client."""
    server = MCPServer("demo")

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> str:
        return str(a + b)

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Return `size` bytes of x.")
    def big(size: int) -> str:
        return "x" * size

    @server.tool(description="Wait `seconds`, then answer.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "slept"

    @server.tool(description="Always fails.")
    def broken() -> str:
        raise ToolError("the tool broke")

    @server.tool(description="Add the tool `extra` and tell the client the list changed.")
    async def grow(ctx: Context) -> str:
        def extra() -> str:
            return "extra here"

        server.add_tool(extra, description="Added by grow.")
        await ctx.session.send_tool_list_changed()
        return "grown"

    return server


class Failing:
    """An ASGI app that answers every HTTP request with `status` while `status` is set (a server that is up
    but failing, as behind a proxy whose backend is gone), and passes everything to `app` otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.status: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.status is not None and scope["type"] == "http":
            await PlainTextResponse("unavailable", status_code=self.status)(scope, receive, send)
            return
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 in this event loop; yields the MCP endpoint URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", ws="none")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def stdio_bridge(command: str, args: list[str]) -> AsyncIterator[Starlette]:
    """A stdio-only MCP server from PyPI behind streamable HTTP: every listing and call is passed through
    to one stdio session. (The runtime speaks HTTP only: a tool server is a supervised child with a
    Service, not a process inside the agent's pod.)"""
    params = StdioServerParameters(command=command, args=args)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as upstream:
        await upstream.initialize()

        async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
            return await upstream.list_tools()

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            return await upstream.call_tool(params.name, params.arguments or {})

        yield Server("bridge", on_list_tools=list_tools, on_call_tool=call_tool).streamable_http_app()


class SilentOnDelete:
    """An ASGI app that never answers a DELETE (the request that ends an MCP session) and passes everything
    else to `app`: a server, or a proxy before it, that hangs at the end of a session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.deletes = 0
        self.released = asyncio.Event()
        """Set it to answer the held DELETEs (the test's server cannot stop while one is held)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "DELETE":
            self.deletes += 1
            await self.released.wait()
        await self.app(scope, receive, send)
