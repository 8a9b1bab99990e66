"""The OTP supervision core: a pure, deterministic state machine with no I/O and no clock.

The operator feeds it events and executes the actions it returns:

    decision = decide(spec, state, event, now)
    persist(decision.state)            # before acting: the state is the supervisor
    execute(decision.actions)          # every action is idempotent
    # after an operator restart: execute(pending_actions(persisted_state)) before handling new events
"""

from agent_supervisor.supervision.actions import (
    Action,
    EmitEvent,
    EventReason,
    EventType,
    RemoveChild,
    ShutdownSelf,
    StartChild,
    StopChild,
    WaitUntil,
)
from agent_supervisor.supervision.decide import Decision, decide
from agent_supervisor.supervision.events import (
    ChildExited,
    ChildMissing,
    ChildReady,
    ChildStartFailed,
    Event,
    SpecChanged,
    Start,
    Stop,
    Tick,
)
from agent_supervisor.supervision.exits import ExitReason, ExitRecord
from agent_supervisor.supervision.intensity import budget_left, restarts_in_window
from agent_supervisor.supervision.pending import pending_actions
from agent_supervisor.supervision.spec import (
    AutoShutdown,
    Backoff,
    ChildKind,
    ChildSpec,
    RestartType,
    ShutdownPolicy,
    Strategy,
    SupervisorSpec,
)
from agent_supervisor.supervision.state import (
    ChildLifecycle,
    ChildState,
    PlanPurpose,
    ShutdownReason,
    SupervisorLifecycle,
    SupervisorState,
)

__all__ = [
    "Action",
    "AutoShutdown",
    "Backoff",
    "ChildExited",
    "ChildKind",
    "ChildLifecycle",
    "ChildMissing",
    "ChildReady",
    "ChildSpec",
    "ChildStartFailed",
    "ChildState",
    "Decision",
    "EmitEvent",
    "Event",
    "EventReason",
    "EventType",
    "ExitReason",
    "ExitRecord",
    "PlanPurpose",
    "RemoveChild",
    "RestartType",
    "ShutdownPolicy",
    "ShutdownReason",
    "ShutdownSelf",
    "SpecChanged",
    "Start",
    "StartChild",
    "Stop",
    "StopChild",
    "Strategy",
    "SupervisorLifecycle",
    "SupervisorSpec",
    "SupervisorState",
    "Tick",
    "WaitUntil",
    "budget_left",
    "decide",
    "pending_actions",
    "restarts_in_window",
]
