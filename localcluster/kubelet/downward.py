"""The downward API: pod fields exposed to containers through env (fieldRef) and downwardAPI volumes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SUBSCRIPT = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")


class FieldRefError(ValueError):
    """A fieldRef names a field the downward API does not offer."""


@dataclass(frozen=True)
class PodFacts:
    """What the kubelet knows about a pod beyond its manifest."""

    pod: Mapping[str, Any]
    pod_ip: str
    host_ip: str


def _format_map(values: Mapping[str, Any]) -> str:
    # The kubelet's format for whole label/annotation maps in downwardAPI volumes: sorted key="value" lines.
    return "\n".join(f"{key}={_quote(str(value))}" for key, value in sorted(values.items()))


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def field_value(facts: PodFacts, field_path: str, *, whole_maps: bool = False) -> str:
    """The value of ``field_path`` for env (``whole_maps=False``) or a downwardAPI volume (``True``)."""
    metadata: Mapping[str, Any] = facts.pod.get("metadata") or {}
    spec: Mapping[str, Any] = facts.pod.get("spec") or {}
    subscript = _SUBSCRIPT.fullmatch(field_path)
    if subscript:
        return str((metadata.get(subscript.group(1)) or {}).get(subscript.group(2), ""))
    simple: dict[str, str] = {
        "metadata.name": str(metadata.get("name", "")),
        "metadata.namespace": str(metadata.get("namespace", "")),
        "metadata.uid": str(metadata.get("uid", "")),
        "spec.nodeName": str(spec.get("nodeName", "")),
        "spec.serviceAccountName": str(spec.get("serviceAccountName") or "default"),
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
    }
    if field_path in simple:
        return simple[field_path]
    if whole_maps and field_path in ("metadata.labels", "metadata.annotations"):
        return _format_map(metadata.get(field_path.split(".")[1]) or {})
    supported = ", ".join([*simple, "metadata.labels['<key>']", "metadata.annotations['<key>']"])
    raise FieldRefError(f"unsupported fieldRef fieldPath {field_path!r}; supported: {supported}")
