"""What every object the operator writes carries: its owner, labels, annotations, and the resource's name.

Pure helpers shared by the manifest builders (manifests.py, agent_pod.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_supervisor import api
from agent_supervisor.translate import labels

Manifest = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Owner:
    """The controlling owner of an object: garbage collection deletes the object with it."""

    api_version: str
    kind: str
    name: str
    uid: str

    @classmethod
    def of(cls, resource: api.Agent | api.AgentSupervisor) -> Owner:
        meta = resource.metadata
        uid = meta.uid
        if not meta.name or uid is None:
            raise ValueError(
                f"{resource.kind} metadata.name and metadata.uid are required to own objects: build "
                "owned objects from the resource as read from the API server"
            )
        return cls(api_version=resource.api_version, kind=resource.kind, name=meta.name, uid=uid)

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def metadata(
    name: str,
    namespace: str,
    owner: Owner,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, **(extra_labels or {})},
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def name_and_namespace(resource: api.Agent | api.AgentSupervisor) -> tuple[str, str]:
    meta = resource.metadata
    if not meta.name or not meta.namespace:
        raise ValueError(f"{resource.kind} metadata.name and metadata.namespace are required")
    return meta.name, meta.namespace


def dump(model: api.base.ApiModel) -> dict[str, Any]:
    """An API model as the JSON the API server takes (camelCase, no nulls)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
