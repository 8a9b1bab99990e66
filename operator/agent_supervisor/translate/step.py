"""One reconcile's decisions as a pure function: what the shell read, in; what it must write and do, out.

    step(body, resource, spec, observed, now, settings)
        -> Outcome(supervision, status, events, actions, wake_at)

The shell around it (controller/reconciler.py) reads the resource and its children, calls `step`, writes
`Outcome.status` in one request, executes `Outcome.actions` (all idempotent), posts `Outcome.events`, and
requeues for `Outcome.wake_at`. Everything that decides lives here, so a replayed reconcile - the same
resource and the same observation, after a crash between the status write and the actions - decides nothing
new and finds the same actions still pending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.supervision import (
    Action,
    EmitEvent,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    WaitUntil,
    decide,
    pending_actions,
)
from agent_supervisor.translate import labels, observe, status, triggers
from agent_supervisor.translate.conditions import Judgement
from agent_supervisor.translate.observe import ObservedChild
from agent_supervisor.translate.settings import OperatorSettings
from agent_supervisor.translate.stored_supervision import Supervision

MAX_ROUNDS: Final = 64
"""A bound on the rounds of decisions one reconcile makes; each round consumes its events, so a handful
suffices (see `decide_all`): the bound only guards against a bug turning into a busy loop."""


@dataclass(frozen=True, slots=True)
class ConfigReport:
    """An Agent's config revisions: the one rendered from its spec, and the one its running pod reports."""

    revision: str
    applied: str | None
    dependency: Judgement | None = None
    """DependencyAvailable from the agent's runtime report (None keeps the stored one)."""
    budget: Mapping[str, Any] | None = None
    """The token budget the agent's runtime last reported (translate/budgets.py; None keeps the status)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one reconcile decided: the status to write, then the actions to execute and the Events to post."""

    before: SupervisorState
    """The state as read from status, for the shell's metrics."""
    supervision: Supervision
    status: dict[str, Any]
    """The desired status; the shell writes its difference from the stored one (status.status_patch)."""
    events: tuple[EmitEvent, ...]
    """The Events the decisions emitted, posted after the status write."""
    actions: tuple[Action, ...]
    """What the new state still asks for, to execute after the status write."""
    wake_at: int | None
    """Unix second of the next deadline (a restart delay, a start deadline): the shell requeues then."""
    deleting: bool

    @property
    def state(self) -> SupervisorState:
        return self.supervision.state

    @property
    def restarted(self) -> frozenset[str]:
        """The children whose restart this reconcile decided."""
        return restarted(self.before, self.state)

    @property
    def release_finalizer(self) -> bool:
        """A deleted supervising resource whose children have all stopped may go."""
        return self.deleting and self.state.lifecycle is SupervisorLifecycle.TERMINATED


def restarted(before: SupervisorState, after: SupervisorState) -> frozenset[str]:
    """The children whose restart count grew from `before` to `after`."""
    counts = {child.name: child.restarts for child in before.children}
    return frozenset(child.name for child in after.children if child.restarts > counts.get(child.name, 0))


def step(
    body: Mapping[str, Any],
    resource: api.Agent | api.AgentSupervisor,
    spec: SupervisorSpec,
    observed: Mapping[str, ObservedChild],
    now: int,
    settings: OperatorSettings,
    config: ConfigReport | None = None,
    *,
    stored: Supervision | None = None,
    judgements: Sequence[Judgement] = (),
    render_status: bool = True,
) -> Outcome:
    """Decide for a supervising resource (an AgentSupervisor, or a standalone Agent with `config`) at `now`.

    `body` is the resource as read (metadata and status); `resource` and `spec` are its parsed and projected
    spec; `observed` is what exists of its children (observe.observe); `stored`, when the caller knows it,
    is what `body`'s status.supervision holds (its parse is saved). With `render_status` False an
    AgentSupervisor's Outcome has an empty status, for decisions that are not written yet (a chain of starts
    in place): `with_supervisor_status` renders it before the write. Raises CorruptSupervisionError when
    status.supervision cannot be read: acting on a guess could restart or orphan children.
    """
    meta = body.get("metadata") or {}
    previous = body.get("status") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    facts = triggers.ResourceFacts(
        annotations=meta.get("annotations") or {},
        generation=meta.get("generation"),
        observed_generation=previous.get("observedGeneration"),
        deleting=deleting,
        nested=isinstance(resource, api.AgentSupervisor)
        and labels.supervisor_of(meta.get("labels")) is not None,
    )
    supervision = Supervision.read(previous, spec) if stored is None else stored
    before = supervision.state
    supervision, emitted = decide_all(
        spec, supervision, facts, observed, now, start_deadline_seconds=settings.start_deadline_seconds
    )
    if isinstance(resource, api.AgentSupervisor):
        desired = (
            status.supervisor_status(
                resource, spec, supervision, observed, now, previous=previous, extra=judgements
            )
            if render_status
            else {}
        )
    else:
        if config is None:
            raise TypeError("a standalone Agent's step needs its ConfigReport")
        desired = status.standalone_agent_status(resource, spec, supervision, now, previous, observed)
        desired = status.config_status(
            meta.get("generation"),
            config.revision,
            config.applied,
            now,
            desired,
            config.dependency,
            config.budget,
        )
    return Outcome(
        before=before,
        supervision=supervision,
        status=desired,
        events=tuple(emitted),
        actions=tuple(pending_actions(supervision.state)),
        wake_at=wake_at(supervision.state, observed, start_deadline_seconds=settings.start_deadline_seconds),
        deleting=deleting,
    )


def with_supervisor_status(
    outcome: Outcome,
    body: Mapping[str, Any],
    resource: api.AgentSupervisor,
    spec: SupervisorSpec,
    observed: Mapping[str, ObservedChild],
    now: int,
    judgements: Sequence[Judgement] = (),
) -> Outcome:
    """`outcome` with the status its decisions give (for one made with `render_status=False`)."""
    desired = status.supervisor_status(
        resource,
        spec,
        outcome.supervision,
        observed,
        now,
        previous=body.get("status") or {},
        extra=judgements,
    )
    return replace(outcome, status=desired)


def decide_all(
    spec: SupervisorSpec,
    supervision: Supervision,
    facts: triggers.ResourceFacts,
    observed: Mapping[str, ObservedChild],
    now: int,
    *,
    start_deadline_seconds: int,
) -> tuple[Supervision, list[EmitEvent]]:
    """Feed the core every event the resource and its children reveal at `now`, until nothing changes.

    Returns the new supervision and the Events the decisions emitted.
    """
    control, supervision = triggers.control_events(facts, supervision, now)
    state = supervision.state
    emitted: list[EmitEvent] = []
    events = list(control)
    # What the children reveal is re-read after each round: a decision can make an observation count
    # (a child being stopped whose pod is already gone has finished stopping). Each event is about the
    # current attempt and is consumed by the decision, so this ends when a round changes nothing.
    for _ in range(MAX_ROUNDS):
        events += observe.events_from_observation(
            state, observed, now, start_deadline_seconds=start_deadline_seconds
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
    return supervision.with_state(observe.past_unrecorded(state, observed)), emitted


def wake_at(
    state: SupervisorState, observed: Mapping[str, ObservedChild], *, start_deadline_seconds: int
) -> int | None:
    """The earliest second at which something is due without any watch event: a delayed restart, a start
    deadline, or a deleted pod taken for ended (observe.next_deletion_settle)."""
    wake = [action.at for action in pending_actions(state) if isinstance(action, WaitUntil)]
    deadline = observe.next_start_deadline(state, observed, start_deadline_seconds=start_deadline_seconds)
    settle = observe.next_deletion_settle(state, observed)
    wake += [at for at in (deadline, settle) if at is not None]
    return min(wake, default=None)
