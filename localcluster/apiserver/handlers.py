"""HTTP handlers for resource paths under /api/v1 and /apis/{group}/{version}: CRUD on collections and
items, handing watches and the log, proxy and streaming subresources to their own parts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import discovery, presentation
from .errors import ApiError, method_not_allowed
from .kinds import Registry
from .logs import PodLogs
from .negotiation import json_response, read_body, wanted_representation
from .proxy import Proxy
from .request_options import delete_options, flag, list_options, write_options
from .resources import PATCH_TYPES, Resources
from .store import Store
from .streaming import STREAMING_SUBRESOURCES, PodStreams
from .target import Target, resolve
from .watchstream import WatchStreams


def respond(
    request: web.Request,
    target: Target,
    obj: dict[str, Any],
    status: int = 200,
    warnings: list[str] | None = None,
) -> web.Response:
    representation = wanted_representation(request)
    if representation == "Table":
        rendered = presentation.table(
            target.rtype, target.version, [obj], request.query.get("includeObject", "")
        )
        return json_response(rendered, status, warnings=warnings)
    if representation.startswith("PartialObjectMetadata"):
        return json_response(presentation.partial(obj), status, warnings=warnings)
    return json_response(obj, status, warnings=warnings)


def respond_list(request: web.Request, target: Target, listed: dict[str, Any]) -> web.Response:
    representation = wanted_representation(request)
    if representation == "Table":
        rendered = presentation.table(
            target.rtype,
            target.version,
            listed["items"],
            request.query.get("includeObject", ""),
            listed["metadata"],
        )
        return json_response(rendered)
    if representation.startswith("PartialObjectMetadata"):
        return json_response(presentation.partial_list(listed))
    return json_response(listed)


class ResourceHandler:
    """Serves every resource path: resolves it against the `registry`, then reads and writes through
    `resources` (and the `store`, only to tell whether a PATCH creates), or passes it to `watches`, `logs`,
    `proxy` or `streams`."""

    def __init__(
        self,
        registry: Registry,
        store: Store,
        resources: Resources,
        *,
        watches: WatchStreams,
        logs: PodLogs,
        proxy: Proxy,
        streams: PodStreams,
    ) -> None:
        self._registry = registry
        self._store = store
        self._resources = resources
        self._watches = watches
        self._logs = logs
        self._proxy = proxy
        self._streams = streams

    async def handle(self, request: web.Request, group: str, version: str, path: str) -> web.StreamResponse:
        segments = [s for s in path.split("/") if s]
        if not segments:
            listed = discovery.resource_list(self._registry, group, version)
            if listed is None:
                raise ApiError(404, "the server could not find the requested resource")
            return json_response(listed)
        target = resolve(self._registry, group, version, segments)
        if target.subresource == "log":
            return await self._logs.handle(request, target)
        if target.subresource == "proxy":
            return await self._proxy.handle(request, target)
        if target.subresource in STREAMING_SUBRESOURCES:
            return await self._streams.handle(request, target)
        if not target.name:
            return await self._collection(request, target)
        return await self._item(request, target)

    async def _collection(self, request: web.Request, target: Target) -> web.StreamResponse:
        resources = self._resources
        namespace = target.namespace if target.rtype.namespaced else ""
        if request.method == "GET":
            if flag(request, "watch"):
                return await self._watches.stream(request, target)
            return respond_list(
                request,
                target,
                resources.list(target.rtype, target.version, namespace, list_options(request)),
            )
        if request.method == "POST":
            if target.rtype.namespaced and target.namespace is None:
                raise method_not_allowed()
            body = await read_body(request)
            options = write_options(request)
            created = resources.create(target.rtype, target.version, namespace or "", body, options)
            return respond(request, target, created, 201, options.warnings)
        if request.method == "DELETE":
            deleted = resources.delete_collection(
                target.rtype, target.version, namespace, list_options(request), await delete_options(request)
            )
            return respond_list(request, target, deleted)
        raise method_not_allowed()

    async def _item(self, request: web.Request, target: Target) -> web.StreamResponse:
        resources = self._resources
        namespace = target.namespace or ""
        rtype, version, name, sub = target.rtype, target.version, target.name, target.subresource
        if request.method == "GET":
            return respond(request, target, resources.get(rtype, version, namespace, name))
        if request.method == "PUT":
            options = write_options(request)
            body = await read_body(request)
            updated = resources.update(rtype, version, namespace, name, body, sub, options)
            return respond(request, target, updated, warnings=options.warnings)
        if request.method == "PATCH":
            patch_type = request.content_type
            if patch_type not in PATCH_TYPES:
                raise ApiError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(PATCH_TYPES)}",
                    "UnsupportedMediaType",
                )
            options = write_options(request)
            body = await read_body(request)
            existed = self._store.get(rtype.key, namespace, name) is not None
            patched = resources.patch(rtype, version, namespace, name, patch_type, body, sub, options)
            return respond(request, target, patched, 200 if existed else 201, options.warnings)
        if request.method == "DELETE":
            if sub:
                raise method_not_allowed()
            deleted = resources.delete(rtype, version, namespace, name, await delete_options(request))
            return respond(request, target, deleted)
        raise method_not_allowed()
