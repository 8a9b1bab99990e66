"""The reconcile of Agents and AgentSupervisors (docs/operator-design.md, "Reconcile of a supervising
resource").

Every trigger - a watch event on the resource, one of its pods or child resources, or a timer - queues the
resource's key; workers take keys one at a time per resource and run one full, level-triggered reconcile:

    read the resource -> project its spec (or mark it Invalid, and stop)
    state  = status.supervision          seen = its pods and children from the kopf indexes
    events = the resource's own triggers (start, stop, spec change, reset, tick) + what `seen` reveals
    state' = decide(...) over the events -> ONE status write with a resourceVersion precondition
    then: execute pending_actions(state') (all idempotent), post the Events, requeue for deadlines

A standalone Agent is its own one-child supervisor; a supervised Agent's reconcile only keeps its
configuration objects and delivers config changes to its running pod (agents.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import kopf

from agent_supervisor import api
from agent_supervisor.controller import labels, metrics, observe, status, triggers
from agent_supervisor.controller.agents import (
    AgentConfigs,
    ConfigDelivery,
    Delivery,
    MessagingTokens,
    serving_pod,
)
from agent_supervisor.controller.builders import OperatorSettings
from agent_supervisor.controller.executor import Executor, Target
from agent_supervisor.controller.finished import FinishedPods
from agent_supervisor.controller.kube import (
    AGENT_SUPERVISORS,
    AGENTS,
    SECRETS,
    ConflictError,
    KubeClient,
    NotFoundError,
    Resource,
)
from agent_supervisor.controller.persisted import CorruptSupervisionError, Supervision
from agent_supervisor.controller.projection import (
    InvalidResourceError,
    parse_agent,
    parse_supervisor,
    semantic_problems,
    standalone_spec,
    supervisor_spec,
)
from agent_supervisor.controller.recorder import EventRecorder
from agent_supervisor.controller.runtime_config import RenderError
from agent_supervisor.controller.vanished import Graveyard, uid_of
from agent_supervisor.controller.workqueue import WorkQueue
from agent_supervisor.supervision import (
    EmitEvent,
    EventReason,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    WaitUntil,
    decide,
    pending_actions,
)

log = logging.getLogger(__name__)

FINALIZER = f"{labels.PREFIX}/stop-children"
"""Held by every AgentSupervisor until its children have stopped in reverse start order."""
INVALID_RECHECK_SECONDS = 15.0
MAX_ROUNDS = 64
"""An Invalid resource is checked again this often: a missing Secret may have been created meanwhile."""


class ObjectKey(NamedTuple):
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Indexes:
    """kopf's indexes of trimmed objects: pods by supervising resource, child resources by parent.

    Objects buried in the graveyard (known to be gone before kopf has noticed, vanished.py) are left out.
    """

    pods: kopf.Index[ObjectKey, Mapping[str, Any]]
    child_agents: kopf.Index[ObjectKey, Mapping[str, Any]]
    child_supervisors: kopf.Index[ObjectKey, Mapping[str, Any]]
    graveyard: Graveyard = field(default_factory=Graveyard)

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


def _now() -> int:
    """Whole seconds of the wall clock: the restart history must mean the same after an operator restart."""
    return int(time.time())


def restarted(before: SupervisorState, after: SupervisorState) -> frozenset[str]:
    """The children whose restart count grew from `before` to `after`."""
    counts = {child.name: child.restarts for child in before.children}
    return frozenset(child.name for child in after.children if child.restarts > counts.get(child.name, 0))


def referenced_secrets(resource: api.Agent | api.AgentSupervisor) -> set[str]:
    """Names of the Secrets the resource's agents read (model API keys and env)."""
    return {secret for template in _templates(resource) for secret in _template_secrets(template)}


def _templates(resource: api.Agent | api.AgentSupervisor) -> Iterable[api.AgentTemplate]:
    if isinstance(resource, api.Agent):
        yield resource.spec
        return
    pending = list(resource.spec.children)
    while pending:
        child = pending.pop()
        if child.agent is not None:
            yield child.agent
        if child.supervisor is not None:
            pending.extend(child.supervisor.children)


def _template_secrets(template: api.AgentTemplate) -> Iterable[str]:
    if template.model.api_key_secret_ref is not None:
        yield template.model.api_key_secret_ref.name
    for var in template.env or []:
        if var.value_from is not None and var.value_from.secret_key_ref is not None:
            yield var.value_from.secret_key_ref.name


class Controller:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        identity: str,
        *,
        finished_pod_ttl: float = 0.0,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        self.recorder = EventRecorder(kube, identity)
        self.tokens = MessagingTokens(kube)
        self.configs = AgentConfigs(kube, settings)
        self.delivery = ConfigDelivery(settings.agent_port, self._delivered)
        self.graveyard = Graveyard()
        self.finished = FinishedPods(kube, finished_pod_ttl)
        self.executor = Executor(kube, settings, self.configs, self.graveyard, self.finished)
        self._indexes: Indexes | None = None
        self._written: dict[ObjectKey, str] = {}
        """The resourceVersion of this process's last write of each resource: its echo needs no reconcile."""
        self._phases: dict[ObjectKey, str] = {}
        self._checked_secrets: dict[ObjectKey, tuple[str, int | None]] = {}

    # --- wiring -------------------------------------------------------------------------------------------

    def bind(self, indexes: Indexes) -> None:
        self._indexes = replace(indexes, graveyard=self.graveyard)

    async def sweep_finished_pods(self) -> None:
        """Delete the finished pods of replaced incarnations in batches once due (finished.py)."""
        await self.finished.run(lambda owner: self.indexes.pods_of(ObjectKey(*owner)), lambda: self.bound)

    def prune_graveyard(self) -> None:
        self.graveyard.keep_only(uid_of(body) for _, body in self.indexes.everything())

    @property
    def bound(self) -> bool:
        return self._indexes is not None

    def known_keys(self) -> set[ObjectKey]:
        """The resources this process has reconciled and still keeps memory of."""
        return set(self._phases)

    @property
    def indexes(self) -> Indexes:
        if self._indexes is None:
            raise RuntimeError("the kopf indexes are not bound yet: bind() runs in kopf's startup handler")
        return self._indexes

    def trigger(self, key: ObjectKey, resource_version: str | None = None) -> None:
        """Queue a reconcile of `key`, unless the event is the echo of this process's own last write."""
        if not key.name:
            return
        if resource_version is not None and self._written.get(key) == resource_version:
            return
        self.queue.add(key)

    def phases(self) -> list[tuple[str, str]]:
        """(kind, phase) of every resource reconciled, for the metrics of resources by phase."""
        return [(key.kind, phase) for key, phase in self._phases.items() if phase]

    def _delivered(self, namespace: str, agent: str) -> None:
        self.queue.add(ObjectKey(AGENTS.kind, namespace, agent))

    def start(self, workers: int) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._work(), name=f"reconciler-{n}") for n in range(workers)]

    async def stop(self, workers: list[asyncio.Task[None]]) -> None:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self.queue.close()
        await self.delivery.close()
        await self.recorder.drain()

    async def _work(self) -> None:
        while True:
            key, triggered = await self.queue.get()
            started = time.monotonic()
            try:
                await self.reconcile(key, triggered)
            except ConflictError:
                # Someone wrote the resource after we read it: read it again at once.
                self.queue.add(key)
                metrics.RECONCILES.labels(kind=key.kind, result="conflict").inc()
            except Exception as error:
                delay = self.queue.retry(key)
                metrics.RECONCILES.labels(kind=key.kind, result="error").inc()
                log.warning("reconcile of %s %s/%s failed (retry in %.2fs): %s", *key, delay, error)
            else:
                self.queue.succeeded(key)
                metrics.RECONCILES.labels(kind=key.kind, result="ok").inc()
            finally:
                metrics.RECONCILE_SECONDS.labels(kind=key.kind).observe(time.monotonic() - started)
                self.queue.done(key)
                if self.graveyard.wants_pruning:
                    self.prune_graveyard()

    # --- dispatch -----------------------------------------------------------------------------------------

    async def reconcile(self, key: ObjectKey, triggered: float = 0.0) -> None:
        resource = AGENT_SUPERVISORS if key.kind == AGENT_SUPERVISORS.kind else AGENTS
        try:
            obj = await self.kube.get(resource, key.namespace, key.name)
        except NotFoundError:
            self._forget(key)
            return
        if key.kind == AGENT_SUPERVISORS.kind:
            await self._reconcile_supervisor(key, obj, triggered)
        else:
            await self._reconcile_agent(key, obj, triggered)

    def _forget(self, key: ObjectKey) -> None:
        self.queue.forget(key)
        self._written.pop(key, None)
        self._phases.pop(key, None)
        self._checked_secrets.pop(key, None)
        if key.kind == AGENTS.kind:
            self.configs.forget(key.namespace, key.name)
            self.delivery.forget(key.namespace, key.name)
            self.tokens.forget(key.namespace, key.name)
        else:
            self.tokens.forget(key.namespace, key.name)

    # --- AgentSupervisor ----------------------------------------------------------------------------------

    async def _reconcile_supervisor(self, key: ObjectKey, obj: dict[str, Any], triggered: float) -> None:
        meta = obj["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and FINALIZER not in (meta.get("finalizers") or []):
            return
        try:
            sup = parse_supervisor(obj)
            await self._check_semantics(key, sup)
            spec = supervisor_spec(sup)
        except InvalidResourceError as invalid:
            await self._invalid(key, AGENT_SUPERVISORS, obj, invalid.problems, deleting)
            return
        if not deleting and FINALIZER not in (meta.get("finalizers") or []):
            obj = await self._write(
                key,
                AGENT_SUPERVISORS,
                obj,
                {"metadata": {"finalizers": [*(meta.get("finalizers") or []), FINALIZER]}},
            )
        nested = labels.supervisor_of(meta.get("labels")) is not None
        if not nested and not deleting:
            # The root owns the token its tree's agents share; their pods read it from the first start.
            await self.tokens.ensure(sup)
        children = {
            child["metadata"]["name"]: child
            for child in [*self.indexes.agents_of(key), *self.indexes.supervisors_of(key)]
        }
        observed = observe.observe(self.indexes.pods_of(key), self.indexes.supervisors_of(key))
        now = _now()
        try:
            supervision, emitted, before = self._decide(obj, spec, observed, now, nested=nested)
        except CorruptSupervisionError as corrupt:
            await self._invalid(
                key, AGENT_SUPERVISORS, obj, [api.FieldIssue("status.supervision", str(corrupt))], deleting
            )
            return
        desired = status.supervisor_status(sup, spec, supervision, observed, now, previous=obj.get("status"))
        obj = await self._write_status(key, AGENT_SUPERVISORS, obj, desired)
        target = Target(
            sup, supervision.state, observed, children, triggered, restarted(before, supervision.state)
        )
        if not deleting:
            await self.executor.ensure_children(target)
        await self.executor.execute(target, pending_actions(supervision.state))
        await self._write_agent_statuses(key, supervision.state)
        self._after(key, obj, spec, before, supervision.state, emitted, observed)
        if deleting and supervision.state.lifecycle is SupervisorLifecycle.TERMINATED:
            finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
            await self._write(key, AGENT_SUPERVISORS, obj, {"metadata": {"finalizers": finalizers}})

    def _decide(
        self,
        obj: Mapping[str, Any],
        spec: SupervisorSpec,
        observed: Mapping[str, observe.ObservedChild],
        now: int,
        *,
        nested: bool,
    ) -> tuple[Supervision, list[EmitEvent], SupervisorState]:
        """Feed the core every event the resource and its children reveal at `now`.

        Returns the new supervision, the Events the decisions emitted, and the state before them.
        """
        meta = obj["metadata"]
        previous = obj.get("status") or {}
        supervision = Supervision.read(previous, spec)
        before = supervision.state
        facts = triggers.ResourceFacts(
            annotations=meta.get("annotations") or {},
            generation=meta.get("generation"),
            observed_generation=previous.get("observedGeneration"),
            deleting=bool(meta.get("deletionTimestamp")),
            nested=nested,
        )
        control, supervision = triggers.control_events(facts, supervision, now)
        state = supervision.state
        emitted: list[EmitEvent] = []
        events = list(control)
        # What the children reveal is re-read after each round: a decision can make an observation count
        # (a child being stopped whose pod is already gone has finished stopping). Each event is about the
        # current attempt and is consumed by the decision, so this ends when a round changes nothing.
        for _ in range(MAX_ROUNDS):
            events += observe.events_from_observation(
                state, observed, now, start_deadline_seconds=self.settings.start_deadline_seconds
            )
            if not events:
                break
            round_start = state
            for event in events:
                decision = decide(spec, state, event, now)
                state = decision.state
                emitted += [action for action in decision.actions if isinstance(action, EmitEvent)]
            events = []
            if state == round_start:
                break
        return supervision.with_state(state), emitted, before

    # --- Agent --------------------------------------------------------------------------------------------

    async def _reconcile_agent(self, key: ObjectKey, obj: dict[str, Any], triggered: float) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        supervisor = labels.supervisor_of(meta.get("labels"))
        try:
            agent = parse_agent(obj)
            await self._check_semantics(key, agent)
            spec = None if supervisor is not None else standalone_spec(agent)
            if spec is not None:
                # The pod reads the tree's token from the first start on: the root owns it.
                await self.tokens.ensure(agent)
            rendered = await self.configs.ensure(agent)
        except InvalidResourceError as invalid:
            await self._invalid(key, AGENTS, obj, invalid.problems, deleting=False)
            return
        except RenderError as error:
            field, _, message = str(error).partition(": ")
            await self._invalid(key, AGENTS, obj, [api.FieldIssue(field, message)], deleting=False)
            return
        owner = ObjectKey(AGENT_SUPERVISORS.kind, key.namespace, supervisor) if supervisor else key
        pods = self.indexes.pods_of(owner)
        applied = await self._applied_revision(agent, pods, rendered.revision, obj.get("status") or {})
        generation = meta.get("generation")
        now = _now()
        if spec is None:
            desired = status.config_status(generation, rendered.revision, applied, now, obj.get("status"))
            obj = await self._write_status(key, AGENTS, obj, desired)
            self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
            return
        observed = observe.observe(pods)
        try:
            supervision, emitted, before = self._decide(obj, spec, observed, now, nested=False)
        except CorruptSupervisionError as corrupt:
            await self._invalid(key, AGENTS, obj, [api.FieldIssue("status.supervision", str(corrupt))], False)
            return
        desired = status.standalone_agent_status(agent, spec, supervision, now, previous=obj.get("status"))
        desired = status.config_status(generation, rendered.revision, applied, now, previous=desired)
        obj = await self._write_status(key, AGENTS, obj, desired)
        target = Target(
            agent, supervision.state, observed, {}, triggered, restarted(before, supervision.state)
        )
        await self.executor.execute(target, pending_actions(supervision.state))
        self._after(key, obj, spec, before, supervision.state, emitted, observed)

    async def _applied_revision(
        self,
        agent: api.Agent,
        pods: list[Mapping[str, Any]],
        revision: str,
        previous: Mapping[str, Any],
    ) -> str | None:
        """The config revision the agent's running pod reports; delivers `revision` to it if needed."""
        namespace, name = agent.metadata.namespace or "", agent.metadata.name or ""
        reported = previous.get("appliedConfigRevision")
        pod = serving_pod(pods, name)
        if pod is None:
            return str(reported) if reported else None
        pod_name = pod["metadata"]["name"]
        address = (pod.get("status") or {}).get("podIP")
        if not address:
            return str(reported) if reported else None
        token = await self.tokens.read(namespace, labels.root_of(name, agent.metadata.labels))
        self.delivery.ensure(Delivery(namespace, name, pod_name, str(address), revision, token))
        applied = self.delivery.applied(namespace, name)
        if applied is None or applied.pod != pod_name:
            return str(reported) if reported else None
        if applied.error:
            # The agent keeps running the revision it had; say why the new one is not applied.
            self.recorder.record(
                {"apiVersion": api.API_VERSION, "kind": "Agent", "metadata": agent.metadata.model_dump()},
                "Warning",
                "ConfigNotApplied",
                applied.error,
            )
            return str(reported) if reported else None
        return applied.revision

    # --- shared steps -------------------------------------------------------------------------------------

    async def _check_semantics(self, key: ObjectKey, resource: api.Agent | api.AgentSupervisor) -> None:
        """Raise InvalidResourceError for what the CRD could not check, Secrets referenced included."""
        names = referenced_secrets(resource)
        marker = (str((resource.metadata.model_extra or {}).get("uid")), resource.metadata.generation)
        secrets: dict[str, list[str]] | None = None
        if names and self._checked_secrets.get(key) != marker:
            secrets = {}
            for name in sorted(names):
                try:
                    secret = await self.kube.get(SECRETS, key.namespace, name)
                except NotFoundError:
                    continue
                secrets[name] = [*(secret.get("data") or {}), *(secret.get("stringData") or {})]
        problems = semantic_problems(resource, secrets)
        if problems:
            raise InvalidResourceError(problems)
        if secrets is not None:
            self._checked_secrets[key] = marker

    async def _invalid(
        self,
        key: ObjectKey,
        resource: Resource,
        obj: dict[str, Any],
        problems: list[api.FieldIssue],
        deleting: bool,
    ) -> None:
        meta = obj["metadata"]
        desired = status.invalid_status(meta.get("generation"), problems, _now(), obj.get("status"))
        written = await self._write_status(key, resource, obj, desired)
        if written is not obj:
            # Only a new verdict is news; the periodic re-check of an unchanged one posts nothing.
            self.recorder.record(written, "Warning", "Invalid", "; ".join(str(p) for p in problems))
        obj = written
        self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
        if deleting:
            # Nothing can be stopped in order without a valid spec; garbage collection removes the rest.
            finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
            await self._write(key, resource, obj, {"metadata": {"finalizers": finalizers}})
            return
        self.queue.add_after(key, INVALID_RECHECK_SECONDS)

    async def _write(
        self, key: ObjectKey, resource: Resource, obj: dict[str, Any], patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A merge patch of the resource, only onto the version read (ConflictError otherwise)."""
        meta = obj["metadata"]
        written = await self.kube.merge_patch(
            resource, key.namespace, key.name, patch, resource_version=meta["resourceVersion"]
        )
        self._written[key] = written["metadata"]["resourceVersion"]
        return written

    async def _write_status(
        self, key: ObjectKey, resource: Resource, obj: dict[str, Any], desired: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write `desired` as the status, in one request, unless it is what is there already."""
        patch = status.status_patch(obj.get("status"), desired)
        if not patch:
            return obj
        written = await self.kube.merge_patch(
            resource,
            key.namespace,
            key.name,
            {"status": patch},
            subresource="status",
            resource_version=obj["metadata"]["resourceVersion"],
        )
        self._written[key] = written["metadata"]["resourceVersion"]
        return written

    async def _write_agent_statuses(self, key: ObjectKey, state: SupervisorState) -> None:
        """The supervision fields of each agent child's status, which only its supervisor knows."""
        now = _now()
        for body in self.indexes.agents_of(key):
            child = state.find((body["metadata"].get("labels") or {}).get(labels.CHILD, ""))
            if child is None:
                continue
            try:
                agent = parse_agent(body)
            except InvalidResourceError:
                continue
            previous = body.get("status")
            desired = status.supervised_agent_status(agent, key.name, state, now, previous)
            patch = status.status_patch(previous, desired)
            if not patch:
                continue
            child_key = ObjectKey(AGENTS.kind, key.namespace, agent.metadata.name or "")
            try:
                await self._write_status(child_key, AGENTS, dict(body), desired)
            except ConflictError:
                # The agent's own reconcile wrote its config fields meanwhile: ask the parent to go again.
                self.queue.add(key)
            except NotFoundError:
                continue

    def _after(
        self,
        key: ObjectKey,
        obj: Mapping[str, Any],
        spec: SupervisorSpec,
        before: SupervisorState,
        after: SupervisorState,
        emitted: list[EmitEvent],
        observed: Mapping[str, observe.ObservedChild],
    ) -> None:
        """What follows a successful write: Events, metrics, and the next timed wake-up."""
        for event in emitted:
            self.recorder.record(obj, event.type.value, event.reason.value, event.message)
        self._count(key, spec, before, after, emitted)
        self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
        wake = [action.at for action in pending_actions(after) if isinstance(action, WaitUntil)]
        deadline = observe.next_start_deadline(
            after, observed, start_deadline_seconds=self.settings.start_deadline_seconds
        )
        if deadline is not None:
            wake.append(deadline)
        if wake:
            # Whole seconds are compared with `>=`: wake just after the second begins.
            self.queue.add_after(key, min(wake) - time.time() + 0.05)

    @staticmethod
    def _count(
        key: ObjectKey,
        spec: SupervisorSpec,
        before: SupervisorState,
        after: SupervisorState,
        emitted: list[EmitEvent],
    ) -> None:
        for name in restarted(before, after):
            child = after.find(name)
            if child is not None:
                reason = "unknown" if child.last_exit is None else child.last_exit.reason.value
                metrics.RESTARTS.labels(key.namespace, key.name, name, reason).inc()
        for event in emitted:
            if event.reason is EventReason.GROUP_RESTARTED:
                metrics.GROUP_RESTARTS.labels(key.namespace, key.name, spec.strategy.value).inc()
            elif event.reason is EventReason.INTENSITY_EXCEEDED:
                metrics.BUDGET_EXHAUSTIONS.labels(key.namespace, key.name).inc()
            elif event.reason is EventReason.ESCALATED:
                metrics.ESCALATIONS.labels(key.namespace, key.name).inc()
