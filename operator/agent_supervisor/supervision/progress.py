"""Making progress: after each event, do everything the state allows now - run the plan's next steps, finish
a start-up or shutdown, plan the next spec change, start restarts whose delay has passed. Afterwards only an
event or time can move the supervisor further.
"""

from __future__ import annotations

from agent_supervisor.supervision.actions import EventReason, EventType
from agent_supervisor.supervision.dynamic import forget_departed, next_spec_change
from agent_supervisor.supervision.plans import run_first_step
from agent_supervisor.supervision.state import (
    ChildLifecycle,
    ShutdownReason,
    SupervisorLifecycle,
)
from agent_supervisor.supervision.turn import Turn


def make_progress(turn: Turn) -> None:
    """Do everything the state allows now; afterwards only an event or time can move it further."""
    while True:
        forget_departed(turn)
        if run_first_step(turn):
            continue
        if turn.state.plan is None and _after_plan(turn):
            continue
        break
    _start_due_restarts(turn)


def _after_plan(turn: Turn) -> bool:
    """With no plan left: finish start-up or shutdown, or plan the next spec change. True if there is more."""
    state = turn.state
    match state.lifecycle:
        case SupervisorLifecycle.STARTING:
            state.lifecycle = SupervisorLifecycle.RUNNING
            turn.emit(EventType.NORMAL, EventReason.STARTED, f"started {len(state.children)} children")
            return True
        case SupervisorLifecycle.SHUTTING_DOWN:
            state.lifecycle = SupervisorLifecycle.TERMINATED
            _announce_termination(turn)
            return False
        case SupervisorLifecycle.RUNNING:
            state.plan = next_spec_change(turn)
            return state.plan is not None
        case _:
            return False


def _announce_termination(turn: Turn) -> None:
    match turn.state.shutdown_reason:
        case ShutdownReason.REACHED_MAX_RESTART_INTENSITY:
            turn.emit(
                EventType.WARNING,
                EventReason.ESCALATED,
                "all children stopped after the restart intensity was exceeded; exiting with reason shutdown",
            )
        case ShutdownReason.FAILED_TO_START_CHILD:
            turn.emit(
                EventType.WARNING,
                EventReason.FAILED_TO_START,
                "a child failed to start; the children already started were stopped",
            )
        case reason:
            turn.emit(EventType.NORMAL, EventReason.STOPPED, f"all children stopped ({reason})")


def _start_due_restarts(turn: Turn) -> None:
    """Start one_for_one restarts whose backoff has expired; group restarts are started by their plan."""
    state = turn.state
    if state.lifecycle not in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING):
        return
    planned = set() if state.plan is None else {step.child for step in state.plan.steps}
    for child in state.children:
        if (
            child.lifecycle is ChildLifecycle.RESTARTING
            and child.name not in planned
            and (child.not_before is None or child.not_before <= turn.now)
        ):
            turn.launch(child)
