"""The shipped MCP tool server (agent_runtime.mcp_tool_server) as a process, spoken to over raw HTTP.

It answers every request with one JSON body (streamable HTTP's JSON response mode), not an event stream: the
SDK's client closes an event stream as soon as the response event arrives, before the stream's end, so
each call on an SSE-answering server costs a new TCP connection (issue 13: the per-call overhead).
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import mcp_tool_server

ACCEPT = {"Accept": "application/json, text/event-stream"}
"""What the SDK's client sends: it takes either answer."""


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    with mcp_tool_server(tmp_path) as (host, port):
        yield f"http://{host}:{port}/mcp"


def _rpc(client: httpx.Client, url: str, body: dict[str, object], session: str | None) -> httpx.Response:
    headers = dict(ACCEPT)
    if session is not None:
        headers["mcp-session-id"] = session
    return client.post(url, json=body, headers=headers)


def test_the_tool_server_answers_calls_with_json_on_one_connection(server_url: str) -> None:
    with httpx.Client(timeout=10) as client:
        init = _rpc(
            client,
            server_url,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
            },
            None,
        )
        assert init.status_code == 200, init.text
        session = init.headers["mcp-session-id"]
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert _rpc(client, server_url, initialized, session).status_code == 202
        answers = [
            _rpc(
                client,
                server_url,
                {
                    "jsonrpc": "2.0",
                    "id": 2 + i,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": f"ping {i}"}},
                },
                session,
            )
            for i in range(3)
        ]
        for i, answer in enumerate(answers):
            assert answer.headers["content-type"].startswith("application/json"), answer.headers
            assert answer.json()["result"]["content"][0]["text"] == f"ping {i}"
        # A JSON body is read to its end, so the connection goes back to the pool and is used again.
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert len(pool.connections) == 1
