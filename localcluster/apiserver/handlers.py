"""HTTP handlers for resource paths under /api/v1 and /apis/{group}/{version}."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import discovery, presentation
from .errors import ApiError, bad_request, method_not_allowed
from .kinds import ResourceType
from .negotiation import json_response, read_body, wanted_representation
from .resources import APPLY_PATCH, PATCH_TYPES, DeleteOptions, ListOptions, WriteOptions

if TYPE_CHECKING:
    from .server import ApiServer


@dataclass(frozen=True)
class Target:
    """What a resource path names."""

    rtype: ResourceType
    version: str
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str = ""
    subresource: str = ""
    rest: str = ""  # the path after `proxy/`


def resolve(server: ApiServer, group: str, version: str, segments: list[str]) -> Target:
    registry = server.registry
    namespace: str | None = None
    if len(segments) >= 3 and segments[0] == "namespaces":
        candidate = registry.lookup(group, version, segments[2])
        if candidate is not None and candidate.namespaced:
            namespace, segments = segments[1], segments[2:]
    plural = segments[0]
    rtype = registry.lookup(group, version, plural)
    if rtype is None:
        raise ApiError(404, "the server could not find the requested resource")
    name = segments[1] if len(segments) > 1 else ""
    subresource = segments[2] if len(segments) > 2 else ""
    rest = "/".join(segments[3:])
    if subresource and subresource not in rtype.subresources:
        raise ApiError(404, "the server could not find the requested resource")
    if name and rtype.namespaced and namespace is None:
        raise ApiError(404, "the server could not find the requested resource")
    return Target(rtype, version, namespace, name, subresource, rest)


def _flag(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("true", "1")


def _int(request: web.Request, key: str) -> int | None:
    text = request.query.get(key)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request(f"{key}: invalid value {text!r}: must be an integer") from exc


def write_options(request: web.Request) -> WriteOptions:
    validation = request.query.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise bad_request(
            f'fieldValidation: Unsupported value: "{validation}": '
            'supported values: "Ignore", "Strict", "Warn"'
        )
    manager = request.query.get("fieldManager") or ""
    if not manager and request.content_type != APPLY_PATCH:
        # kube-apiserver names an unnamed manager after the client's User-Agent program name.
        manager = request.headers.get("User-Agent", "").split("/", 1)[0] or "unknown"
    return WriteOptions(
        dry_run=bool(request.query.getall("dryRun", [])),
        field_manager=manager,
        field_validation=validation,
        force=_flag(request, "force"),
    )


def list_options(request: web.Request) -> ListOptions:
    return ListOptions(
        label_selector=request.query.get("labelSelector", ""),
        field_selector=request.query.get("fieldSelector", ""),
        limit=_int(request, "limit") or 0,
        continue_token=request.query.get("continue", ""),
    )


async def delete_options(request: web.Request) -> DeleteOptions:
    body = await read_body(request) or {}
    if not isinstance(body, dict):
        raise bad_request("DeleteOptions must be a JSON object")
    policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = request.query.get("orphanDependents") or body.get("orphanDependents")
    if policy is None and str(orphan).lower() == "true":
        policy = "Orphan"
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": '
            'supported values: "Background", "Foreground", "Orphan"'
        )
    grace = _int(request, "gracePeriodSeconds")
    if grace is None and body.get("gracePeriodSeconds") is not None:
        grace = int(body["gracePeriodSeconds"])
    return DeleteOptions(
        propagation=policy,
        grace_period=grace,
        preconditions=dict(body.get("preconditions") or {}),
        dry_run=bool(request.query.getall("dryRun", []) or body.get("dryRun")),
    )


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


async def handle_resource(
    server: ApiServer, request: web.Request, group: str, version: str, path: str
) -> web.StreamResponse:
    segments = [s for s in path.split("/") if s]
    if not segments:
        listed = discovery.resource_list(server.registry, group, version)
        if listed is None:
            raise ApiError(404, "the server could not find the requested resource")
        return json_response(listed)
    target = resolve(server, group, version, segments)
    if target.subresource == "log":
        return await server.logs.handle(request, target)
    if target.subresource == "proxy":
        return await server.proxy.handle(request, target)
    if not target.name:
        return await _collection(server, request, target)
    return await _item(server, request, target)


async def _collection(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    resources = server.resources
    namespace = target.namespace if target.rtype.namespaced else ""
    if request.method == "GET":
        if _flag(request, "watch"):
            return await server.watches.stream(request, target)
        return respond_list(
            request, target, resources.list(target.rtype, target.version, namespace, list_options(request))
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


async def _item(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    resources = server.resources
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
        existed = server.store.get(rtype.key, namespace, name) is not None
        patched = resources.patch(rtype, version, namespace, name, patch_type, body, sub, options)
        return respond(request, target, patched, 200 if existed else 201, options.warnings)
    if request.method == "DELETE":
        if sub:
            raise method_not_allowed()
        deleted = resources.delete(rtype, version, namespace, name, await delete_options(request))
        return respond(request, target, deleted)
    raise method_not_allowed()
