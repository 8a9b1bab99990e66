"""The operator's Prometheus metrics and its HTTP endpoint (`/metrics`, liveness `/healthz`, `/readyz`).

Counters are fed by the reconciler from what the supervision core decided; the agents and supervisors by phase
are read from the reconciler's in-memory table at scrape time, so they cost nothing between scrapes.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agent_supervisor.supervision import EventReason, budget_left
from agent_supervisor.translate.step import Outcome

log = logging.getLogger(__name__)

PREFIX: Final = "agent_supervisor"

RESTARTS = Counter(
    f"{PREFIX}_restarts",
    "Child restarts decided by a supervisor, by why the child exited.",
    ["namespace", "supervisor", "child", "reason"],
)
GROUP_RESTARTS = Counter(
    f"{PREFIX}_group_restarts",
    "Group restarts (one_for_all, rest_for_one) decided by a supervisor.",
    ["namespace", "supervisor", "strategy"],
)
BUDGET_EXHAUSTIONS = Counter(
    f"{PREFIX}_restart_budget_exhaustions",
    "Times a supervisor exceeded its restart intensity.",
    ["namespace", "supervisor"],
)
ESCALATIONS = Counter(
    f"{PREFIX}_escalations",
    "Times a supervisor stopped all its children and exited after exceeding its restart intensity.",
    ["namespace", "supervisor"],
)
REACTION_SECONDS = Histogram(
    f"{PREFIX}_reaction_seconds",
    "From the watch event that revealed a child's exit to the creation of its replacement pod (or the pod "
    "supervisor's answer to an in-place start).",
    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
)
IN_PLACE_RESTARTS = Counter(
    f"{PREFIX}_in_place_starts",
    "Incarnations started as a new process inside the pod of the previous one (in-place restarts).",
)
POD_SUPERVISOR_WATCHES = Gauge(
    f"{PREFIX}_pod_supervisor_watches",
    "Connected watches of agent pods' pod supervisors (one per running agent pod with in-place restarts).",
)
RESYNC_VANISHED = Counter(
    f"{PREFIX}_resync_vanished_objects",
    "Objects found gone by the periodic resync although no watch event reported their deletion.",
)
RESYNC_SECONDS = Histogram(
    f"{PREFIX}_resync_seconds",
    "Duration of one periodic resync (the LISTs and the comparison with the indexes).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
FINISHED_PODS_DELETED = Counter(
    f"{PREFIX}_finished_pods_deleted",
    "Finished pods of replaced incarnations deleted in batches once --finished-pod-ttl had passed.",
)
RECONCILES = Counter(
    f"{PREFIX}_reconciles", "Reconciles of supervising resources and agents.", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    f"{PREFIX}_reconcile_seconds",
    "Duration of one reconcile.",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
API_REQUESTS = Counter(
    f"{PREFIX}_api_requests",
    "Kubernetes API requests of the operator's own client (kopf's watches excluded).",
    ["verb", "resource"],
)
API_ERRORS = Counter(
    f"{PREFIX}_api_errors",
    "Failed Kubernetes API requests of the operator, by verb and HTTP status (0: no response).",
    ["verb", "code"],
)
LEADER = Gauge(f"{PREFIX}_leader", "1 while this replica holds the leader Lease and acts, else 0.")


def count_api_response(verb: str, resource: str, status: int) -> None:
    API_REQUESTS.labels(verb=verb, resource=resource).inc()
    if status == 0 or status >= 400:
        API_ERRORS.labels(verb=verb, code=str(status)).inc()


PhaseTable = Iterable[tuple[str, str]]
"""(kind, phase) of each resource the reconciler knows."""


class PhaseCollector(Collector):
    """`agent_supervisor_resources{kind, phase}`: how many Agents and AgentSupervisors are in each phase."""

    def __init__(self, phases: Callable[[], PhaseTable]) -> None:
        self._phases = phases

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            f"{PREFIX}_resources", "Agents and AgentSupervisors by phase.", labels=["kind", "phase"]
        )
        tally = Tally(self._phases())
        for (kind, phase), count in sorted(tally.items()):
            family.add_metric([kind, phase], count)
        yield family


def register_phases(phases: Callable[[], PhaseTable]) -> Collector:
    collector = PhaseCollector(phases)
    REGISTRY.register(collector)
    return collector


@dataclass(frozen=True, slots=True)
class RestartBudget:
    """A supervisor's (or a standalone Agent's) restart intensity and the restarts its last reconcile saw."""

    namespace: str
    supervisor: str
    max_restarts: int
    period_seconds: int
    history: Sequence[int]
    """Unix times in whole seconds, newest first (SupervisorState.restarts)."""


class BudgetCollector(Collector):
    """`agent_supervisor_restart_budget_left` and `agent_supervisor_restart_budget_max` per supervisor.

    The budget refills as restarts leave the window, with no reconcile to notice, so it is computed from the
    history at scrape time rather than copied from the status (whose restartBudgetLeft is as of its write).
    """

    def __init__(self, budgets: Callable[[], Iterable[RestartBudget]], clock: Callable[[], float]) -> None:
        self._budgets = budgets
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["namespace", "supervisor"]
        left = GaugeMetricFamily(
            f"{PREFIX}_restart_budget_left",
            "Restarts a supervisor may still make before it exceeds its restart intensity (status "
            "restartBudgetLeft, as of the scrape).",
            labels=labels,
        )
        most = GaugeMetricFamily(
            f"{PREFIX}_restart_budget_max",
            "A supervisor's restart intensity: the restarts allowed within its period (spec maxRestarts).",
            labels=labels,
        )
        now = int(self._clock())
        for budget in self._budgets():
            key = [budget.namespace, budget.supervisor]
            left.add_metric(key, budget_left(budget.history, now, budget.max_restarts, budget.period_seconds))
            most.add_metric(key, budget.max_restarts)
        yield left
        yield most


def register_budgets(budgets: Callable[[], Iterable[RestartBudget]]) -> Collector:
    collector = BudgetCollector(budgets, time.time)
    REGISTRY.register(collector)
    return collector


class HealthServer:
    """Serves /metrics, /healthz (the process and its event loop answer) and /readyz (it is acting)."""

    def __init__(self, host: str, port: int, ready: Callable[[], bool]) -> None:
        self._host = host
        self._port = port
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(
            [
                web.get("/metrics", self._metrics),
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("metrics and health endpoints on http://%s:%d", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ready = self._ready()
        return web.json_response({"ready": ready}, status=200 if ready else 503)


def count_decisions(namespace: str, supervisor: str, strategy: str, outcome: Outcome) -> None:
    """The restart counters of what one reconcile decided."""
    # Both counters exist at 0 from the first reconcile on, so that the alert on their increase() sees the
    # first exhaustion: a series born at 1 has no earlier sample to increase from.
    exhaustions = BUDGET_EXHAUSTIONS.labels(namespace, supervisor)
    escalations = ESCALATIONS.labels(namespace, supervisor)
    for name in outcome.restarted:
        child = outcome.state.find(name)
        if child is not None:
            reason = "unknown" if child.last_exit is None else child.last_exit.reason.value
            RESTARTS.labels(namespace, supervisor, name, reason).inc()
    for event in outcome.events:
        if event.reason is EventReason.GROUP_RESTARTED:
            GROUP_RESTARTS.labels(namespace, supervisor, strategy).inc()
        elif event.reason is EventReason.INTENSITY_EXCEEDED:
            exhaustions.inc()
        elif event.reason is EventReason.ESCALATED:
            escalations.inc()


def forget_supervisor(namespace: str, supervisor: str) -> None:
    """Drop a deleted supervisor's per-supervisor counters, so that they do not pile up in the operator."""
    for counter in (BUDGET_EXHAUSTIONS, ESCALATIONS):
        with contextlib.suppress(KeyError):
            counter.remove(namespace, supervisor)
