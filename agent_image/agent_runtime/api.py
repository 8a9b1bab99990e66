"""The agent's HTTP API (FastAPI): health, status, inbox, reload, events and metrics."""

import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from agent_runtime.agent import Agent
from agent_runtime.config import ConfigError
from agent_runtime.events import EventBus
from agent_runtime.messages import AgentMessage
from agent_runtime.metrics import Metrics
from agent_runtime.peers import AGENT_TOKEN_HEADER
from agent_runtime.reload import ConfigReloader


def _token_check(expected: str | None) -> Any:
    # async: FastAPI would run a plain function in its thread pool, a needless hop on every request.
    async def check(
        authorization: Annotated[str | None, Header()] = None,
        x_agent_token: Annotated[str | None, Header(alias=AGENT_TOKEN_HEADER)] = None,
    ) -> None:
        offered = x_agent_token
        if authorization and authorization.lower().startswith("bearer "):
            offered = offered or authorization[7:].strip()
        if not expected or not offered or not hmac.compare_digest(offered.encode(), expected.encode()):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong token: send `Authorization: Bearer <AGENT_MESSAGE_TOKEN>`",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(check)


def create_app(
    agent: Agent, reloader: ConfigReloader, events: EventBus, metrics: Metrics, token: str | None
) -> FastAPI:
    app = FastAPI(title="agent-runtime", docs_url=None, redoc_url=None, openapi_url=None)
    authenticated = [_token_check(token)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ready = agent.ready
        return JSONResponse({"ready": ready, "phase": agent.phase}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/status", dependencies=authenticated)
    async def status() -> dict[str, Any]:
        return agent.status()

    @app.post("/v1/messages", status_code=202, dependencies=authenticated)
    async def messages(message: AgentMessage) -> dict[str, Any]:
        if not agent.ready:
            raise HTTPException(503, detail=f"agent is {agent.phase}; retry", headers={"Retry-After": "1"})
        accepted = await agent.accept(message)
        return {"id": message.id, "duplicate": not accepted}

    @app.post("/v1/config/reload", status_code=202, dependencies=authenticated)
    async def reload() -> dict[str, Any]:
        try:
            config = reloader.reload_now()
        except ConfigError as err:
            raise HTTPException(422, detail=str(err)) from None
        return {"pendingRevision": config.revision, "appliedRevision": agent.config.revision}

    @app.get("/v1/events", dependencies=authenticated)
    async def event_stream() -> StreamingResponse:
        return StreamingResponse(
            events.stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return app
