"""The registry of served resource types: built-in kinds plus those added by CustomResourceDefinitions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "log": ("get",),
    "proxy": ("create", "delete", "get", "patch", "update"),
    "finalize": ("update",),
    "exec": ("create", "get"),
    "attach": ("create", "get"),
    "portforward": ("create", "get"),
}
# kube-apiserver accepts these field selectors on every kind.
META_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    """One served resource (e.g. `pods`), with what discovery, OpenAPI and tables need to know about it."""

    group: str
    versions: tuple[str, ...]  # served versions, preferred first
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    field_selectors: tuple[str, ...] = ()
    # the built-in OpenAPI definition's key in kubernetes_validate's `_definitions.json`, e.g.
    # io.k8s.api.core.v1.Pod
    definition: str = ""
    # the CRD that serves this resource (None for built-ins)
    crd: dict[str, Any] | None = field(default=None, compare=False)
    # whether metadata.generation is kept (custom resources always; built-ins only some)
    tracks_generation: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def storage_version(self) -> str:
        if self.crd is not None:
            for version in self.crd["spec"]["versions"]:
                if version.get("storage"):
                    return str(version["name"])
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        version = version or self.storage_version
        return f"{self.group}/{version}" if self.group else version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def is_custom(self) -> bool:
        return self.crd is not None

    def supported_field_selectors(self) -> tuple[str, ...]:
        return META_FIELDS + self.field_selectors

    def crd_version(self, version: str) -> dict[str, Any] | None:
        if self.crd is None:
            return None
        for entry in self.crd["spec"]["versions"]:
            if entry["name"] == version:
                return dict(entry)
        return None


def _core(kind: str, plural: str, **kw: Any) -> ResourceType:
    return ResourceType(
        group="",
        versions=("v1",),
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        definition=f"io.k8s.api.core.v1.{kind}",
        **kw,
    )


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

BUILTINS: tuple[ResourceType, ...] = (
    _core(
        "Namespace",
        "namespaces",
        namespaced=False,
        short_names=("ns",),
        subresources=("status", "finalize"),
        field_selectors=("status.phase",),
    ),
    _core(
        "Node",
        "nodes",
        namespaced=False,
        short_names=("no",),
        subresources=("status",),
        field_selectors=("spec.unschedulable",),
    ),
    _core(
        "Pod",
        "pods",
        namespaced=True,
        short_names=("po",),
        categories=("all",),
        subresources=("status", "log", "proxy", "exec", "attach", "portforward"),
        field_selectors=_POD_FIELDS,
        tracks_generation=True,
    ),
    _core(
        "Service",
        "services",
        namespaced=True,
        short_names=("svc",),
        categories=("all",),
        subresources=("status", "proxy"),
        field_selectors=("spec.clusterIP", "spec.type"),
    ),
    _core("Endpoints", "endpoints", namespaced=True, short_names=("ep",)),
    _core("ConfigMap", "configmaps", namespaced=True, short_names=("cm",)),
    _core("Secret", "secrets", namespaced=True, field_selectors=("type",)),
    _core("ServiceAccount", "serviceaccounts", namespaced=True, short_names=("sa",)),
    _core("Event", "events", namespaced=True, short_names=("ev",), field_selectors=_EVENT_FIELDS),
    ResourceType(
        group="events.k8s.io",
        versions=("v1",),
        kind="Event",
        plural="events",
        singular="event",
        namespaced=True,
        short_names=("ev",),
        field_selectors=("reason", "type", "reportingController", "regarding.kind", "regarding.name"),
        definition="io.k8s.api.events.v1.Event",
    ),
    ResourceType(
        group="coordination.k8s.io",
        versions=("v1",),
        kind="Lease",
        plural="leases",
        singular="lease",
        namespaced=True,
        definition="io.k8s.api.coordination.v1.Lease",
    ),
    *(
        ResourceType(
            group="rbac.authorization.k8s.io",
            versions=("v1",),
            kind=kind,
            plural=kind.lower() + "s",
            singular=kind.lower(),
            namespaced=not kind.startswith("Cluster"),
            definition=f"io.k8s.api.rbac.v1.{kind}",
        )
        for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ),
    # Stored, never acted on: no disruption controller fills a PDB's status, nothing enforces a NetworkPolicy.
    ResourceType(
        group="policy",
        versions=("v1",),
        kind="PodDisruptionBudget",
        plural="poddisruptionbudgets",
        singular="poddisruptionbudget",
        namespaced=True,
        short_names=("pdb",),
        subresources=("status",),
        definition="io.k8s.api.policy.v1.PodDisruptionBudget",
        tracks_generation=True,
    ),
    ResourceType(
        group="networking.k8s.io",
        versions=("v1",),
        kind="NetworkPolicy",
        plural="networkpolicies",
        singular="networkpolicy",
        namespaced=True,
        short_names=("netpol",),
        definition="io.k8s.api.networking.v1.NetworkPolicy",
        tracks_generation=True,
    ),
    ResourceType(
        group="apiextensions.k8s.io",
        versions=("v1",),
        kind="CustomResourceDefinition",
        plural="customresourcedefinitions",
        singular="customresourcedefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        categories=("api-extensions",),
        subresources=("status",),
        tracks_generation=True,
        definition="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
    ),
    ResourceType(
        group="apps",
        versions=("v1",),
        kind="Deployment",
        plural="deployments",
        singular="deployment",
        namespaced=True,
        short_names=("deploy",),
        categories=("all",),
        subresources=("status",),
        definition="io.k8s.api.apps.v1.Deployment",
        tracks_generation=True,
    ),
)


class Registry:
    """Served resource types, looked up by group/version/plural; changes when CRDs come and go."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], ResourceType] = {}
        # bumped on every change, so derived documents (OpenAPI) know when to rebuild
        self.revision = 0
        for rtype in BUILTINS:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[rtype.key] = rtype
        self.revision += 1

    def remove(self, group: str, plural: str) -> None:
        if self._types.pop((group, plural), None) is not None:
            self.revision += 1

    def get(self, group: str, plural: str) -> ResourceType | None:
        return self._types.get((group, plural))

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rtype = self._types.get((group, plural))
        if rtype is None or version not in rtype.versions:
            return None
        return rtype

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(sorted(self._types.values(), key=lambda r: (r.group, r.plural)))

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions (preferred first), for the named groups (not core)."""
        out: dict[str, list[str]] = {}
        for rtype in self:
            if not rtype.group:
                continue
            versions = out.setdefault(rtype.group, [])
            for version in rtype.versions:
                if version not in versions:
                    versions.append(version)
        for versions in out.values():
            versions.sort(key=version_priority)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self if r.group == group and version in r.versions]


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first (as a sort key)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[match.group(2)]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)
