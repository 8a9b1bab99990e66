"""Content negotiation: which representation a client asked for, request body decoding, JSON responses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web
from multidict import CIMultiDict

from . import protobuf
from .errors import ApiError, bad_request, unsupported_media_type

PROTOBUF = "application/vnd.kubernetes.protobuf"
ACCEPTED_BODY_TYPES = ("application/json", "application/yaml", PROTOBUF)


@dataclass(frozen=True)
class MediaType:
    essence: str  # e.g. application/json
    params: dict[str, str]

    @property
    def as_kind(self) -> str:
        return self.params.get("as", "")


def parse_accept(header: str) -> list[MediaType]:
    out = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            params[key.strip()] = value.strip()
        out.append(MediaType(pieces[0].lower(), params))
    return out


def wanted_representation(request: web.Request) -> str:
    """`Table`, `PartialObjectMetadata`, `PartialObjectMetadataList` or "" (the object), by Accept order.

    Protobuf is never served; clients that list JSON after it (kubectl does) get JSON.
    """
    for media in parse_accept(request.headers.get("Accept", "")):
        if media.essence not in ("application/json", "*/*", "application/*"):
            continue
        if media.as_kind in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
            if media.params.get("g") == "meta.k8s.io":
                return media.as_kind
            continue
        if media.as_kind:
            continue
        return ""
    return ""


def wants_aggregated_discovery(request: web.Request) -> str | None:
    """The apidiscovery version (`v2`/`v2beta1`) when the client asked for aggregated discovery first."""
    for media in parse_accept(request.headers.get("Accept", "")):
        if media.essence != "application/json":
            continue
        if media.as_kind == "APIGroupDiscoveryList" and media.params.get("g") == "apidiscovery.k8s.io":
            return media.params.get("v", "v2")
        if not media.as_kind:
            return None
    return None


async def read_body(request: web.Request) -> Any:
    """JSON or YAML, whatever the Content-Type says (the Python client sends none on POST/PUT)."""
    raw = await request.read()
    if not raw.strip():
        return None
    if request.content_type == PROTOBUF:
        try:
            return protobuf.decode(raw)
        except protobuf.ProtobufError as exc:
            raise ApiError(415, str(exc), "UnsupportedMediaType") from exc
    if request.content_type == "application/cbor":
        raise unsupported_media_type(request.content_type, ACCEPTED_BODY_TYPES)
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise bad_request(f"the request body is neither JSON nor YAML: {exc}") from exc


def json_response(
    body: Any, status: int = 200, content_type: str = "application/json", warnings: list[str] | None = None
) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": content_type})
    for warning in warnings or ():
        headers.add("Warning", '299 - "{}"'.format(warning.replace('"', '\\"')))
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status, headers=headers)


def error_response(error: ApiError) -> web.Response:
    return json_response(error.status(), status=error.code)
