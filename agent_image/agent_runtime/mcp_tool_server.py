"""A small MCP tool server (the SDK's MCPServer over streamable HTTP at /mcp), for the mcp-tools example,
the end-to-end test and the benchmark.

    python -m agent_runtime.mcp_tool_server --host 0.0.0.0 --port 8000 [--max-request-bytes N]
        [--unavailable-while PATH]

`--unavailable-while PATH` answers every request with 503 while PATH exists: a server that is up (its port
open, so its readiness probe passes) but failing, for outage drills and the end-to-end test of MCP outages.

`slow` and `big` exist to exercise an agent's `timeoutSeconds` and `maxResultBytes` end to end. They are
harmless by construction: `slow` sleeps asynchronously (other calls go on) for at most SLOW_MAX_SECONDS, and
`big` returns at most BIG_MAX_BYTES, so no caller can make the server hang or hold much memory.
"""

import argparse
import asyncio
import os
from pathlib import Path

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.body_limit import BodyLimit

server = MCPServer("tools")
# Every tool is `async def`: the SDK runs a plain function in a worker thread, a hand-off per call that
# costs more than these tools' work.


@server.tool(description="Add two integers.")
async def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(description="Echo the text back.")
async def echo(text: str) -> str:
    return text


@server.tool(description="Which process answered: its pid (it changes when the server is restarted).")
async def whoami() -> str:
    return f"pid {os.getpid()}"


SLOW_MAX_SECONDS = 30.0
BIG_MAX_BYTES = 1024 * 1024


@server.tool(description=f"Wait `seconds` (at most {SLOW_MAX_SECONDS:g}), then answer.")
async def slow(seconds: float) -> str:
    waited = min(max(seconds, 0.0), SLOW_MAX_SECONDS)
    await asyncio.sleep(waited)
    return f"slept {waited:g}s"


@server.tool(description=f"Return `size` bytes (at most {BIG_MAX_BYTES}) of the digits 0-9, repeated.")
async def big(size: int) -> str:
    size = min(max(size, 0), BIG_MAX_BYTES)
    return ("0123456789" * (size // 10 + 1))[:size]


def _rpc_error(message: str) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}


class _UnavailableWhile:
    """503 to every HTTP request while the file exists; the app otherwise (lifespan always passes)."""

    def __init__(self, app: ASGIApp, path: Path) -> None:
        self._app = app
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._path.exists():
            await PlainTextResponse("unavailable", status_code=503)(scope, receive, send)
            return
        await self._app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("POD_IP", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=1024 * 1024,
        help="request bodies (JSON-RPC messages, held whole by the SDK) past this are refused with 413",
    )
    parser.add_argument("--unavailable-while", type=Path, help="answer 503 while this file exists")
    args = parser.parse_args()
    # Reached through a Service name or a pod IP, not localhost: the SDK's DNS-rebinding guard (a defence for
    # servers on a desktop, reached by browsers) would refuse those Host headers.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    # One JSON body per request, not an event stream: the SDK's client drops an event stream's connection
    # once the response event arrives, so each call on an SSE answer costs a new TCP connection (issue 13).
    # These tools send nothing to the client while they run, which is all that JSON mode gives up.
    app = server.streamable_http_app(transport_security=security, json_response=True)
    if args.max_request_bytes < 1:
        parser.error(f"--max-request-bytes must be at least 1, not {args.max_request_bytes}")
    # JSON-RPC's error shape, as the SDK answers other bad requests.
    capped: ASGIApp = BodyLimit(app, args.max_request_bytes, lambda message: _rpc_error(message))
    if args.unavailable_while is not None:
        capped = _UnavailableWhile(capped, args.unavailable_while)
    uvicorn.run(capped, host=args.host, port=args.port, log_level="warning", ws="none")


if __name__ == "__main__":
    main()
