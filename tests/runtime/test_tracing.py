"""OpenTelemetry traces of the agent loop: in memory in this process, and over OTLP/HTTP from runtimes."""

import gzip
import http.server
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agent_runtime import tracing
from agent_runtime.messages import AgentMessage
from agent_runtime.modelserver.scenarios import Scenario, ScriptedToolCall, Step
from agent_runtime.state import AgentState
from tests.runtime.conftest import TOKEN
from tests.runtime.inprocess import config, run_task

SECRET = "the-launch-code-is-4711"
SCENARIOS = {
    "traced": Scenario(
        steps=[
            Step(tool_calls=[ScriptedToolCall(name="no_such_tool", arguments={"q": SECRET})]),
            Step(tool_calls=[ScriptedToolCall(name="finish", arguments={"result": f"answer {SECRET}"})]),
        ]
    )
}


@pytest.fixture
def recorded() -> Iterator[Callable[[bool], InMemorySpanExporter]]:
    """Turns tracing on in this process with an in-memory exporter (content capture as asked)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def start(capture_content: bool) -> InMemorySpanExporter:
        tracing.use(provider, capture_content=capture_content)
        return exporter

    yield start
    tracing.shutdown()


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        span for span in spans if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


async def test_a_task_is_a_tree_of_steps_model_calls_and_tool_calls(recorded) -> None:
    exporter = recorded(False)
    run = await run_task(SCENARIOS, config("traced", task=SECRET, tools=[{"name": "finish"}]))
    assert run.exit.result == f"answer {SECRET}"

    spans = list(exporter.get_finished_spans())
    (task,) = [span for span in spans if span.parent is None]
    assert task.name == "invoke_agent a"
    assert task.attributes is not None and task.attributes["agent.task.outcome"] == "finished"
    steps = _children(spans, task)
    assert [(span.name, span.attributes["agent.step"]) for span in steps] == [("step", 0), ("step", 1)]
    tools_run = []
    tokens_in = tokens_out = 0
    for step in steps:
        chat, tool = sorted(_children(spans, step), key=lambda span: span.start_time or 0)
        attributes = dict(chat.attributes or {})
        assert chat.name == "chat scripted"
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "scripted"
        assert attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)
        tokens_in += attributes["gen_ai.usage.input_tokens"]
        tokens_out += attributes["gen_ai.usage.output_tokens"]
        assert tool.attributes is not None and tool.attributes["gen_ai.operation.name"] == "execute_tool"
        tools_run.append((tool.name, tool.attributes["gen_ai.tool.name"], tool.status.status_code))
    assert (tokens_in, tokens_out) == (run.agent.state.tokens_in_total, run.agent.state.tokens_out_total)
    assert tools_run == [
        ("execute_tool no_such_tool", "no_such_tool", StatusCode.ERROR),
        ("execute_tool finish", "finish", StatusCode.UNSET),
    ]
    # No prompt, completion, tool argument or result is recorded unless asked for.
    values = [str(value) for span in spans for value in (span.attributes or {}).values()]
    assert not [value for value in values if SECRET in value]


async def test_contents_are_recorded_only_when_opted_in(recorded) -> None:
    exporter = recorded(True)
    await run_task(SCENARIOS, config("traced", task=SECRET, tools=[{"name": "finish"}]))

    spans = exporter.get_finished_spans()
    chats = [dict(span.attributes or {}) for span in spans if span.name == "chat scripted"]
    assert SECRET in chats[0]["gen_ai.input.messages"]
    assert f"answer {SECRET}" in chats[1]["gen_ai.output.messages"]
    (finish,) = [dict(span.attributes or {}) for span in spans if span.name == "execute_tool finish"]
    assert json.loads(finish["gen_ai.tool.call.arguments"]) == {"result": f"answer {SECRET}"}
    assert finish["gen_ai.tool.call.result"] == "task finished"


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, False),
    ],
)
def test_traces_are_on_only_when_the_environment_asks(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.requested(environ) is wanted


def test_the_runtime_does_not_import_opentelemetry_while_tracing_is_off() -> None:
    # Importing it costs several times the runtime's warm start; the no-op path must stay free.
    probe = (
        "import sys, agent_runtime.runner, agent_runtime.api\n"
        "from agent_runtime import tracing\n"
        "assert tracing.inject() == {} and tracing.start_task('t', 'a', {'traceparent': 'x'}) is None\n"
        "with tracing.step(None, 0), tracing.model_call('m', [], 1), tracing.tool_call('t', 'i', '{}'):\n"
        "    pass\n"
        "print(sorted(name for name in sys.modules if name.startswith('opentelemetry')))\n"
    )
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_trace_context_is_kept_in_the_checkpoint_but_never_sent_in_the_body() -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    message = AgentMessage(sender="coordinator", content="hi", trace_context=carrier)
    assert "traceContext" not in message.wire() and "trace_context" not in message.wire()
    state = AgentState.model_validate_json(AgentState(agent="a", inbox=[message]).model_dump_json())
    assert state.inbox[0].trace_context == carrier


# ----- real runtimes exporting to a real OTLP/HTTP receiver -------------------------------------------


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, "queue.Queue[ExportTraceServiceRequest]"]]:
    """An OTLP/HTTP trace receiver: decodes each POST /v1/traces (protobuf) into the queue."""
    received: queue.Queue[ExportTraceServiceRequest] = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf"
            if ok:
                received.put(ExportTraceServiceRequest.FromString(body))
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def _exported(received: "queue.Queue[ExportTraceServiceRequest]", into: list[dict[str, Any]]) -> None:
    """Drain the receiver into flat span records: service, name, ids and attributes."""
    while not received.empty():
        request = received.get_nowait()
        for resource_spans in request.resource_spans:
            resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    into.append(
                        {
                            "service": resource["service.name"],
                            "name": span.name,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "attributes": {kv.key: kv.value for kv in span.attributes},
                        }
                    )


def test_ask_agent_and_its_handling_are_one_trace_exported_over_otlp(
    model_server, runtimes, make_config, marker, otlp_receiver, wait_for
) -> None:
    endpoint, received = otlp_receiver
    # Export each batch at once instead of every five seconds.
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "20"}
    worker = runtimes(make_config("worker", model_server.url, f"[[scenario:worker]] {marker}"), env)
    tools = [{"name": "send_message"}, {"name": "ask_agent"}]
    coordinator_config = make_config(
        "coordinator", model_server.url, f"[[scenario:coordinator]] {marker}", tools=tools
    )
    coordinator_config["peers"] = {"addresses": {"worker": worker.url}}
    coordinator = runtimes(coordinator_config, env)
    worker.config["peers"] = {"addresses": {"coordinator": coordinator.url}}  # where its reply goes
    worker.write_config(worker.config)
    worker.start()
    coordinator.start()
    worker.wait_ready()
    coordinator.wait_ready()

    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{trace_id}-{caller_span}-01"}
    body = {"from": "tester", "content": "job-7", "kind": "cast"}
    assert (
        httpx.post(f"{coordinator.url}/v1/messages", json=body, headers=headers, timeout=10).status_code
        == 202
    )

    spans: list[dict[str, Any]] = []

    def tasks_exported() -> bool:
        _exported(received, spans)
        tasks = [span for span in spans if span["name"].startswith("invoke_agent")]
        return len(tasks) == 3  # the coordinator's, and the worker's for the cast and for the call

    wait_for(tasks_exported, timeout=20, what="the three task spans to be exported")
    assert {span["trace"] for span in spans} == {trace_id}
    by_id = {span["id"]: span for span in spans}
    (coordinator_task,) = [span for span in spans if span["name"] == "invoke_agent coordinator"]
    assert coordinator_task["parent"] == caller_span
    for tool in ("send_message", "ask_agent"):
        (call,) = [span for span in spans if span["name"] == f"execute_tool {tool}"]
        (handled,) = [span for span in spans if span["parent"] == call["id"]]
        assert (handled["service"], handled["name"]) == ("worker", "invoke_agent worker")
        # The tool call hangs under the coordinator's step, under its task.
        step = by_id[call["parent"]]
        assert (step["name"], by_id[step["parent"]]["id"]) == ("step", coordinator_task["id"])
    chats = [span for span in spans if span["name"] == "chat scripted"]
    assert {span["service"] for span in chats} == {"coordinator", "worker"}
    assert all(span["attributes"]["gen_ai.usage.output_tokens"].int_value > 0 for span in chats)
