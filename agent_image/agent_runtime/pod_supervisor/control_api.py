"""The control API (incarnation_protocol's endpoints), on Starlette.

Starlette, like the agent's own API, rather than FastAPI: the pod supervisor loads it while the forkserver
preloads the runtime on the other core, and FastAPI's import alone would take longer than that. Starlette's
streaming response cancels a watch as soon as its client disconnects.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_runtime.body_limit import BodyLimit
from agent_runtime.incarnation_protocol import (
    CONTROL_TOKEN_HEADER,
    IncarnationState,
    ReleaseRequest,
    StartRequest,
    StopRequest,
    WatchLine,
)
from agent_runtime.pod_supervisor import auth
from agent_runtime.pod_supervisor.feed import FeedClosedError
from agent_runtime.pod_supervisor.supervisor import PodSupervisor, Reply

MAX_BODY_BYTES: Final = 64 * 1024
"""The protocol's requests are a few fields: nothing sent here needs more."""
Endpoint = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


class _BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _state_json(state: IncarnationState) -> dict[str, Any]:
    return state.model_dump(mode="json", by_alias=True)


def _reply(reply: Reply) -> JSONResponse:
    """The state, as the protocol says; a refusal adds `message` (the models ignore unknown keys)."""
    body = _state_json(reply.state)
    if reply.message and reply.status >= 400:
        body["message"] = reply.message
    return JSONResponse(body, status_code=reply.status)


def _line(line: WatchLine) -> str:
    return line.model_dump_json(by_alias=True) + "\n"


_HEARTBEAT: Final = WatchLine(type="heartbeat").model_dump_json(exclude_none=True) + "\n"


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


async def _parse(request: Request, model: type[M]) -> M:
    raw = await request.body()  # BodyLimit caps it
    try:
        document = json.loads(raw)
    except ValueError as err:
        raise _BadRequestError(422, f"body: not valid JSON ({err})") from None
    if not isinstance(document, dict):
        raise _BadRequestError(422, "body: expected a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as err:
        problems = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in err.errors(include_url=False))
        raise _BadRequestError(422, problems) from None


def create_app(supervisor: PodSupervisor, token_sha256: str | None, heartbeat_seconds: float) -> Starlette:
    def guarded(endpoint: Endpoint) -> Endpoint:
        async def check(request: Request) -> Response:
            refusal = auth.check(
                request.headers.get("authorization"),
                token_sha256,
                request.headers.get(CONTROL_TOKEN_HEADER),
            )
            if refusal is not None:
                headers = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else None
                return _message(refusal.status, refusal.message, headers)
            try:
                return await endpoint(request)
            except _BadRequestError as err:
                return _message(err.status, str(err))
            except ClientDisconnect:
                return Response(status_code=400)  # nobody is left to read it

        return check

    async def watch() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        feed = supervisor.feed
        with feed.subscribe() as subscription:  # before reading the current state: no change falls between
            yield _line(WatchLine(type="state", state=feed.current))
            # On a fixed schedule, not only after quiet spells: a watcher can count on one every period.
            due = loop.time() + heartbeat_seconds
            while True:
                try:
                    state = await subscription.next(max(0.0, due - loop.time()))
                except FeedClosedError:
                    return
                if state is not None:
                    yield _line(WatchLine(type="state", state=state))
                else:
                    yield _HEARTBEAT
                    due = max(due + heartbeat_seconds, loop.time())

    async def incarnation(request: Request) -> Response:
        if request.query_params.get("watch", "").lower() in ("true", "1"):
            return StreamingResponse(
                watch(), media_type="application/x-ndjson", headers={"Cache-Control": "no-cache"}
            )
        return JSONResponse(_state_json(supervisor.state()))

    async def start(request: Request) -> Response:
        wanted = await _parse(request, StartRequest)
        return _reply(supervisor.start(wanted.attempt, wanted.grace_seconds))

    async def stop(request: Request) -> Response:
        wanted = await _parse(request, StopRequest)
        return _reply(supervisor.stop(wanted.attempt, wanted.grace_seconds))

    async def release(request: Request) -> Response:
        wanted = await _parse(request, ReleaseRequest)
        return _reply(supervisor.release(wanted.attempt))

    async def healthz(request: Request) -> Response:
        healthy, why = await supervisor.healthy()
        return JSONResponse({"healthy": healthy, "message": why}, status_code=200 if healthy else 503)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/v1/incarnation", guarded(incarnation), methods=["GET"]),
            Route("/v1/incarnation", guarded(start), methods=["POST"]),
            Route("/v1/incarnation/stop", guarded(stop), methods=["POST"]),
            Route("/v1/incarnation/release", guarded(release), methods=["POST"]),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, error_body=lambda m: {"message": m})],
    )
