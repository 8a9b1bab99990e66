"""Carrying out the supervision core's actions on the cluster, idempotently.

`execute` runs after the status write that persisted the state requiring the actions, and is given all of
`pending_actions(state)` on every reconcile: an action whose effect is already observed is skipped, and
repeating one that is not (after an operator crash, or because the watch has not caught up) only meets
AlreadyExists or NotFound. Names are deterministic (`<agent>-<attempt>`, `<supervisor>-<child>`), so nothing
can be done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.controller import metrics
from agent_supervisor.controller.config_objects import AgentConfigs
from agent_supervisor.controller.finished import FinishedPods
from agent_supervisor.controller.incarnation_watch import IncarnationWatch
from agent_supervisor.controller.kube import (
    AGENT_SUPERVISORS,
    AGENTS,
    PODS,
    AlreadyExistsError,
    KubeClient,
    NotFoundError,
    Resource,
)
from agent_supervisor.controller.vanished import Graveyard, uid_of
from agent_supervisor.controller.worker_services import WorkerServices, alive_as_worker
from agent_supervisor.supervision import (
    Action,
    ChildKind,
    ChildState,
    RemoveChild,
    ShutdownPolicy,
    StartChild,
    StopChild,
    SupervisorState,
)
from agent_supervisor.supervision.state import ALIVE
from agent_supervisor.translate import (
    agent_pod,
    in_place,
    incarnations,
    labels,
    manifests,
    members,
    worker_pod,
)
from agent_supervisor.translate.observe import ObservedChild, ObservedPod, leftover_pods
from agent_supervisor.translate.projection import parse_agent
from agent_supervisor.translate.settings import OperatorSettings

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS: Final = 30
"""Kubernetes' default terminationGracePeriodSeconds, for a policy that leaves the pod's grace unset."""


@dataclass
class Target:
    """The supervising resource the actions are for, with what the reconcile read and observed."""

    resource: api.Agent | api.AgentSupervisor
    state: SupervisorState
    observed: Mapping[str, ObservedChild]
    children: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The child resources (Agents and AgentSupervisors) that exist, by resource name."""
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """The Services of worker children that exist, by name."""
    triggered_at: float = 0.0
    """Monotonic time of the watch event that led to this reconcile, for the reaction latency metric."""
    restarted: frozenset[str] = frozenset()
    """Children whose restart this reconcile decided: their new pod is the reaction the metric times."""

    @property
    def namespace(self) -> str:
        return self.resource.metadata.namespace or ""

    @property
    def name(self) -> str:
        return self.resource.metadata.name or ""

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name): the key its pods are indexed under."""
        kind = AGENTS.kind if isinstance(self.resource, api.Agent) else AGENT_SUPERVISORS.kind
        return (kind, self.namespace, self.name)


@dataclass(frozen=True)
class InPlaceStart:
    """An incarnation the executor started as a new process in an existing pod."""

    child: str
    attempt: int
    pod: Mapping[str, Any]


def _supervisor(target: Target) -> api.AgentSupervisor:
    if not isinstance(target.resource, api.AgentSupervisor):
        raise TypeError(f"only an AgentSupervisor has child resources, not Agent {target.name!r}")
    return target.resource


def _removed_at_once(pod: Mapping[str, Any]) -> bool:
    """Whatever the grace, the API server removes a pod whose containers all ended at once: its kubelet has
    nothing left to stop. (So is a pod never scheduled, but the indexed pods keep no spec to tell.)"""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _grace(policy: ShutdownPolicy | None) -> int:
    """The grace a pod supervisor gives an incarnation it stops: the pod's own (agent_pod.grace_seconds)."""
    grace = None if policy is None else agent_pod.grace_seconds(policy)
    return DEFAULT_GRACE_SECONDS if grace is None else grace


def _children_inputs(target: Target) -> Hashable:
    """Everything `ensure_children` makes the child resources from, besides the supervisor's generation: which
    exist, and the incarnation of each child (a nested supervisor's resource carries it)."""
    existing = sorted(
        (str(body.get("kind")), name, str((body.get("metadata") or {}).get("uid")))
        for name, body in [*target.children.items(), *target.services.items()]
    )
    children = tuple(
        (child.name, child.kind, child.attempt, child.lifecycle in ALIVE) for child in target.state.children
    )
    return (tuple(existing), children)


def _digest(manifest: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


class Executor:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        configs: AgentConfigs,
        graveyard: Graveyard,
        finished: FinishedPods,
        incarnation_watch: IncarnationWatch | None = None,
    ) -> None:
        self._kube = kube
        self._incarnations = incarnation_watch
        self._finished = finished
        self._settings = settings
        self._configs = configs
        self._graveyard = graveyard
        self._services = WorkerServices(kube)
        self._applied: dict[tuple[str, str, str], tuple[str, str]] = {}
        """(kind, namespace, name) -> (digest of the child manifest last applied, uid of the result)."""
        self._annotating: set[asyncio.Task[None]] = set()
        self._to_annotate: dict[tuple[str, str], int] = {}
        """(namespace, pod) -> the attempt started in place there, not annotated yet (annotate_started)."""
        self._ensured: dict[tuple[str, str, str], tuple[str, int, Hashable]] = {}
        """Supervisor key -> (uid, generation, what `ensure_children` last made its children from)."""

    async def execute(self, target: Target, actions: Sequence[Action]) -> list[InPlaceStart]:
        """Carry out `actions`; returns the incarnations it started in place (the reconciler may wait for
        them and go on with the plan's next step at once)."""
        unrecorded = in_place.unrecorded(target.state, target.observed)
        if unrecorded:
            await self._stop_unrecorded(unrecorded)
            return []
        started: list[InPlaceStart] = []
        stops: list[StopChild] = []
        for action in actions:
            if isinstance(action, StopChild):
                stops.append(action)
                continue
            await self._stop_all(target, stops)
            stops = []
            match action:
                case StartChild():
                    host = await self._start(target, action)
                    if host is not None:
                        started.append(InPlaceStart(action.name, action.attempt, host.pod))
                case RemoveChild(name=name):
                    await self._remove(target, name)
                case _:
                    pass  # WaitUntil, ShutdownSelf and EmitEvent are the reconciler's
        await self._stop_all(target, stops)
        await self._release_ended(target)
        await self._delete_leftovers(target)
        return started

    async def start_chained(
        self, target: Target, starts: Sequence[tuple[StartChild, ObservedPod]]
    ) -> list[InPlaceStart]:
        """The starts of a chain round (in_place.chained_starts), in place only and in order: a pod
        supervisor that does not take one ends the round there, with no fallback to a new pod, which is
        never made before the status records it."""
        started = []
        for action, host in starts:
            if not await self._start_in_place(target, host, action):
                break
            started.append(InPlaceStart(action.name, action.attempt, host.pod))
        return started

    async def _stop_all(self, target: Target, stops: Sequence[StopChild]) -> None:
        """Stops pending together are brutal kills begun at once (supervision/plans.py): sent concurrently,
        each a request to a different pod, instead of a round trip after another."""
        if stops:
            await asyncio.gather(*(self._stop(target, action) for action in stops))

    async def _stop_unrecorded(self, unrecorded: Sequence[tuple[ChildState, ObservedPod, int]]) -> None:
        if self._incarnations is None:
            return
        for child, pod, attempt in unrecorded:
            name = (pod.pod.get("metadata") or {}).get("name")
            log.warning(
                "pod %s runs incarnation %d, which the status does not record (the operator stopped in the "
                "middle of a chain of starts): stopping it before anything else",
                name,
                attempt,
            )
            await self._incarnations.stop(pod.pod, attempt, _grace(child.shutdown))

    # --- agents: pods -------------------------------------------------------------------------------------

    def _agent_of(self, target: Target, child: str) -> api.Agent | None:
        """The Agent resource of a child, as the pod builder needs it (with its uid)."""
        if isinstance(target.resource, api.Agent):
            return target.resource
        manifest = manifests.child_agent(target.resource, child)
        name = manifest["metadata"]["name"]
        existing = target.children.get(name)
        if existing is not None and existing.get("kind") == "Agent":
            uid = existing["metadata"]["uid"]
        else:
            # Created by this reconcile: the index has not seen it yet.
            applied = self._applied.get(("Agent", target.namespace, name))
            if applied is None:
                return None
            uid = applied[1]
        return api.Agent.model_validate({**manifest, "metadata": {**manifest["metadata"], "uid": uid}})

    async def _start(self, target: Target, action: StartChild) -> ObservedPod | None:
        """Start `action`'s incarnation; returns the pod when it was started in place there."""
        child = target.state.find(action.name)
        kind = ChildKind.AGENT if child is None else child.kind
        if kind is ChildKind.SUPERVISOR:
            await self._start_supervisor(target, action)
            return None
        if action.attempt in target.observed.get(action.name, ObservedChild()).pods:
            return None
        if kind is ChildKind.WORKER:
            await self._start_worker(target, action)
            return None
        host = in_place.start_host(target.observed, action, kind)
        if isinstance(host, in_place.Awaiting):
            return None
        if host is not None and await self._start_in_place(target, host, action):
            return host
        agent = self._agent_of(target, action.name)
        if agent is None:
            agent = await self._ensure_child_agent(target, action.name)
        # The pod mounts the config and reads the tree's token: both must exist before it starts.
        await self._configs.ensure(agent)
        shutdown = None if child is None or isinstance(target.resource, api.Agent) else child.shutdown
        pod = agent_pod.pod(agent, action.attempt, action.template_hash, self._settings, shutdown)
        try:
            await self._kube.create(PODS, target.namespace, pod)
        except AlreadyExistsError:
            return None
        self._reacted(target, action.name)
        return None

    async def _start_worker(self, target: Target, action: StartChild) -> None:
        """A worker's incarnation is always a new pod: it has no pod supervisor to start it in place. Its
        Service exists already (ensure_children) and selects the pod once it is Ready."""
        child = target.state.find(action.name)
        shutdown = ShutdownPolicy.timeout(DEFAULT_GRACE_SECONDS) if child is None else child.shutdown
        pod = worker_pod.pod(
            _supervisor(target), action.name, action.attempt, action.template_hash, shutdown, self._settings
        )
        try:
            await self._kube.create(PODS, target.namespace, pod)
        except AlreadyExistsError:
            return
        self._reacted(target, action.name)

    def _reacted(self, target: Target, child: str) -> None:
        if child in target.restarted and target.triggered_at:
            metrics.REACTION_SECONDS.observe(time.monotonic() - target.triggered_at)

    async def _start_in_place(self, target: Target, host: ObservedPod, action: StartChild) -> bool:
        """Start incarnation `attempt` as a new process in the pod that ran the previous one. False: the pod
        supervisor could not take it (gone, or refusing), and a new pod is created instead."""
        if self._incarnations is None:
            return False
        child = target.state.find(action.name)
        policy = child.shutdown if child is not None else None
        grace = _grace(policy)
        if not await self._incarnations.start(host.pod, action.attempt, grace):
            return False
        metrics.IN_PLACE_RESTARTS.inc()
        self._reacted(target, action.name)
        name = (host.pod.get("metadata") or {}).get("name", "")
        self._to_annotate[(target.namespace, name)] = action.attempt
        return True

    def annotate_started(self) -> None:
        """Annotate the pods started in place with their current attempt, off the reconcile's path.

        For people reading the pod (kubectl get pod -L); the operator itself goes by the pod supervisor. Sent
        once the reconcile's starts are done, not after each: in a group restart each pod write (and the
        kubelet's and the operator's handling of its watch event) took CPU from the next start on a busy
        machine. A failure only logs."""
        for (namespace, name), attempt in self._to_annotate.items():
            task = asyncio.create_task(self._annotate(namespace, name, attempt))
            self._annotating.add(task)
            task.add_done_callback(self._annotating.discard)
        self._to_annotate.clear()

    async def close(self) -> None:
        """Write the pod annotations still owed and let them finish (at shutdown): each is a short request."""
        self.annotate_started()
        if self._annotating:
            await asyncio.gather(*self._annotating, return_exceptions=True)

    async def _annotate(self, namespace: str, pod: str, attempt: int) -> None:
        patch = {"metadata": {"annotations": {incarnations.CURRENT_ATTEMPT: str(attempt)}}}
        try:
            await self._kube.merge_patch(PODS, namespace, pod, patch)
        except NotFoundError:
            pass
        except Exception as error:
            log.warning("pod %s/%s: cannot annotate current attempt %d: %s", namespace, pod, attempt, error)

    async def _stop(self, target: Target, action: StopChild) -> None:
        child = target.state.find(action.name)
        if child is not None and child.kind is ChildKind.SUPERVISOR:
            await self._stop_supervisor(target, action)
            return
        pod = target.observed.get(action.name, ObservedChild()).pods.get(action.attempt)
        if pod is not None and (pod.pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        host = in_place.stop_host(target.state, target.observed, action)
        if host is not None and await self._stop_in_place(host, action):
            return
        # The pod that runs the attempt: named after it, unless the attempt started in place in an older pod.
        name = (
            str(pod.pod["metadata"]["name"])
            if pod is not None
            else labels.pod_name(self._agent_name(target, action.name), action.attempt)
        )
        await self._delete_pod(
            target, name, agent_pod.pod_grace_seconds(action.shutdown), None if pod is None else pod.pod
        )

    async def _stop_in_place(self, pod: ObservedPod, action: StopChild) -> bool:
        """Stop the incarnation but keep its pod: the plan starts the child again, in place."""
        if self._incarnations is None:
            return False
        if pod.hosted is not None and pod.hosted.phase in ("Stopping", "Exited"):
            return True
        return await self._incarnations.stop(pod.pod, action.attempt, _grace(action.shutdown))

    async def _release_ended(self, target: Target) -> None:
        """Pods whose last incarnation exited for good end as a one-process pod would: with its exit code."""
        if self._incarnations is None:
            return
        for pod, attempt in in_place.releases(target.state, target.observed):
            await self._incarnations.release(pod.pod, attempt)

    async def _delete_pod(
        self, target: Target, name: str, grace: int | None, seen: Mapping[str, Any] | None
    ) -> None:
        with contextlib.suppress(NotFoundError):
            await self._kube.delete(PODS, target.namespace, name, grace_seconds=grace)
        if seen is not None and (grace == 0 or _removed_at_once(seen)):
            # The API server removes the pod at once; until its DELETED event reaches the index, the next
            # reconcile must not see it (nor delete it again).
            self._graveyard.bury(uid_of(seen))

    @staticmethod
    def _agent_name(target: Target, child: str) -> str:
        if isinstance(target.resource, api.Agent):
            return target.name
        return labels.child_name(target.name, child)

    async def _delete_leftovers(self, target: Target) -> None:
        for pod in leftover_pods(target.state, target.observed):
            metadata = pod.get("metadata") or {}
            if metadata.get("deletionTimestamp") or self._finished.keep(target.key, pod):
                continue
            # Not 0 (a force deletion) while its process may run: agent_pod.MIN_POD_GRACE_SECONDS.
            await self._delete_pod(target, metadata["name"], agent_pod.MIN_POD_GRACE_SECONDS, pod)

    # --- child resources ----------------------------------------------------------------------------------

    async def ensure_children(self, target: Target) -> None:
        """Create or update the child resources of an AgentSupervisor from its templates.

        Agent children exist from the start (their config objects are ready before their first pod); a
        nested supervisor is created by its first StartChild (it carries the incarnation to run). Child
        resources of a kind the child no longer has are deleted once that child is not alive.
        """
        sup = target.resource
        if not isinstance(sup, api.AgentSupervisor):
            return
        uid, generation = str(sup.metadata.uid), sup.metadata.generation or 0
        inputs = _children_inputs(target)
        ensured = self._ensured.get(target.key)
        if (
            ensured is not None
            and ensured[0] == uid
            and (generation < ensured[1] or ensured[1:] == (generation, inputs))
        ):
            # Nothing changed since the last time; or this is an older version of the supervisor than one
            # already served (read before its latest change was seen), whose templates must not be applied.
            return
        # First: a worker Service in the way of an agent's own (a change of kind) goes before the Agent comes.
        await self._services.ensure(sup, target.state, target.services)
        wanted: set[tuple[str, str]] = set()
        for child in members.members(sup.spec):  # a pool's members one by one
            state = target.state.find(child.name)
            if child.template is not None:
                wanted.add(("Agent", child.name))
                if alive_as_worker(target.state, child.name):
                    # Its Service would take the worker's name while the worker still runs: the Agent is
                    # created when its first incarnation starts (_start).
                    continue
                await self._apply_child(target, AGENTS, manifests.child_agent(sup, child.name))
            elif state is not None and state.attempt > 0 and state.kind is ChildKind.SUPERVISOR:
                wanted.add(("AgentSupervisor", child.name))
                manifest = manifests.child_supervisor(sup, child.name, state.attempt)
                await self._apply_child(target, AGENT_SUPERVISORS, manifest)
        for resource in list(target.children.values()):
            child_name = (resource["metadata"].get("labels") or {}).get(labels.CHILD, "")
            kind = str(resource.get("kind"))
            state = target.state.find(child_name)
            alive_as_kind = (
                state is not None
                and state.lifecycle in ALIVE
                and state.kind is (ChildKind.AGENT if kind == "Agent" else ChildKind.SUPERVISOR)
            )
            if (kind, child_name) not in wanted and not alive_as_kind:
                await self._delete_child(target, kind, resource["metadata"]["name"])
        self._ensured[target.key] = (uid, generation, inputs)

    def forget(self, key: tuple[str, str, str]) -> None:
        """The supervising resource is gone."""
        self._ensured.pop(key, None)

    async def _ensure_child_agent(self, target: Target, child: str) -> api.Agent:
        manifest = manifests.child_agent(_supervisor(target), child)
        return parse_agent(await self._apply_child(target, AGENTS, manifest, force=True))

    async def _apply_child(
        self, target: Target, resource: Resource, manifest: dict[str, Any], *, force: bool = False
    ) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        key = (resource.kind, target.namespace, name)
        digest = _digest(manifest)
        existing = target.children.get(name)
        exists = existing is not None and existing.get("kind") == resource.kind
        known = self._applied.get(key)
        if not force and exists and known is not None and known[0] == digest:
            return dict(existing or {})
        applied = await self._kube.apply(resource, target.namespace, manifest)
        self._applied[key] = (digest, str(applied["metadata"]["uid"]))
        return applied

    async def _start_supervisor(self, target: Target, action: StartChild) -> None:
        manifest = manifests.child_supervisor(_supervisor(target), action.name, action.attempt)
        existing = target.children.get(manifest["metadata"]["name"])
        if existing is not None and existing.get("kind") == "AgentSupervisor":
            annotations = existing["metadata"].get("annotations") or {}
            if labels.annotation_number(annotations, labels.INCARNATION) == action.attempt:
                return
        await self._apply_child(target, AGENT_SUPERVISORS, manifest, force=True)

    async def _stop_supervisor(self, target: Target, action: StopChild) -> None:
        name = labels.child_name(target.name, action.name)
        existing = target.children.get(name)
        if existing is None or existing.get("kind") != "AgentSupervisor":
            return
        annotations = existing["metadata"].get("annotations") or {}
        if labels.annotation_number(annotations, labels.STOP) == action.attempt:
            return
        with contextlib.suppress(NotFoundError):
            await self._kube.merge_patch(
                AGENT_SUPERVISORS, target.namespace, name, manifests.stop_patch(action.attempt)
            )

    async def _remove(self, target: Target, child: str) -> None:
        name = labels.child_name(target.name, child)
        for kind in ("Agent", "AgentSupervisor"):
            await self._delete_child(target, kind, name)

    async def _delete_child(self, target: Target, kind: str, name: str) -> None:
        resource = AGENTS if kind == "Agent" else AGENT_SUPERVISORS
        self._applied.pop((resource.kind, target.namespace, name), None)
        if kind == "Agent":
            self._configs.forget(target.namespace, name)
        with contextlib.suppress(NotFoundError):
            await self._kube.delete(resource, target.namespace, name)
