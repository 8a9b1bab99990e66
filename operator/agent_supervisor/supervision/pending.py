"""The actions a state still requires, derived from the state alone.

The operator persists the new state before it acts and may crash in between, so actions must be re-derivable:
after a restart it executes `pending_actions` for the persisted state (all of them are idempotent) before it
handles new events. `decide` returns exactly the derived actions that the previous state did not already
require, so a decision and its replay can never disagree.
"""

from __future__ import annotations

from agent_supervisor.supervision.actions import (
    Action,
    RemoveChild,
    ShutdownSelf,
    StartChild,
    StopChild,
    WaitUntil,
)
from agent_supervisor.supervision.state import (
    ChildLifecycle,
    SupervisorLifecycle,
    SupervisorState,
)


def pending_actions(state: SupervisorState) -> tuple[Action, ...]:
    """Everything `state` still waits on the operator for: stops, starts, removals, a wake-up, its own exit.

    Kubernetes Events are not included: they are a record, not work, and are emitted once by `decide`.
    """
    stops = [
        StopChild(name=child.name, attempt=child.attempt, shutdown=child.shutdown)
        for child in reversed(state.children)
        if child.lifecycle is ChildLifecycle.STOPPING
    ]
    starts = [
        StartChild(name=child.name, attempt=child.attempt, template_hash=child.template_hash)
        for child in state.children
        if child.lifecycle is ChildLifecycle.STARTING
    ]
    removals = [RemoveChild(name=name) for name in state.removals]
    wake = _wake_time(state)
    waits = [] if wake is None else [WaitUntil(at=wake)]
    exits = (
        [ShutdownSelf(reason=state.shutdown_reason)]
        if state.lifecycle is SupervisorLifecycle.TERMINATED and state.shutdown_reason is not None
        else []
    )
    return (*stops, *starts, *removals, *waits, *exits)


def new_actions(before: SupervisorState, after: SupervisorState) -> tuple[Action, ...]:
    """The actions `after` requires that `before` did not; removals are always new (set per decision)."""
    already = set(pending_actions(before))
    return tuple(
        action
        for action in pending_actions(after)
        if isinstance(action, RemoveChild) or action not in already
    )


def _wake_time(state: SupervisorState) -> int | None:
    if state.lifecycle not in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING):
        return None
    waiting = [
        child.not_before
        for child in state.children
        if child.lifecycle is ChildLifecycle.RESTARTING and child.not_before is not None
    ]
    return min(waiting, default=None)
