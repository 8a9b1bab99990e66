"""AgentSupervisor and Agent bodies as the API returns them, labelled as the operator labels its children."""

from __future__ import annotations

from typing import Any

NOW = "2026-05-01T12:00:00+00:00"
NS = "team-ns"


def sup(
    name: str,
    children: list[dict[str, Any]],
    *,
    parent: str | None = None,
    child: str | None = None,
    status: dict[str, Any] | None = None,
    namespace: str = NS,
    created: str | None = "2026-05-01T11:57:00Z",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": _meta(name, namespace, created, parent, child, None),
        "spec": {**spec, "children": children},
        "status": status or {},
    }


def agent(
    name: str,
    *,
    parent: str | None = None,
    child: str | None = None,
    pool: str | None = None,
    status: dict[str, Any] | None = None,
    namespace: str = NS,
    created: str | None = "2026-05-01T11:58:30Z",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "Agent",
        "metadata": _meta(name, namespace, created, parent, child, pool),
        "spec": {"model": {"endpoint": "http://m/v1", "name": "scripted"}, **spec},
        "status": status or {},
    }


def _meta(
    name: str, namespace: str, created: str | None, parent: str | None, child: str | None, pool: str | None
) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "agent-supervisor"}
    if parent is not None:
        labels["otp.agents.dev/supervisor"] = parent
        labels["otp.agents.dev/child"] = child or name.removeprefix(f"{parent}-")
    if pool is not None:
        labels["otp.agents.dev/pool"] = pool
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if created is not None:
        meta["creationTimestamp"] = created
    return meta


def entry(name: str, kind: str = "Agent", phase: str = "Running", **fields: Any) -> dict[str, Any]:
    """One status.children entry."""
    return {"name": name, "kind": kind, "phase": phase, "ready": phase == "Running", "restarts": 0, **fields}


def ready_condition(status: str = "True") -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "R", "lastTransitionTime": "2026-05-01T11:59:00Z"}
