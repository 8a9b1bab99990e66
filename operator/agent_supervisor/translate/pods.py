"""Reading the pods the operator created: readiness, and which pod serves an agent now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agent_supervisor.translate import labels


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True (a pod being deleted may still say so: callers decide)."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def serving_pod(pods: Iterable[Mapping[str, Any]], agent: str) -> Mapping[str, Any] | None:
    """The agent's Ready pod that is not being deleted (the newest attempt if, briefly, there are two)."""
    best: tuple[int, Mapping[str, Any]] | None = None
    for pod in pods:
        meta = pod.get("metadata") or {}
        pod_labels = meta.get("labels") or {}
        if pod_labels.get(labels.AGENT) != agent or meta.get("deletionTimestamp") or not pod_is_ready(pod):
            continue
        attempt = labels.attempt_of(pod_labels) or 0
        if best is None or attempt > best[0]:
            best = (attempt, pod)
    return None if best is None else best[1]
