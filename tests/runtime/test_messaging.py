"""Service agents messaging each other over HTTP: cast, call with reply, call timeout, authentication."""

import http.server
import json
import queue
import threading
from collections.abc import Iterator

import httpx
import pytest

from agent_runtime.exitcodes import EXIT_OK


@pytest.fixture
def reply_sink() -> Iterator[tuple[str, "queue.Queue[dict]"]]:
    """Plays a caller outside the tree: records the messages (replies) posted to it."""
    received: queue.Queue[dict] = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put({"path": self.path, "auth": self.headers.get("Authorization"), **json.loads(body)})
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


MESSAGING = [{"name": "send_message"}, {"name": "ask_agent"}]


def test_two_agents_cast_and_call_each_other(
    model_server, runtimes, make_config, marker, reply_sink, wait_for
):
    sink_url, replies = reply_sink
    worker = runtimes(make_config("worker", model_server.url, f"[[scenario:worker]] {marker}"))
    coordinator = runtimes(
        make_config("coordinator", model_server.url, f"[[scenario:coordinator]] {marker}", tools=MESSAGING)
    )
    coordinator.config["peers"] = {"addresses": {"worker": worker.url, "tester": sink_url}}
    coordinator.write_config(coordinator.config)
    worker.config["peers"] = {"addresses": {"coordinator": coordinator.url}}
    worker.write_config(worker.config)
    worker.start()
    coordinator.start()
    worker.wait_ready()
    coordinator.wait_ready()

    accepted = coordinator.send("job-7", kind="call", replyTo="tester", id="call-1")
    assert accepted.status_code == 202

    reply = replies.get(timeout=20)
    assert reply["kind"] == "reply"
    assert reply["correlationId"] == "call-1"
    assert reply["from"] == "coordinator"
    assert reply["auth"] == "Bearer test-token"
    # Each hop prefixes the sender, so the reply shows the whole chain tester -> coordinator -> worker.
    chain = "worker did: [message from coordinator]\nplease handle [message from tester]\njob-7"
    assert reply["content"] == f"coordinator got: {chain}"
    wait_for(
        lambda: worker.status()["tasksCompleted"] == 2, what="the worker to handle the cast and the call"
    )
    assert coordinator.status()["tasksCompleted"] == 1
    steps = [entry["step"] for entry in model_server.requests(marker) if entry["scenario"] == "coordinator"]
    assert steps == [0, 1, 2]


def test_a_duplicate_message_is_not_processed_twice(model_server, runtimes, make_config, marker, wait_for):
    agent = (
        runtimes(make_config("dedup", model_server.url, f"[[scenario:echo]] {marker}")).start().wait_ready()
    )

    first = agent.send("hello", id="m-1")
    second = agent.send("hello", id="m-1")

    assert first.json() == {"id": "m-1", "duplicate": False}
    assert second.json() == {"id": "m-1", "duplicate": True}
    wait_for(lambda: agent.status()["tasksCompleted"] == 1, what="the message to be handled")
    assert agent.status()["stepsTotal"] == 1


def test_ask_agent_times_out_into_a_tool_error(model_server, runtimes, make_config, marker, reply_sink):
    sink_url, replies = reply_sink
    sleepy = runtimes(make_config("sleepy", model_server.url, f"[[scenario:hang]] {marker}"))
    asker = runtimes(
        make_config("impatient", model_server.url, f"[[scenario:impatient]] {marker}", tools=MESSAGING)
    )
    asker.config["peers"] = {"addresses": {"sleepy": sleepy.url, "tester": sink_url}}
    asker.write_config(asker.config)
    sleepy.start()
    asker.start()
    sleepy.wait_ready()
    asker.wait_ready()

    asker.send("go", kind="call", replyTo="tester")

    assert replies.get(timeout=15)["content"] == "impatient got: error: no reply from 'sleepy' within 1s"


def test_calling_an_unreachable_peer_is_a_tool_error(model_server, runtimes, make_config, marker, reply_sink):
    sink_url, replies = reply_sink
    asker = runtimes(
        make_config("impatient", model_server.url, f"[[scenario:impatient]] {marker}", tools=MESSAGING)
    )
    asker.config["peers"] = {"addresses": {"sleepy": "http://127.0.0.1:9", "tester": sink_url}}
    asker.write_config(asker.config)
    asker.start().wait_ready()

    asker.send("go", kind="call", replyTo="tester")

    assert "agent 'sleepy' unreachable" in replies.get(timeout=15)["content"]


def test_token_is_required_except_for_probes_and_metrics(model_server, runtimes, make_config, marker):
    agent = runtimes(make_config("guarded", model_server.url, marker)).start().wait_ready()
    message = {"from": "mallory", "content": "hi"}

    assert httpx.post(f"{agent.url}/v1/messages", json=message).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{agent.url}/v1/messages", json=message, headers=wrong).status_code == 401
    assert httpx.get(f"{agent.url}/v1/status").status_code == 401
    assert httpx.post(f"{agent.url}/v1/config/reload").status_code == 401
    assert httpx.post(
        f"{agent.url}/v1/messages", json=message, headers={"X-Agent-Token": "test-token"}
    ).is_success
    for open_path in ("/healthz", "/readyz", "/metrics", "/v1/summary"):
        assert httpx.get(agent.url + open_path).status_code == 200, open_path


def test_bad_message_bodies_name_the_field(model_server, runtimes, make_config, marker):
    agent = runtimes(make_config("strict", model_server.url, marker)).start().wait_ready()

    response = agent.post("/v1/messages", {"from": "x", "content": "y", "kind": "call"})

    assert response.status_code == 422
    assert "replyTo" in response.text


def test_status_metrics_and_events_report_steps(model_server, runtimes, make_config, marker, wait_for):
    agent = (
        runtimes(make_config("observed", model_server.url, f"[[scenario:echo]] {marker}"))
        .start()
        .wait_ready()
    )
    with httpx.stream("GET", f"{agent.url}/v1/events", headers=agent.headers(), timeout=10) as events:
        lines = events.iter_lines()
        assert next(lines) == ": subscribed"
        agent.send("ping")
        seen = []
        for line in lines:
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
            if "task_finished" in seen:
                break
    assert seen == ["message", "step", "task_finished"]
    status = agent.status()
    assert status["mode"] == "service"
    assert status["phase"] == "idle"
    assert status["stepsTotal"] == 1
    assert status["tokensIn"] > 0 and status["tokensOut"] > 0
    assert status["configRevision"] == "1"
    metrics = httpx.get(f"{agent.url}/metrics").text
    assert "agent_steps_total 1.0" in metrics
    assert 'agent_config_revision_info{agent="observed",revision="1"} 1.0' in metrics
    # The token-free summary (the Observer's) has the same counters and the task's id, not its text.
    summary = httpx.get(f"{agent.url}/v1/summary").json()
    assert {k: summary[k] for k in ("phase", "stepsTotal", "tokensIn", "tokensOut", "configRevision")} == {
        k: status[k] for k in ("phase", "stepsTotal", "tokensIn", "tokensOut", "configRevision")
    }
    task = status["currentTask"]
    assert summary["currentTask"] == (
        None if task is None else {"id": task["id"], "outcome": task["outcome"]}
    )
    assert "ping" not in json.dumps(summary)
    agent.signal(15)
    assert agent.wait_exit(10) == EXIT_OK
