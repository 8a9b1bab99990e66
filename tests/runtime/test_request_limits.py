"""Request bodies are capped on every server of the runtime, and a stranger's body is never read.

Each test streams a large body over a real socket to a real server process and asserts how much of it the
server took before it answered (the kernel's socket buffers hold a few MiB; a server that reads on takes it
all) and, for the agent, that its peak memory did not grow with the body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime import exitcodes
from tests.runtime.conftest import TOKEN, ModelServer, Runtime, mcp_tool_server
from tests.runtime.pod_harness import AUTH as CONTROL_AUTH
from tests.runtime.pod_harness import PodSupervisorProcess
from tests.runtime.streaming import MIB, peak_rss, stream_body

BODY = 128 * MIB
TAKEN_AT_MOST = 32 * MIB
"""Far less than BODY, far more than loopback socket buffers: a server that stops reading takes no more."""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def agent(tmp_path: Path, model_server: ModelServer, make_config: Any) -> Iterator[Runtime]:
    runtime = Runtime(tmp_path, make_config("capped", model_server.url, "capped"))
    yield runtime.start().wait_ready()
    runtime.kill()


def _pid(runtime: Runtime) -> int:
    assert runtime.process is not None
    return runtime.process.pid


def test_a_stranger_streaming_a_huge_message_is_refused_before_a_byte_is_kept(agent: Runtime) -> None:
    before = peak_rss(_pid(agent))
    streamed = stream_body(agent.host, agent.port, "/v1/messages", BODY)
    assert streamed.status == 401, streamed.response
    assert streamed.sent < TAKEN_AT_MOST, "the server read on after refusing the token"
    assert peak_rss(_pid(agent)) - before < 16 * MIB


def test_a_message_past_the_cap_is_cut_off_with_413_and_not_held(agent: Runtime) -> None:
    before = peak_rss(_pid(agent))
    streamed = stream_body(agent.host, agent.port, "/v1/messages", BODY, AUTH)
    assert streamed.status == 413, streamed.response
    assert b"request body larger than 1048576 bytes" in streamed.response
    assert streamed.sent < TAKEN_AT_MOST
    assert peak_rss(_pid(agent)) - before < 16 * MIB
    declared = stream_body(agent.host, agent.port, "/v1/messages", BODY, AUTH, chunked=False)
    assert declared.status == 413 and declared.sent < TAKEN_AT_MOST
    assert agent.send("still fine").status_code == 202, "the agent goes on serving"
    assert "connection" not in agent.get("/v1/status").headers, (
        "a request without a body keeps its connection"
    )


def test_the_agent_cap_is_set_by_agent_max_request_bytes(
    runtimes: Any, model_server: ModelServer, make_config: Any
) -> None:
    config = make_config("small", model_server.url, "small")
    runtime = runtimes(config, {"AGENT_MAX_REQUEST_BYTES": "400"}).start().wait_ready()
    assert runtime.send("short").status_code == 202
    refused = runtime.send("x" * 400)
    assert refused.status_code == 413
    assert refused.json() == {"detail": "request body larger than 400 bytes: send a smaller body"}


def test_a_bad_agent_max_request_bytes_is_a_config_error_naming_it(
    runtimes: Any, model_server: ModelServer, make_config: Any
) -> None:
    runtime = runtimes(make_config("bad", model_server.url, "bad"), {"AGENT_MAX_REQUEST_BYTES": "1MB"})
    assert runtime.start().wait_exit() == exitcodes.EXIT_CONFIG_INVALID
    assert "AGENT_MAX_REQUEST_BYTES='1MB'" in runtime.termination()["message"]


def test_the_pod_supervisor_refuses_a_stranger_without_reading_and_caps_the_rest(
    tmp_path: Path, model_server: ModelServer, make_config: Any
) -> None:
    pod = PodSupervisorProcess(tmp_path / "pod", make_config("pod", model_server.url, "pod"))
    try:
        pod.start()
        pod.wait_listening()
        stranger = stream_body(pod.host, pod.control_port, "/v1/incarnation", BODY)
        assert stranger.status == 401 and stranger.sent < TAKEN_AT_MOST
        streamed = stream_body(pod.host, pod.control_port, "/v1/incarnation/stop", BODY, CONTROL_AUTH)
        assert streamed.status == 413 and streamed.sent < TAKEN_AT_MOST
        too_big = pod.post("/v1/incarnation/stop", {"attempt": 1, "pad": "x" * 70_000})
        assert too_big.status_code == 413
        assert too_big.json() == {"message": "request body larger than 65536 bytes: send a smaller body"}
    finally:
        pod.kill()


def test_the_model_server_caps_a_chat_request(model_server: ModelServer) -> None:
    streamed = stream_body(model_server.host, model_server.port, "/v1/chat/completions", BODY)
    assert streamed.status == 413, streamed.response
    assert streamed.sent < 32 * MIB + TAKEN_AT_MOST, "its cap is 32 MiB: a conversation can be long"


def test_the_mcp_tool_server_caps_a_request(tmp_path: Path) -> None:
    with mcp_tool_server(tmp_path, "--max-request-bytes", "4096") as (host, port):
        streamed = stream_body(host, port, "/mcp", BODY, {"Accept": "application/json, text/event-stream"})
        assert streamed.status == 413, streamed.response
        assert streamed.sent < TAKEN_AT_MOST
        small = httpx.post(f"http://{host}:{port}/mcp", content=b"{}", headers={"Accept": "application/json"})
        assert small.status_code != 413, "a small request reaches the MCP server"
