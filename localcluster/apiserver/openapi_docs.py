"""/openapi/v3 (index and per group-version documents) from openapi.py and /openapi/v2 (openapi_v2.py, as
protobuf for kubectl, JSON for other clients), rebuilt when CRDs change.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import builtin_schema, openapi, openapi_v2
from .errors import ApiError
from .kinds import Registry
from .negotiation import json_response


class OpenApiDocuments:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._built: tuple[int, openapi.OpenAPIV3] | None = None
        self._v2: tuple[int, dict[str, Any], bytes] | None = None

    def documents(self) -> openapi.OpenAPIV3:
        if self._built is None or self._built[0] != self.registry.revision:
            self._built = (
                self.registry.revision,
                openapi.OpenAPIV3(self._descriptions(), builtin_schema.definitions()),
            )
        return self._built[1]

    def v2(self) -> tuple[dict[str, Any], bytes]:
        """The Swagger 2.0 document and its protobuf encoding."""
        if self._v2 is None or self._v2[0] != self.registry.revision:
            document = openapi_v2.build(self._descriptions(), builtin_schema.definitions())
            self._v2 = (self.registry.revision, document, openapi_v2.encode_document(document))
        return self._v2[1], self._v2[2]

    def _descriptions(self) -> list[openapi.ResourceDescription]:
        out = []
        for rtype in self.registry:
            for version in rtype.versions:
                crd_version = rtype.crd_version(version)
                schema = None
                if crd_version is not None:
                    schema = (crd_version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
                out.append(
                    openapi.ResourceDescription(
                        group=rtype.group,
                        version=version,
                        kind=rtype.kind,
                        plural=rtype.plural,
                        namespaced=rtype.namespaced,
                        subresources=tuple(s for s in rtype.subresources if s in ("status", "log")),
                        definition=rtype.definition,
                        schema=schema,
                        verbs=rtype.verbs,
                    )
                )
        return out

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/openapi/v2", self._v2_document),
            web.get("/openapi/v3", self._index),
            web.get("/openapi/v3/{path:.+}", self._document),
        ]

    async def _v2_document(self, request: web.Request) -> web.Response:
        document, encoded = self.v2()
        if openapi_v2.PROTOBUF_V2 in request.headers.get("Accept", ""):
            return web.Response(body=encoded, headers={"Content-Type": openapi_v2.PROTOBUF_V2_RESPONSE})
        return json_response(document)

    async def _index(self, _request: web.Request) -> web.Response:
        return json_response(self.documents().index())

    async def _document(self, request: web.Request) -> web.Response:
        document = self.documents().document(request.match_info["path"])
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return json_response(document)
