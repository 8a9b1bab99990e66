"""The agent's HTTP API (Starlette): health, status, inbox, reload, events and metrics.

Starlette rather than FastAPI: FastAPI (built on Starlette) took about a third of a second to import and
another 60 ms to build these seven routes, close to half of the runtime's start-up, for features (OpenAPI,
dependency injection) this small API does not use. Bodies are validated with the same pydantic models, and the
error bodies keep FastAPI's shape (`{"detail": ...}`).
"""

import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_runtime import tracing
from agent_runtime.agent import Agent
from agent_runtime.body_limit import BodyLimit
from agent_runtime.config import ConfigError
from agent_runtime.events import EventBus
from agent_runtime.messages import AgentMessage
from agent_runtime.metrics import Metrics
from agent_runtime.peers import AGENT_TOKEN_HEADER
from agent_runtime.reload import ConfigReloader
from agent_runtime.token_window import Verdict

Endpoint = Callable[[Request], Awaitable[Response]]
DEFAULT_MAX_REQUEST_BYTES: Final = 1024 * 1024
"""A message's JSON is held in memory whole to be parsed: bodies past this are refused
(AGENT_MAX_REQUEST_BYTES changes it)."""
MAX_READY_WAIT_SECONDS: Final = 1.0
"""The longest `/readyz?wait=SECONDS` holds its answer while the agent starts."""


def _detail(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _authenticated(expected: str | None, endpoint: Endpoint) -> Endpoint:
    async def check(request: Request) -> Response:
        offered = request.headers.get(AGENT_TOKEN_HEADER)
        authorization = request.headers.get("authorization")
        if authorization and authorization.lower().startswith("bearer "):
            offered = offered or authorization[7:].strip()
        if not expected or not offered or not hmac.compare_digest(offered.encode(), expected.encode()):
            return _detail(
                401,
                "missing or wrong token: send `Authorization: Bearer <AGENT_MESSAGE_TOKEN>`",
                {"WWW-Authenticate": "Bearer"},
            )
        return await endpoint(request)

    return check


def _validation_errors(err: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as FastAPI reported them: located in the body, JSON-safe."""
    return [
        {"type": error["type"], "loc": ["body", *error["loc"]], "msg": error["msg"]}
        for error in err.errors(include_url=False, include_context=False, include_input=False)
    ]


def _over_budget(name: str, verdict: Verdict, now: float) -> JSONResponse:
    """429 for a message to an agent paused on its hourly token budget: what, how much, and when to retry."""
    assert verdict.frees_at is not None
    wait = verdict.retry_after(now)
    frees = datetime.fromtimestamp(verdict.frees_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    detail = (
        f"agent {name!r} is paused: its hourly token budget (budgets.maxTokensPerHour = {verdict.limit}) is "
        f"used up ({verdict.used} tokens in the last hour); it takes messages again at {frees} (in {wait}s)"
    )
    budget = {
        "name": "perHour",
        "limit": verdict.limit,
        "used": verdict.used,
        "freesAt": frees,
        "retryAfterSeconds": wait,
    }
    return JSONResponse(
        {"detail": detail, "budget": budget}, status_code=429, headers={"Retry-After": str(wait)}
    )


def create_app(
    agent: Agent,
    reloader: ConfigReloader,
    events: EventBus,
    metrics: Metrics,
    token: str | None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        # `?wait=SECONDS`: answer as soon as the start is over rather than at once. The pod supervisor asks
        # so (one probe, answered the moment the agent is ready) instead of polling /readyz while it starts.
        raw = request.query_params.get("wait")
        if raw is not None:
            try:
                wait = float(raw)
            except ValueError:
                wait = -1.0
            if not 0 <= wait <= MAX_READY_WAIT_SECONDS:
                return _detail(400, f"wait={raw!r}: expected seconds from 0 to {MAX_READY_WAIT_SECONDS:g}")
            await agent.wait_settled(wait)
        ready = agent.ready
        return JSONResponse({"ready": ready, "phase": agent.phase}, status_code=200 if ready else 503)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def status(request: Request) -> Response:
        return JSONResponse(agent.status())

    async def summary(request: Request) -> Response:
        return JSONResponse(agent.summary())

    async def messages(request: Request) -> Response:
        try:
            message = AgentMessage.model_validate(json.loads(await request.body()))
        except ValueError as err:  # pydantic's ValidationError is a ValueError, as is bad JSON
            if isinstance(err, ValidationError):
                return _detail(422, _validation_errors(err))
            invalid = {"type": "json_invalid", "loc": ["body"], "msg": f"JSON decode error: {err}"}
            return _detail(422, [invalid])
        carrier = {name: request.headers[name] for name in tracing.TRACE_HEADERS if name in request.headers}
        if carrier:
            message = message.model_copy(update={"trace_context": carrier})
        if not agent.ready:
            return _detail(503, f"agent is {agent.phase}; retry", {"Retry-After": "1"})
        refusal = agent.budget_refusal() if message.kind != "reply" else None
        if refusal is not None:
            # Replies still go in: they answer this agent's own calls. New work waits for the window.
            return _over_budget(agent.config.agent.name, refusal, agent.now())
        accepted = await agent.accept(message)
        return JSONResponse({"id": message.id, "duplicate": not accepted}, status_code=202)

    async def reload(request: Request) -> Response:
        try:
            config = reloader.reload_now()
        except ConfigError as err:
            return _detail(422, str(err))
        return JSONResponse(
            {"pendingRevision": config.revision, "appliedRevision": agent.config.revision}, status_code=202
        )

    async def event_stream(request: Request) -> Response:
        return StreamingResponse(
            events.stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    def guarded(endpoint: Endpoint) -> Endpoint:
        return _authenticated(token, endpoint)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", prometheus),
            Route("/v1/status", guarded(status)),
            # Counters and revisions only, like /metrics: the Observer reads it without the token.
            Route("/v1/summary", summary),
            Route("/v1/messages", guarded(messages), methods=["POST"]),
            Route("/v1/config/reload", guarded(reload), methods=["POST"]),
            Route("/v1/events", guarded(event_stream)),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=max_request_bytes, error_body=lambda m: {"detail": m})],
    )
