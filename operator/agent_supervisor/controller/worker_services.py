"""The Services of a supervisor's worker children: applied while the child is a worker with ports, deleted
once it is not (removed from the spec, its ports dropped, or its kind changed).

Level-triggered like the child resources: the worker Services that exist come from kopf's index (only a
worker's Service carries the supervisor label), so an operator restart or someone deleting one changes
nothing. A worker child's Service has the name an agent child's Service would have (`<supervisor>-<child>`),
so on a change of kind the old one must be gone before the new one is written (executor.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from agent_supervisor import api
from agent_supervisor.controller.kube import SERVICES, KubeClient, NotFoundError
from agent_supervisor.supervision import ChildKind, SupervisorState
from agent_supervisor.supervision.state import ALIVE
from agent_supervisor.translate import labels, members, worker_pod


def _digest(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def alive_as_worker(state: SupervisorState, child: str) -> bool:
    """The child's current incarnation is a worker that has not stopped: its Service still serves it."""
    found = state.find(child)
    return found is not None and found.kind is ChildKind.WORKER and found.lifecycle in ALIVE


class WorkerServices:
    """Writes each worker Service when its manifest is new to this process, and deletes stale ones."""

    def __init__(self, kube: KubeClient) -> None:
        self._kube = kube
        self._applied: dict[tuple[str, str], str] = {}
        """(namespace, name) -> digest of the manifest last applied."""

    async def ensure(
        self, sup: api.AgentSupervisor, state: SupervisorState, existing: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Bring the worker Services of `sup` in line with its spec; `existing`: those that exist, by name."""
        namespace = sup.metadata.namespace or ""
        wanted: set[str] = set()
        for member in members.members(sup.spec):
            if member.worker is None:
                continue
            manifest = worker_pod.service(sup, member.name)
            if manifest is None:
                continue
            service = manifest["metadata"]["name"]
            wanted.add(service)
            digest = _digest(manifest)
            if service in existing and self._applied.get((namespace, service)) == digest:
                continue
            await self._kube.apply(SERVICES, namespace, manifest)
            self._applied[(namespace, service)] = digest
        for service, body in existing.items():
            child = ((body.get("metadata") or {}).get("labels") or {}).get(labels.CHILD, "")
            if service in wanted or (_departing(sup, child) and alive_as_worker(state, child)):
                continue
            await self.delete(namespace, service)

    async def delete(self, namespace: str, service: str) -> None:
        self._applied.pop((namespace, service), None)
        with contextlib.suppress(NotFoundError):
            await self._kube.delete(SERVICES, namespace, service)


def _departing(sup: api.AgentSupervisor, child: str) -> bool:
    """The child left the spec: a worker keeps its Service until it has stopped. One still in the spec but
    no longer a worker with ports loses it at once (an agent of that name needs the name for its own)."""
    try:
        members.member(sup, child)
    except KeyError:
        return True
    return False
