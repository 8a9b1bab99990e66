"""The aiohttp application: routes, and the middleware that turns every error into a `kind: Status` body."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from . import discovery
from .errors import REASONS, ApiError, internal, status_body
from .handlers import handle_resource
from .negotiation import error_response, json_response, wants_aggregated_discovery

if TYPE_CHECKING:
    from .server import ApiServer

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = (
            "the server could not find the requested resource"
            if exc.status == 404
            else "the server does not allow this method on the requested resource"
            if exc.status == 405
            else exc.reason
        )
        return json_response(
            status_body(exc.status, message, REASONS.get(exc.status, "Unknown")), status=exc.status
        )
    except (ConnectionResetError, TimeoutError):
        raise
    except Exception as exc:
        log.exception("unhandled error on %s %s", request.method, request.path_qs)
        return error_response(internal(f"{type(exc).__name__}: {exc}"))


def create_app(server: ApiServer) -> web.Application:
    """The API server's HTTP application; run it with any aiohttp runner on the caller's loop."""
    app = web.Application(middlewares=[status_errors, server.faults.middleware], client_max_size=64 * 1024**2)

    async def version(_request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def core(request: web.Request) -> web.Response:
        discovery_version = wants_aggregated_discovery(request)
        if discovery_version:
            body = discovery.aggregated(server.registry, core=True, discovery_version=discovery_version)
            return json_response(body, content_type=discovery.aggregated_content_type(discovery_version))
        return json_response(discovery.core_versions(f"{server.host}:{server.port}"))

    async def groups(request: web.Request) -> web.Response:
        discovery_version = wants_aggregated_discovery(request)
        if discovery_version:
            body = discovery.aggregated(server.registry, core=False, discovery_version=discovery_version)
            return json_response(body, content_type=discovery.aggregated_content_type(discovery_version))
        return json_response(discovery.group_list(server.registry))

    async def group(request: web.Request) -> web.Response:
        found = discovery.single_group(server.registry, request.match_info["group"])
        if found is None:
            raise ApiError(404, "the server could not find the requested resource")
        return json_response(found)

    async def core_resources(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail and not tail.startswith("/"):
            raise ApiError(404, "the server could not find the requested resource")
        return await handle_resource(server, request, "", "v1", tail)

    async def group_resources(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail and not tail.startswith("/"):
            raise ApiError(404, "the server could not find the requested resource")
        info = request.match_info
        return await handle_resource(server, request, info["group"], info["version"], tail)

    app.router.add_get("/version", version)
    for path in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(path, health)
    app.router.add_get("/api", core)
    app.router.add_get("/api/", core)
    app.router.add_get("/apis", groups)
    app.router.add_get("/apis/", groups)
    app.router.add_get("/apis/{group}", group)
    app.router.add_route("*", "/api/v1{tail:.*}", core_resources)
    app.router.add_route("*", "/apis/{group}/{version}{tail:.*}", group_resources)
    app.router.add_routes(server.openapi.routes())
    app.router.add_routes(server.faults.routes())
    app.router.add_routes(server.extra_routes)
    return app
