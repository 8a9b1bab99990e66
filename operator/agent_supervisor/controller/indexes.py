"""kopf's indexes of the operator's objects, by the resource that supervises or owns them, and the key that
names a resource in the work queue."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import kopf

from agent_supervisor.controller.kube import AGENT_SUPERVISORS, AGENTS
from agent_supervisor.controller.vanished import Graveyard
from agent_supervisor.translate import labels


class ObjectKey(NamedTuple):
    kind: str
    namespace: str
    name: str


def supervising_key(namespace: str | None, pod_labels: Mapping[str, str]) -> ObjectKey:
    """The resource whose supervision state owns a pod: its AgentSupervisor, or a standalone Agent."""
    supervisor = labels.supervisor_of(pod_labels)
    if supervisor is not None:
        return ObjectKey(AGENT_SUPERVISORS.kind, namespace or "", supervisor)
    return ObjectKey(AGENTS.kind, namespace or "", pod_labels.get(labels.AGENT, ""))


@dataclass(frozen=True)
class Indexes:
    """kopf's indexes of trimmed objects: pods by supervising resource, child resources and worker Services by
    parent.

    Objects buried in the graveyard (known to be gone before kopf has noticed, vanished.py) are left out.
    Worker Services are not in `everything()`: the resync judges pods and child resources only, and a stale
    Service entry at worst delays its re-creation until its own watch event.
    """

    pods: kopf.Index[ObjectKey, Mapping[str, Any]]
    child_agents: kopf.Index[ObjectKey, Mapping[str, Any]]
    child_supervisors: kopf.Index[ObjectKey, Mapping[str, Any]]
    graveyard: Graveyard = field(default_factory=Graveyard)
    worker_services: kopf.Index[ObjectKey, Mapping[str, Any]] | None = None

    def _values(
        self, index: kopf.Index[ObjectKey, Mapping[str, Any]], key: ObjectKey
    ) -> list[Mapping[str, Any]]:
        store = index.get(key)
        return [] if store is None else self.graveyard.living(store)

    def everything(self) -> list[tuple[ObjectKey, Mapping[str, Any]]]:
        """(owner key, object) of every indexed object, buried ones included: the resync's snapshot."""
        return [
            (key, body)
            for index in (self.pods, self.child_agents, self.child_supervisors)
            for key in list(index)
            for body in list(index.get(key) or ())
        ]

    def pods_of(self, key: ObjectKey) -> list[Mapping[str, Any]]:
        return self._values(self.pods, key)

    def agents_of(self, key: ObjectKey) -> list[Mapping[str, Any]]:
        return self._values(self.child_agents, key)

    def supervisors_of(self, key: ObjectKey) -> list[Mapping[str, Any]]:
        return self._values(self.child_supervisors, key)

    def services_of(self, key: ObjectKey) -> list[Mapping[str, Any]]:
        """The Services of the supervisor's worker children."""
        return [] if self.worker_services is None else self._values(self.worker_services, key)
