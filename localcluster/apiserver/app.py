"""The aiohttp application: routes, and the middleware that turns every error into a `kind: Status` body.

It receives the parts it routes to, not the ApiServer that owns them, so that the server can build it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from . import discovery
from .errors import REASONS, ApiError, internal, status_body
from .handlers import ResourceHandler
from .kinds import Registry
from .negotiation import error_response, json_response, wants_aggregated_discovery

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


def create_app(
    registry: Registry,
    resource_handler: ResourceHandler,
    *,
    address: Callable[[], str],
    middlewares: Iterable[Middleware] = (),
    routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The API server's HTTP application; run it with any aiohttp runner on the caller's loop.

    `registry` answers discovery and `resource_handler` every resource path. `address` gives the server's
    `host:port` for legacy /api discovery; it is called per request because the port is known only once the
    server listens. `middlewares` run inside the Status-error middleware, `routes` are added after the API's.
    """
    app = web.Application(middlewares=[status_errors, *middlewares], client_max_size=64 * 1024**2)

    async def version(_request: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def health(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def core(request: web.Request) -> web.Response:
        discovery_version = wants_aggregated_discovery(request)
        if discovery_version:
            body = discovery.aggregated(registry, core=True, discovery_version=discovery_version)
            return json_response(body, content_type=discovery.aggregated_content_type(discovery_version))
        return json_response(discovery.core_versions(address()))

    async def groups(request: web.Request) -> web.Response:
        discovery_version = wants_aggregated_discovery(request)
        if discovery_version:
            body = discovery.aggregated(registry, core=False, discovery_version=discovery_version)
            return json_response(body, content_type=discovery.aggregated_content_type(discovery_version))
        return json_response(discovery.group_list(registry))

    async def group(request: web.Request) -> web.Response:
        found = discovery.single_group(registry, request.match_info["group"])
        if found is None:
            raise ApiError(404, "the server could not find the requested resource")
        return json_response(found)

    async def core_resources(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail and not tail.startswith("/"):
            raise ApiError(404, "the server could not find the requested resource")
        return await resource_handler.handle(request, "", "v1", tail)

    async def group_resources(request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail and not tail.startswith("/"):
            raise ApiError(404, "the server could not find the requested resource")
        info = request.match_info
        return await resource_handler.handle(request, info["group"], info["version"], tail)

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
    app.router.add_routes(routes)
    return app
