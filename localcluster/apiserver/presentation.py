"""Alternative representations a client can ask for: meta.k8s.io Table and PartialObjectMetadata(List)."""

from __future__ import annotations

from typing import Any

from . import meta, tables
from .errors import bad_request
from .kinds import ResourceType

META_API_VERSION = "meta.k8s.io/v1"


def columns(rtype: ResourceType, version: str) -> list[tables.ColumnSpec]:
    crd_version = rtype.crd_version(version)
    if crd_version is not None:
        return tables.columns_from_crd(crd_version)
    return list(tables.columns_for_kind(rtype.kind))


def table(
    rtype: ResourceType,
    version: str,
    objects: list[dict[str, Any]],
    include_object: str,
    list_meta: dict[str, Any] | None = None,
    headers: bool = True,
) -> dict[str, Any]:
    include_object = include_object or "Metadata"
    if include_object not in tables.INCLUDE_OBJECT_CHOICES:
        choices = ", ".join(f'"{c}"' for c in tables.INCLUDE_OBJECT_CHOICES)
        raise bad_request(
            f'includeObject: Unsupported value: "{include_object}": supported values: {choices}'
        )
    rendered = tables.render_table(objects, columns(rtype, version), meta.now(), include_object, list_meta)
    if not headers:
        rendered["columnDefinitions"] = []
    return rendered


def partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": META_API_VERSION, "metadata": obj["metadata"]}


def partial_list(listed: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": META_API_VERSION,
        "metadata": listed["metadata"],
        "items": [partial(item) for item in listed["items"]],
    }
