"""The shipped MCP tool server (agent_runtime.mcp_tool_server) as a process, spoken to over raw HTTP.

It answers every request with one JSON body (streamable HTTP's JSON response mode), not an event stream: the
SDK's client closes an event stream as soon as the response event arrives, before the stream's end, so
each call on an SSE-answering server costs a new TCP connection (issue 13: the per-call overhead).
"""

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.polling import poll_until
from tests.runtime.conftest import free_address

ACCEPT = {"Accept": "application/json, text/event-stream"}
"""What the SDK's client sends: it takes either answer."""


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    host, port = free_address()
    with (tmp_path / "mcp.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime.mcp_tool_server", "--host", host, "--port", str(port)],
            stdout=log,
            stderr=log,
        )

    def listening() -> bool:
        assert process.poll() is None, "the MCP tool server exited"
        try:
            socket.create_connection((host, port), 1).close()
        except OSError:
            return False
        return True

    try:
        poll_until(listening, 15, "the MCP tool server to listen", 0.02)
        yield f"http://{host}:{port}/mcp"
    finally:
        process.kill()
        process.wait(10)


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
