"""The events a supervising resource gives its own core: Start, Stop, SpecChanged and Tick.

They come from the resource itself, not from its children: its deletion, its spec's generation, the manual
reset annotation, the time, and - for a nested supervisor - the incarnation and stop annotations its parent
sets (docs/operator-design.md, "Who supervises what").

A new reset value on a running supervisor (root or nested) with an added child whose start failed is a
`Start`, which the core takes as "try that child again" (docs/supervision.md, "Deliberate differences").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from agent_supervisor.supervision import (
    ChildLifecycle,
    Event,
    SpecChanged,
    Start,
    Stop,
    SupervisorLifecycle,
    Tick,
)
from agent_supervisor.translate import labels
from agent_supervisor.translate.stored_supervision import Supervision


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """What the triggers read from the supervising resource itself."""

    annotations: Mapping[str, str]
    generation: int | None
    observed_generation: int | None
    """status.observedGeneration: the generation the last status was computed from."""
    deleting: bool
    nested: bool
    """A child AgentSupervisor, started and stopped by its parent rather than on its own."""

    @property
    def spec_changed(self) -> bool:
        return self.generation is not None and self.generation != self.observed_generation


def control_events(
    facts: ResourceFacts, supervision: Supervision, now: int
) -> tuple[list[Event], Supervision]:
    """The events to feed the core before the children's, and the bookkeeping to persist with the state."""
    state = supervision.state
    lifecycle = state.lifecycle
    if facts.deleting:
        stopping = lifecycle in (SupervisorLifecycle.SHUTTING_DOWN, SupervisorLifecycle.TERMINATED)
        return ([] if stopping else [Stop()]), supervision
    events: list[Event]
    if facts.nested:
        events, supervision = _nested(facts, supervision)
    else:
        events, supervision = _root(facts, supervision)
    if (
        not events
        and facts.spec_changed
        and lifecycle in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING)
    ):
        events.append(SpecChanged())
    if _backoff_due(supervision, now):
        events.append(Tick())
    return events, supervision


def _root(facts: ResourceFacts, supervision: Supervision) -> tuple[list[Event], Supervision]:
    """A root supervisor or standalone Agent starts on creation; once terminated it stays so until its spec
    changes or the user sets the reset annotation to a new value."""
    lifecycle = supervision.state.lifecycle
    new_reset, supervision = _new_reset(facts, supervision)
    if lifecycle is SupervisorLifecycle.IDLE:
        return [Start()], supervision
    if lifecycle is SupervisorLifecycle.TERMINATED and (new_reset or facts.spec_changed):
        return [Start()], supervision
    return _retry_failed_starts(supervision, new_reset), supervision


def _new_reset(facts: ResourceFacts, supervision: Supervision) -> tuple[bool, Supervision]:
    """Whether the reset annotation holds a value not honoured yet; every new value is remembered, so that
    one set while the resource runs does not reset a later failure."""
    reset = facts.annotations.get(labels.RESTART)
    if reset is None or reset == supervision.reset:
        return False, supervision
    return True, replace(supervision, reset=reset)


def _retry_failed_starts(supervision: Supervision, new_reset: bool) -> list[Event]:
    """A new reset value while running: Start, which tries again the added children whose start failed."""
    state = supervision.state
    running = state.lifecycle in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING)
    failed = any(child.lifecycle is ChildLifecycle.START_FAILED for child in state.children)
    return [Start()] if new_reset and running and failed else []


def _nested(facts: ResourceFacts, supervision: Supervision) -> tuple[list[Event], Supervision]:
    """A child supervisor runs the incarnation its parent names, and stops when its parent asks."""
    lifecycle = supervision.state.lifecycle
    wanted = labels.annotation_number(facts.annotations, labels.INCARNATION)
    stop = labels.annotation_number(facts.annotations, labels.STOP)
    events: list[Event] = []
    newer = wanted is not None and (supervision.incarnation is None or wanted > supervision.incarnation)
    # A parent that asked to stop an incarnation before it started wins: it never starts.
    if wanted is not None and newer and (stop is None or stop < wanted):
        if lifecycle in (SupervisorLifecycle.IDLE, SupervisorLifecycle.TERMINATED):
            events.append(Start())
            supervision = replace(supervision, incarnation=wanted)
        elif lifecycle in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING):
            # The parent lost track of an incarnation that is still running: it carries on as the new one.
            supervision = replace(supervision, incarnation=wanted)
        # shutting down: the new incarnation starts once this one has terminated
    current = supervision.incarnation
    running = supervision.state.lifecycle in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING)
    if stop is not None and current is not None and stop >= current and running:
        events.append(Stop())
    # Only its parent starts a nested supervisor; the reset annotation only retries failed added children.
    new_reset, supervision = _new_reset(facts, supervision)
    if not events:
        events = _retry_failed_starts(supervision, new_reset)
    return events, supervision


def _backoff_due(supervision: Supervision, now: int) -> bool:
    return any(
        child.lifecycle is ChildLifecycle.RESTARTING
        and child.not_before is not None
        and child.not_before <= now
        for child in supervision.state.children
    )
