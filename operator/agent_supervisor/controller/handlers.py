"""The kopf registrations: thin. kopf watches and indexes; every event only queues a key for the Controller.

Only on-event and indexing handlers are used: they keep no state on the objects (no progress or diff-base
annotations, no kopf finalizer) and return nothing. The indexes hold trimmed copies of the operator's pods and
child resources, and kopf fills them from its initial listing before it calls any handler, so the first
reconcile after an operator restart never mistakes a not-yet-listed pod for a missing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import kopf

from agent_supervisor.api import GROUP, VERSION
from agent_supervisor.controller.indexes import Indexes, ObjectKey, supervising_key
from agent_supervisor.controller.kube import AGENT_SUPERVISORS, AGENTS, login
from agent_supervisor.controller.reconciler import Controller
from agent_supervisor.translate import labels as label_keys
from agent_supervisor.translate.pods import pod_is_ready

POD_SELECTOR: Final = ("", "v1", "pods")
SERVICE_SELECTOR: Final = ("", "v1", "services")

_KEPT_METADATA: Final = (
    "name",
    "namespace",
    "uid",
    "labels",
    "annotations",
    "generation",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    # With the timestamp, when the deletion was asked for (pod_exits: an exit after it is the deletion's).
    "deletionGracePeriodSeconds",
)


def trim(body: Mapping[str, Any], *, keep_spec: bool) -> dict[str, Any]:
    """What the operator reads of an indexed object; the rest would only cost memory at scale."""
    metadata = body.get("metadata") or {}
    trimmed: dict[str, Any] = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {key: metadata[key] for key in _KEPT_METADATA if key in metadata},
        "status": dict(body.get("status") or {}),
    }
    if keep_spec:
        trimmed["spec"] = body.get("spec") or {}
    return trimmed


def build_registry(controller: Controller) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    managed = {label_keys.MANAGED_BY: label_keys.MANAGED_BY_VALUE}
    serving = ServingPods()
    child = {label_keys.SUPERVISOR: kopf.PRESENT}

    @kopf.on.login(registry=registry)
    async def credentials(**_: Any) -> kopf.ConnectionInfo:
        # The same credentials as the operator's own client: one way to authenticate.
        return await login()

    @kopf.on.startup(registry=registry)
    async def bind_indexes(**kwargs: Any) -> None:
        # kopf passes every index to every handler, as a keyword named by the index's id.
        controller.bind(
            Indexes(
                pods=kwargs["pods"],
                child_agents=kwargs["child_agents"],
                child_supervisors=kwargs["child_supervisors"],
                worker_services=kwargs["worker_services"],
            )
        )

    @kopf.on.cleanup(registry=registry)
    async def stop_acting(**_: Any) -> None:
        # kopf runs this on SIGTERM once its own watchers have stopped; then it gives every task created since
        # it started (the per-pod streams among them) 5 s to end by itself before cancelling it. Stopping the
        # controller here ends them at once, so the operator exits in milliseconds instead of 5 s.
        await controller.stop()

    @kopf.index(*POD_SELECTOR, id="pods", labels=managed, registry=registry)
    async def pods(body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any) -> dict[Any, Any]:
        return {supervising_key(namespace, labels): trim(body, keep_spec=False)}

    @kopf.index(GROUP, VERSION, AGENTS.plural, id="child_agents", labels=child, registry=registry)
    async def child_agents(
        body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
    ) -> dict[Any, Any]:
        # With the spec: the supervisor writes the agent's status from the Agent as it is.
        return {_parent(namespace, labels): trim(body, keep_spec=True)}

    @kopf.index(
        GROUP, VERSION, AGENT_SUPERVISORS.plural, id="child_supervisors", labels=child, registry=registry
    )
    async def child_supervisors(
        body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
    ) -> dict[Any, Any]:
        return {_parent(namespace, labels): trim(body, keep_spec=False)}

    # Only a worker child's Service carries the supervisor label; an agent's Service belongs to its Agent.
    @kopf.index(*SERVICE_SELECTOR, id="worker_services", labels={**managed, **child}, registry=registry)
    async def worker_services(
        body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
    ) -> dict[Any, Any]:
        return {_parent(namespace, labels): trim(body, keep_spec=False)}

    @kopf.on.event(*SERVICE_SELECTOR, labels={**managed, **child}, registry=registry)
    async def worker_service_event(type: str, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
        if type == "DELETED":
            # A worker's Service deleted by someone else is recreated by its supervisor.
            controller.trigger(_parent(namespace, labels))

    @kopf.on.event(GROUP, VERSION, AGENT_SUPERVISORS.plural, registry=registry)
    async def supervisor_event(
        type: str, namespace: str | None, name: str, meta: kopf.Meta, labels: kopf.Labels, **_: Any
    ) -> None:
        controller.trigger(
            ObjectKey(AGENT_SUPERVISORS.kind, namespace or "", name), meta.get("resourceVersion")
        )
        if _is_child(labels):
            # The parent observes its child supervisors through their status.
            controller.trigger(_parent(namespace, labels))

    @kopf.on.event(GROUP, VERSION, AGENTS.plural, registry=registry)
    async def agent_event(
        type: str, namespace: str | None, name: str, meta: kopf.Meta, labels: kopf.Labels, **_: Any
    ) -> None:
        controller.trigger(ObjectKey(AGENTS.kind, namespace or "", name), meta.get("resourceVersion"))
        if _is_child(labels) and type in (None, "DELETED"):
            # A child resource deleted by someone else is recreated by its supervisor.
            controller.trigger(_parent(namespace, labels))

    @kopf.on.event(*POD_SELECTOR, labels=managed, registry=registry)
    async def pod_event(
        type: str, body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_: Any
    ) -> None:
        controller.pod_changed(trim(body, keep_spec=False), deleted=type == "DELETED")
        if type == "DELETED" and controller.finished.swept(str(body.get("metadata", {}).get("uid") or "")):
            return  # a finished older incarnation the operator deleted itself: its owner has nothing to do
        controller.trigger(supervising_key(namespace, labels))
        agent = labels.get(label_keys.AGENT)
        if serving.began(body, deleted=type == "DELETED") and agent:
            # A pod that begins to serve may still need the agent's current config (hot reload).
            controller.trigger(ObjectKey(AGENTS.kind, namespace or "", agent))

    return registry


def _is_child(resource_labels: Mapping[str, str]) -> bool:
    return label_keys.supervisor_of(resource_labels) is not None


def _parent(namespace: str | None, resource_labels: Mapping[str, str]) -> ObjectKey:
    return ObjectKey(AGENT_SUPERVISORS.kind, namespace or "", resource_labels.get(label_keys.SUPERVISOR, ""))


class ServingPods:
    """Which pods serve now: a pod's Agent is reconciled when the pod begins to serve, not on each later
    update of a serving pod (the kubelet's status reports, an in-place restart's attempt annotation). Each
    such reconcile read the Agent and rendered its config again for nothing: during a group restart of 50
    in place that was a read per pod update, while the restart's own steps waited for the CPU."""

    def __init__(self) -> None:
        self._serving: set[str] = set()

    def began(self, pod: Mapping[str, Any], *, deleted: bool) -> bool:
        """Whether this event of `pod` is the one where it begins to serve (or first seen serving)."""
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        if deleted or not _serving(pod):
            self._serving.discard(uid)
            return False
        if uid in self._serving:
            return False
        self._serving.add(uid)
        return True


def _serving(body: Mapping[str, Any]) -> bool:
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return pod_is_ready(body)
