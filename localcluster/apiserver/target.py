"""What a resource path under /api/v1 or /apis/{group}/{version} names (`Target`), and how a path is read.

Its own module because every part that serves a resource path (the CRUD handlers, watches, pod logs, the
proxy subresources) receives a `Target`, while only the handlers resolve one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError
from .kinds import Registry, ResourceType


@dataclass(frozen=True)
class Target:
    """What a resource path names."""

    rtype: ResourceType
    version: str
    namespace: str | None  # None: all namespaces (or cluster-scoped)
    name: str = ""
    subresource: str = ""
    rest: str = ""  # the path after `proxy/`


def resolve(registry: Registry, group: str, version: str, segments: list[str]) -> Target:
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
