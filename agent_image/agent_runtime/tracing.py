"""OpenTelemetry traces of the agent loop: a span per task, step, model call and tool call.

Off unless the standard OpenTelemetry variables ask for an exporter (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER`). While off nothing here imports OpenTelemetry:
its API alone takes about 140 ms to import and the SDK with the OTLP exporter about 320 ms, several times the
runtime's whole warm start, so every function below is a cheap no-op until `configure_from_env` or `use` ran.

Model-call spans follow the GenAI semantic conventions. Prompts, completions, tool arguments and tool results
are recorded only when `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true` (the conventional switch):
they may hold whatever the agent reads, secrets included.

Trace context crosses agent-to-agent messages as the W3C `traceparent`/`tracestate` headers; the receiver
keeps them on the inbox message (they outlive a restart in the checkpoint) and parents the task that answers
the message on them, so an `ask_agent` and its handling by the peer are one trace.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from agent_runtime.model.types import Completion

TRACE_HEADERS: Final = ("traceparent", "tracestate")
"""The W3C Trace Context headers carried on agent-to-agent messages."""
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_EXPORTER_ENVS: Final = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)
_INSTRUMENTATION: Final = "agent_runtime"


class _State:
    tracer: Tracer | None = None
    provider: TracerProvider | None = None
    capture_content = False


_state = _State()


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (the SDK's own switches respected: disabled, exporter none)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return any(environ.get(name, "").strip() for name in _EXPORTER_ENVS)


def capture_content_requested(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"


def enabled() -> bool:
    return _state.tracer is not None


def configure_from_env(service_name: str, namespace: str) -> bool:
    """Set up export when the environment asks for it; True when traces are now recorded.

    The OTLP/HTTP exporter reads its endpoint, headers and timeout from the standard variables itself.
    `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` win over the agent's name and namespace.
    """
    if not requested():
        return False
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    # Resource.create lets its argument win over the environment: the variables are merged in here instead.
    defaults = {"service.name": service_name, "k8s.namespace.name": namespace}
    resource = Resource.create({**defaults, **OTELResourceDetector().detect().attributes})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use(provider)
    return True


def use(provider: TracerProvider, capture_content: bool | None = None) -> None:
    """Record spans with `provider` (tests pass one with an in-memory exporter)."""
    _state.provider = provider
    _state.tracer = provider.get_tracer(_INSTRUMENTATION)
    _state.capture_content = capture_content_requested() if capture_content is None else capture_content


def shutdown() -> None:
    """Export what is buffered (bounded by the exporter's timeout) and stop recording."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


# ----- spans --------------------------------------------------------------------------------------


def start_task(task_id: str, agent: str, carrier: Mapping[str, str] | None) -> Span | None:
    """The span of one task, parented on the trace context its message carried (if any); end it with
    `end_task`. It is not made current: steps name it as their parent (a task outlives many awaits)."""
    tracer = _state.tracer
    if tracer is None:
        return None
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(dict(carrier)) if carrier else None
    kind = SpanKind.SERVER if carrier else SpanKind.INTERNAL
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "agent.task.id": task_id,
    }
    return tracer.start_span(f"invoke_agent {agent}", context=parent, kind=kind, attributes=attributes)


def end_task(span: Span | None, outcome: str | None) -> None:
    if span is None:
        return
    from opentelemetry.trace import StatusCode

    span.set_attribute("agent.task.outcome", outcome or "unfinished")
    if outcome not in (None, "finished"):
        span.set_status(StatusCode.ERROR, outcome)
    span.end()


@contextlib.contextmanager
def step(task: Span | None, number: int) -> Iterator[None]:
    """One step of a task, current while it runs so its model and tool calls nest under it."""
    tracer = _state.tracer
    if tracer is None:
        yield
        return
    from opentelemetry.trace import set_span_in_context

    context = set_span_in_context(task) if task is not None else None
    # One name for every step (the number is an attribute): span names are meant to be low-cardinality.
    with tracer.start_as_current_span("step", context=context, attributes={"agent.step": number}):
        yield


@contextlib.contextmanager
def model_call(model: str, messages: list[dict[str, Any]], max_tokens: int | None) -> Iterator[Span | None]:
    """One chat completion (GenAI `chat` span); pass the span and the completion to `model_answered`."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    if max_tokens is not None:
        attributes["gen_ai.request.max_tokens"] = max_tokens
    if _state.capture_content:
        attributes["gen_ai.input.messages"] = json.dumps(messages)
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def model_answered(span: Span | None, completion: Completion) -> None:
    if span is None:
        return
    span.set_attribute("gen_ai.usage.input_tokens", completion.usage.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", completion.usage.completion_tokens)
    if completion.finish_reason is not None:
        span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
    if _state.capture_content:
        span.set_attribute("gen_ai.output.messages", json.dumps([completion.assistant_message()]))


@contextlib.contextmanager
def tool_call(name: str, call_id: str, arguments: str) -> Iterator[Span | None]:
    """One tool call, built-in or MCP (GenAI `execute_tool` span); pass its result to `tool_returned`."""
    tracer = _state.tracer
    if tracer is None:
        yield None
        return
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
    }
    if _state.capture_content:
        attributes["gen_ai.tool.call.arguments"] = arguments
    with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
        yield span


def tool_returned(span: Span | None, content: str, is_error: bool) -> None:
    if span is None:
        return
    if is_error:
        from opentelemetry.trace import StatusCode

        span.set_attribute("error.type", "tool_error")
        span.set_status(StatusCode.ERROR)
    if _state.capture_content:
        span.set_attribute("gen_ai.tool.call.result", content)


def inject() -> dict[str, str]:
    """The current trace context as W3C headers for an outgoing message ({} while off)."""
    if _state.tracer is None:
        return {}
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier
