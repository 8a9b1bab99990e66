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
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import replace
from typing import Any

from agent_supervisor import api
from agent_supervisor.controller import metrics
from agent_supervisor.controller.agent_statuses import SupervisedAgentStatuses
from agent_supervisor.controller.config_delivery import ConfigDelivery
from agent_supervisor.controller.config_objects import AgentConfigs
from agent_supervisor.controller.dependency_watch import DependencyWatch
from agent_supervisor.controller.executor import Executor, InPlaceStart, Target
from agent_supervisor.controller.finished import FinishedPods
from agent_supervisor.controller.incarnation_watch import IncarnationWatch
from agent_supervisor.controller.indexes import Indexes, ObjectKey, supervising_key
from agent_supervisor.controller.kube import (
    AGENT_SUPERVISORS,
    AGENTS,
    ConflictError,
    KubeClient,
    NotFoundError,
    Resource,
)
from agent_supervisor.controller.readings import SupervisorReadings
from agent_supervisor.controller.recorder import EventRecorder
from agent_supervisor.controller.secret_checks import SecretChecks
from agent_supervisor.controller.tokens import MessagingTokens
from agent_supervisor.controller.vanished import Graveyard, uid_of
from agent_supervisor.controller.workqueue import WorkQueue
from agent_supervisor.controller.writer import ResourceWriter
from agent_supervisor.supervision import SupervisorSpec
from agent_supervisor.translate import budgets, dependencies, in_place, labels, observe, status
from agent_supervisor.translate.conditions import Judgement
from agent_supervisor.translate.pods import serving_pod
from agent_supervisor.translate.policy import PolicyRefusedError, Refusal
from agent_supervisor.translate.projection import (
    InvalidResourceError,
    parse_agent,
    standalone_spec,
)
from agent_supervisor.translate.runtime_config import RenderError
from agent_supervisor.translate.settings import OperatorSettings
from agent_supervisor.translate.step import ConfigReport, Outcome, step, with_supervisor_status
from agent_supervisor.translate.stored_supervision import CorruptSupervisionError

log = logging.getLogger(__name__)

FINALIZER = f"{labels.PREFIX}/stop-children"
"""Held by every AgentSupervisor until its children have stopped in reverse start order."""
INVALID_RECHECK_SECONDS = 15.0
CHAIN_WAIT_SECONDS = 3.0
"""How long a chain of starts in place waits for one to be Ready; a slower one ends the chain (its Ready
queues the next reconcile, which goes on), so that one slow agent does not hold a worker."""
MAX_CHAINED_STARTS = 512
"""A bound on one chain (a supervisor's width at most, twice for a restart that starts a child twice)."""
"""An Invalid resource is checked again this often: a missing Secret may have been created meanwhile."""


def status_conditions(obj: Mapping[str, Any]) -> Any:
    return (obj.get("status") or {}).get("conditions")


def _now() -> int:
    """Whole seconds of the wall clock: the restart history must mean the same after an operator restart."""
    return int(time.time())


class Controller:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        identity: str,
        *,
        finished_pod_ttl: float = 0.0,
        control_token: str | None = None,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.queue: WorkQueue[ObjectKey] = WorkQueue()
        self.recorder = EventRecorder(kube, identity)
        self.tokens = MessagingTokens(kube)
        self.configs = AgentConfigs(kube, settings)
        self.delivery = ConfigDelivery(settings.agent_port, self._delivered, self.tokens, self.recorder)
        self.dependencies = DependencyWatch(
            settings.agent_port, self.tokens, self._dependency_changed, self._budget_changed
        )
        self.graveyard = Graveyard()
        self.finished = FinishedPods(kube, finished_pod_ttl)
        self.incarnations = (
            None if control_token is None else IncarnationWatch(control_token, self._incarnation_changed)
        )
        if self.incarnations is not None:
            metrics.POD_SUPERVISOR_WATCHES.set_function(self.incarnations.watching)
        self.executor = Executor(
            kube, settings, self.configs, self.graveyard, self.finished, self.incarnations
        )
        self._indexes: Indexes | None = None
        self.writer = ResourceWriter(kube)
        self.readings = SupervisorReadings()
        self.agent_statuses = SupervisedAgentStatuses(self.writer, self.queue.add)
        self._phases: dict[ObjectKey, str] = {}
        self._budgets: dict[ObjectKey, metrics.RestartBudget] = {}
        self.secret_checks = SecretChecks(kube, settings.allow_test_tools, settings.policy)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Future[None] | None = None

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
        if resource_version is not None:
            if self.writer.is_echo(key, resource_version):
                return
            self.writer.drop(key)
        self.queue.add(key)

    def phases(self) -> list[tuple[str, str]]:
        """(kind, phase) of every resource reconciled, for the metrics of resources by phase."""
        return [(key.kind, phase) for key, phase in self._phases.items() if phase]

    def budgets(self) -> list[metrics.RestartBudget]:
        """The restart budget of every supervisor (and standalone Agent) as its last reconcile left it."""
        return list(self._budgets.values())

    def pod_changed(self, pod: Mapping[str, Any], *, deleted: bool) -> None:
        """A pod's watch event: follow its runtime's outages while it serves, and watch its pod supervisor
        while it runs (in-place restarts)."""
        if deleted:
            self.dependencies.forget(pod)
        else:
            self.dependencies.sync(pod)
        if self.incarnations is None:
            return
        if deleted:
            self.incarnations.forget(pod)
        else:
            self.incarnations.sync(pod)

    def _incarnation_changed(self, pod: Mapping[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        self.trigger(supervising_key(meta.get("namespace"), meta.get("labels") or {}))

    def _dependency_changed(self, pod: Mapping[str, Any]) -> None:
        """An agent pod's runtime reported other dependencies: judge its Agent's condition, and its
        supervisor's Degraded, again."""
        meta = pod.get("metadata") or {}
        pod_labels = meta.get("labels") or {}
        namespace = str(meta.get("namespace") or "")
        self.queue.add(ObjectKey(AGENTS.kind, namespace, str(pod_labels.get(labels.AGENT) or "")))
        self.trigger(supervising_key(namespace, pod_labels))

    def _budget_changed(self, pod: Mapping[str, Any]) -> None:
        """An agent pod's runtime reported other token budget figures: its Agent's status only."""
        meta = pod.get("metadata") or {}
        agent = str((meta.get("labels") or {}).get(labels.AGENT) or "")
        self.queue.add(ObjectKey(AGENTS.kind, str(meta.get("namespace") or ""), agent))

    def _budget_report(self, namespace: str, agent: str) -> Mapping[str, Any] | None:
        """The token budget the Agent's serving pod last reported; None when none was read (the status keeps
        what it holds)."""
        report = self.dependencies.report(namespace, agent)
        found = None if report is None else report.get("tokenBudget")
        return found if isinstance(found, Mapping) else None

    def _dependency(self, namespace: str, agent: str, pods: Iterable[Mapping[str, Any]]) -> Judgement | None:
        serving = serving_pod(pods, agent) is not None
        return dependencies.agent_dependency(self.dependencies.report(namespace, agent), serving)

    def _degraded(self, key: ObjectKey, pods: list[Mapping[str, Any]]) -> Judgement:
        """The supervisor's Degraded from its agent children, each with its freshest DependencyAvailable, and
        its child supervisors' Degraded (their status events trigger this parent)."""
        nested = {
            (body["metadata"].get("labels") or {}).get(labels.CHILD, body["metadata"]["name"]): (
                dependencies.with_judgement((body.get("status") or {}).get("conditions"), None)
            )
            for body in self.indexes.supervisors_of(key)
        }
        children = {}
        for body in self.indexes.agents_of(key):
            meta = body["metadata"]
            judgement = self._dependency(key.namespace, meta["name"], pods)
            conditions = (body.get("status") or {}).get("conditions")
            children[(meta.get("labels") or {}).get(labels.CHILD, meta["name"])] = (
                dependencies.with_judgement(conditions, judgement)
            )
        return dependencies.degraded_judgement(children, nested)

    def _observe(
        self, pods: Iterable[Mapping[str, Any]], supervisors: Iterable[Mapping[str, Any]] = ()
    ) -> dict[str, observe.ObservedChild]:
        if self.incarnations is None:
            return observe.observe(pods, supervisors)
        return observe.observe(pods, supervisors, self.incarnations.reports, self.incarnations.refused)

    def _delivered(self, namespace: str, agent: str) -> None:
        self.queue.add(ObjectKey(AGENTS.kind, namespace, agent))

    def start(self, workers: int) -> None:
        """Start the reconcile workers. They, and every task given to `run`, are stopped by `stop`."""
        for n in range(workers):
            self.run(self._work(), name=f"reconciler-{n}")

    def run(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run a long-lived task of the controller's (resync, finished-pod sweeper) until `stop`."""
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        """Stop acting: the workers and owned tasks, then every per-pod stream and pending write.

        Idempotent, and a second caller waits for the first: it runs from kopf's cleanup (on SIGTERM, so
        that kopf does not wait out its grace period for these tasks) and again when kopf has stopped."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.queue.close()
        await self.delivery.close()
        await self.dependencies.close()
        if self.incarnations is not None:
            await self.incarnations.close()
        await self.executor.close()
        await self.recorder.drain()

    async def _work(self) -> None:
        while True:
            key, triggered = await self.queue.get()
            started = time.monotonic()
            try:
                await self.reconcile(key, triggered)
            except ConflictError:
                # Someone wrote the resource after we read it: read it again at once.
                self.writer.drop(key)
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
        obj = self.writer.latest(key)
        if obj is None:
            try:
                obj = await self.kube.get(resource, key.namespace, key.name)
            except NotFoundError:
                self._forget(key)
                return
            self.writer.keep(key, obj)
        if key.kind == AGENT_SUPERVISORS.kind:
            await self._reconcile_supervisor(key, obj, triggered)
        else:
            await self._reconcile_agent(key, obj, triggered)

    def _forget(self, key: ObjectKey) -> None:
        self.queue.forget(key)
        self.executor.forget(key)
        self.readings.forget(key)
        self.writer.forget(key)
        self._phases.pop(key, None)
        if self._budgets.pop(key, None) is not None:
            metrics.forget_supervisor(key.namespace, key.name)
        self.secret_checks.forget(key)
        if key.kind == AGENTS.kind:
            self.agent_statuses.forget(key)
            self.configs.forget(key.namespace, key.name)
            self.delivery.forget(key.namespace, key.name)
            self.tokens.forget(key.namespace, key.name)
        else:
            self.tokens.forget(key.namespace, key.name)
            self.agent_statuses.forget(key)

    # --- AgentSupervisor ----------------------------------------------------------------------------------

    async def _reconcile_supervisor(self, key: ObjectKey, obj: dict[str, Any], triggered: float) -> None:
        meta = obj["metadata"]
        deleting = bool(meta.get("deletionTimestamp"))
        if deleting and FINALIZER not in (meta.get("finalizers") or []):
            return
        try:
            sup, spec = self.readings.spec(key, obj)
            await self.secret_checks.check(key, sup)
        except InvalidResourceError as invalid:
            await self._invalid(key, AGENT_SUPERVISORS, obj, invalid.problems, deleting)
            return
        except PolicyRefusedError as refused:
            await self._refused(key, AGENT_SUPERVISORS, obj, refused.refusals, deleting)
            return
        if not deleting and FINALIZER not in (meta.get("finalizers") or []):
            obj = await self.writer.patch(
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
        pods = self.indexes.pods_of(key)
        observed: Mapping[str, observe.ObservedChild] = self._observe(pods, self.indexes.supervisors_of(key))
        degraded = self._degraded(key, pods)
        previous = obj.get("status") or {}
        try:
            stored = self.readings.stored(key, obj)
            outcome = step(
                obj, sup, spec, observed, _now(), self.settings, stored=stored, judgements=[degraded]
            )
        except CorruptSupervisionError as corrupt:
            await self._invalid(
                key, AGENT_SUPERVISORS, obj, [api.FieldIssue("status.supervision", str(corrupt))], deleting
            )
            return
        obj = await self.writer.write_status(key, AGENT_SUPERVISORS, obj, outcome.status)
        self.readings.written(key, obj, outcome.supervision)
        services = {service["metadata"]["name"]: service for service in self.indexes.services_of(key)}
        target = Target(sup, outcome.state, observed, children, services, triggered, outcome.restarted)
        if not deleting:
            await self.executor.ensure_children(target)
        started = await self.executor.execute(target, outcome.actions)
        if started and not deleting:
            obj, outcome, observed = await self._chain(
                key, obj, sup, spec, outcome, target, started, degraded
            )
        self.executor.annotate_started()
        if not self.agent_statuses.deferrable(key, self.queue.pending(key), time.monotonic()):
            await self.agent_statuses.write(key, self.indexes.agents_of(key), outcome.state, observed, _now())
        self._after(key, obj, spec, outcome)
        self._notify(obj, dependencies.degraded_notice(previous.get("conditions"), status_conditions(obj)))
        if outcome.release_finalizer:
            finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
            await self.writer.patch(key, AGENT_SUPERVISORS, obj, {"metadata": {"finalizers": finalizers}})

    async def _chain(
        self,
        key: ObjectKey,
        obj: dict[str, Any],
        sup: api.AgentSupervisor,
        spec: SupervisorSpec,
        outcome: Outcome,
        target: Target,
        started: list[InPlaceStart],
        degraded: Judgement,
    ) -> tuple[dict[str, Any], Outcome, Mapping[str, observe.ObservedChild]]:
        """Starts in place, one after the other in one reconcile: OTP's synchronous start loop.

        Each start's Ready (or failure) is awaited on the pod supervisor's watch and the plan's next step is
        decided at once; while every step is a start in an existing pod (in_place.chained_starts says why
        that is safe) nothing is written in between. The first step that is anything else is written and done
        as usual; the status is written once at the end. Without this, each step of a group restart was a
        reconcile of its own: a status write and a watch round trip per child.
        """
        assert self.incarnations is not None
        first, observed = outcome, target.observed
        events = list(outcome.events)
        written = True
        for _ in range(MAX_CHAINED_STARTS):
            waits = [self.incarnations.settled(s.pod, s.attempt, CHAIN_WAIT_SECONDS) for s in started]
            if not all(await asyncio.gather(*waits)):
                break  # a slow start: its Ready queues the next reconcile
            observed = self._observe(self.indexes.pods_of(key), self.indexes.supervisors_of(key))
            following = step(
                obj,
                sup,
                spec,
                observed,
                _now(),
                self.settings,
                stored=outcome.supervision,
                judgements=[degraded],
                render_status=False,
            )
            if following.state == outcome.state:
                break
            outcome = following
            events += following.events
            target = replace(target, state=following.state, observed=observed)
            chain = in_place.chained_starts(following.state, observed, following.actions)
            if chain is None:
                outcome = with_supervisor_status(following, obj, sup, spec, observed, _now(), [degraded])
                obj = await self.writer.write_status(key, AGENT_SUPERVISORS, obj, outcome.status)
                self.readings.written(key, obj, outcome.supervision)
                written = True
                await self.executor.execute(target, following.actions)
                break
            written = False
            started = await self.executor.start_chained(target, chain)
            if len(started) < len(chain):
                break  # a pod supervisor did not take it: the next reconcile decides again, written first
        outcome = replace(outcome, before=first.before, events=tuple(events))
        if not written:
            outcome = with_supervisor_status(outcome, obj, sup, spec, observed, _now(), [degraded])
            obj = await self.writer.write_status(key, AGENT_SUPERVISORS, obj, outcome.status)
            self.readings.written(key, obj, outcome.supervision)
        return obj, outcome, observed

    # --- Agent --------------------------------------------------------------------------------------------

    async def _reconcile_agent(self, key: ObjectKey, obj: dict[str, Any], triggered: float) -> None:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return
        supervisor = labels.supervisor_of(meta.get("labels"))
        try:
            agent = parse_agent(obj)
            await self.secret_checks.check(key, agent)
            spec = None if supervisor is not None else standalone_spec(agent)
            if spec is not None:
                # The pod reads the tree's token from the first start on: the root owns it.
                await self.tokens.ensure(agent)
            rendered = await self.configs.ensure(agent)
        except InvalidResourceError as invalid:
            await self._invalid(key, AGENTS, obj, invalid.problems, deleting=False)
            return
        except PolicyRefusedError as refused:
            await self._refused(key, AGENTS, obj, refused.refusals, deleting=False)
            return
        except RenderError as error:
            field, _, message = str(error).partition(": ")
            await self._invalid(key, AGENTS, obj, [api.FieldIssue(field, message)], deleting=False)
            return
        owner = ObjectKey(AGENT_SUPERVISORS.kind, key.namespace, supervisor) if supervisor else key
        pods = self.indexes.pods_of(owner)
        previous = obj.get("status") or {}
        applied = await self.delivery.applied_revision(agent, pods, rendered.revision, previous)
        generation = meta.get("generation")
        now = _now()
        dependency = self._dependency(key.namespace, key.name, pods)
        budget = self._budget_report(key.namespace, key.name)
        if spec is None:
            desired = status.config_status(
                generation, rendered.revision, applied, now, obj.get("status"), dependency, budget
            )
            obj = await self.writer.write_status(key, AGENTS, obj, desired)
            self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
            self._notify_dependency(obj, previous)
            return
        observed = self._observe(pods)
        config = ConfigReport(rendered.revision, applied, dependency, budget)
        try:
            outcome = step(obj, agent, spec, observed, now, self.settings, config)
        except CorruptSupervisionError as corrupt:
            await self._invalid(key, AGENTS, obj, [api.FieldIssue("status.supervision", str(corrupt))], False)
            return
        obj = await self.writer.write_status(key, AGENTS, obj, outcome.status)
        target = Target(agent, outcome.state, observed, {}, {}, triggered, outcome.restarted)
        await self.executor.execute(target, outcome.actions)
        self.executor.annotate_started()
        self._after(key, obj, spec, outcome)
        self._notify_dependency(obj, previous)

    # --- shared steps -------------------------------------------------------------------------------------

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
        message = "; ".join(str(p) for p in problems)
        await self._not_run(key, resource, obj, desired, ("Invalid", message), deleting)

    async def _refused(
        self,
        key: ObjectKey,
        resource: Resource,
        obj: dict[str, Any],
        refusals: list[Refusal],
        deleting: bool,
    ) -> None:
        """The operator's policy refuses the resource: PolicyAllowed False, and nothing is created for it."""
        meta = obj["metadata"]
        desired = status.refused_status(meta.get("generation"), refusals, _now(), obj.get("status"))
        message = "; ".join(str(r) for r in refusals)
        await self._not_run(key, resource, obj, desired, ("PolicyRefused", message), deleting)

    async def _not_run(
        self,
        key: ObjectKey,
        resource: Resource,
        obj: dict[str, Any],
        desired: dict[str, Any],
        event: tuple[str, str],
        deleting: bool,
    ) -> None:
        """One status write for a resource the operator will not run, and a re-check later: a missing Secret
        may be created, or a refused one labelled, meanwhile."""
        meta = obj["metadata"]
        written = await self.writer.write_status(key, resource, obj, desired)
        if written is not obj:
            # Only a new verdict is news; the periodic re-check of an unchanged one posts nothing.
            self.recorder.record(written, "Warning", *event)
        obj = written
        self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
        if deleting:
            # Nothing can be stopped in order without a valid spec; garbage collection removes the rest.
            finalizers = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
            await self.writer.patch(key, resource, obj, {"metadata": {"finalizers": finalizers}})
            return
        self.queue.add_after(key, INVALID_RECHECK_SECONDS)

    def _notify_dependency(self, written: Mapping[str, Any], previous: Mapping[str, Any]) -> None:
        """After the status write: an Event when the Agent's DependencyAvailable or BudgetAvailable
        changed."""
        before, after = previous.get("conditions"), status_conditions(written)
        self._notify(written, dependencies.transition_notice(before, after))
        self._notify(written, budgets.transition_notice(before, after))

    def _notify(self, written: Mapping[str, Any], notice: dependencies.Notice | None) -> None:
        """Post `notice` about the object just written (after the write: an Event never runs ahead of the
        status it describes)."""
        if notice is not None:
            self.recorder.record(written, notice.type, notice.reason, notice.message)

    def _after(self, key: ObjectKey, obj: Mapping[str, Any], spec: SupervisorSpec, outcome: Outcome) -> None:
        """What follows a successful write: Events, metrics, and the next timed wake-up."""
        for event in outcome.events:
            self.recorder.record(obj, event.type.value, event.reason.value, event.message)
        metrics.count_decisions(key.namespace, key.name, spec.strategy.value, outcome)
        self._phases[key] = str((obj.get("status") or {}).get("phase") or "")
        self._budgets[key] = metrics.RestartBudget(
            key.namespace, key.name, spec.max_restarts, spec.period_seconds, tuple(outcome.state.restarts)
        )
        if outcome.wake_at is not None:
            # Whole seconds are compared with `>=`: wake just after the second begins.
            self.queue.add_after(key, outcome.wake_at - time.time() + 0.05)
