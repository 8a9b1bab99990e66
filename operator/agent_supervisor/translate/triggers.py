"""The events a supervising resource gives its own core: Start, Stop, SpecChanged and Tick.

They come from the resource itself, not from its children: its deletion, its spec's generation, the manual
reset annotation, the time, and - for a nested supervisor - the incarnation and stop annotations its parent
sets (docs/operator-design.md, "Who supervises what").
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
    reset = facts.annotations.get(labels.RESTART)
    new_reset = reset is not None and reset != supervision.reset
    if new_reset:
        # Remember every new value, so that one set while the resource runs does not reset a later failure.
        supervision = replace(supervision, reset=reset)
    if lifecycle is SupervisorLifecycle.IDLE:
        return [Start()], supervision
    if lifecycle is SupervisorLifecycle.TERMINATED and (new_reset or facts.spec_changed):
        return [Start()], supervision
    return [], supervision


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
    return events, supervision


def _backoff_due(supervision: Supervision, now: int) -> bool:
    return any(
        child.lifecycle is ChildLifecycle.RESTARTING
        and child.not_before is not None
        and child.not_before <= now
        for child in supervision.state.children
    )
