"""Discovery documents: /api, /apis, group-version resource lists, aggregated discovery (apidiscovery)."""

from __future__ import annotations

import hashlib
from typing import Any

from .kinds import SUBRESOURCE_VERBS, Registry, ResourceType, version_priority

KUBERNETES_VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0-localcluster"}


def version_info() -> dict[str, str]:
    return {
        **KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _subresource_kind(rtype: ResourceType, subresource: str) -> str:
    kinds = {
        "proxy": f"{rtype.kind}ProxyOptions",
        "log": "Pod",
        "finalize": rtype.kind,
        "exec": "PodExecOptions",
        "attach": "PodAttachOptions",
        "portforward": "PodPortForwardOptions",
    }
    return kinds.get(subresource, rtype.kind)


def _storage_hash(rtype: ResourceType) -> str:
    text = f"{rtype.group}/{rtype.storage_version}/{rtype.kind}"
    return hashlib.sha256(text.encode()).digest()[:8].hex()


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    rtypes = registry.in_group_version(group, version)
    if not rtypes:
        return None
    resources: list[dict[str, Any]] = []
    for rtype in rtypes:
        entry: dict[str, Any] = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": list(rtype.verbs),
            "storageVersionHash": _storage_hash(rtype),
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        if rtype.categories:
            entry["categories"] = list(rtype.categories)
        resources.append(entry)
        for sub in rtype.subresources:
            resources.append(
                {
                    "name": f"{rtype.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": _subresource_kind(rtype, sub),
                    "verbs": list(SUBRESOURCE_VERBS[sub]),
                }
            )
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def core_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def group_list(registry: Registry) -> dict[str, Any]:
    groups = [api_group(name, versions) for name, versions in sorted(registry.groups().items())]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def single_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.groups().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **api_group(group, versions)}


# -- aggregated discovery ----------------------------------------------------------------------------
def _discovery_resource(rtype: ResourceType, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rtype.plural,
        "responseKind": {"group": rtype.group, "version": version, "kind": rtype.kind},
        "scope": "Namespaced" if rtype.namespaced else "Cluster",
        "singularResource": rtype.singular,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        entry["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        entry["categories"] = list(rtype.categories)
    if rtype.subresources:
        entry["subresources"] = [
            {
                "subresource": sub,
                "responseKind": {
                    "group": rtype.group,
                    "version": version,
                    "kind": _subresource_kind(rtype, sub),
                },
                "verbs": list(SUBRESOURCE_VERBS[sub]),
            }
            for sub in rtype.subresources
        ]
    return entry


def aggregated(registry: Registry, core: bool, discovery_version: str) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (core=True) or /apis."""
    by_group: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for rtype in registry:
        if bool(rtype.group) == core:
            continue
        for version in rtype.versions:
            by_group.setdefault(rtype.group, {}).setdefault(version, []).append(
                _discovery_resource(rtype, version)
            )
    items = []
    for group in sorted(by_group):
        versions = sorted(by_group[group], key=version_priority)
        items.append(
            {
                "metadata": {"name": group} if group else {},
                "versions": [
                    {"version": v, "resources": by_group[group][v], "freshness": "Current"} for v in versions
                ],
            }
        )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{discovery_version}",
        "metadata": {},
        "items": items,
    }


def aggregated_content_type(discovery_version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={discovery_version};as=APIGroupDiscoveryList"
