"""The supervisor state machine: every OTP supervision rule, in one place, read top to bottom.

`decide(spec, state, event, now)` is pure: it reads no clock and does no I/O, never mutates its arguments, and
returns the new state plus the actions the operator must take. The structure follows OTP's `supervisor.erl`:

    an event about a child  ->  was this stop expected?      (terminate_children / shutdown)
                            ->  did a start fail?            (start_children / try_again_restart)
                            ->  restart it, by its type       (do_restart)
                            ->  within the intensity?         (add_restart)
                            ->  by the strategy               (restart/3, restart_multiple_children)
                            ->  or shut down automatically    (do_auto_shutdown)

Where pods force a difference from OTP (asynchronous stops and starts, spec edits as the dynamic-children API,
backoff, whole seconds) the code says so; docs/supervision.md lists every difference and its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_supervisor.supervision.actions import Action, EventReason, EventType
from agent_supervisor.supervision.backoff import restart_delay, streak_continues
from agent_supervisor.supervision.dynamic import join_failed, reconcile_children, retry_failed_starts
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
from agent_supervisor.supervision.intensity import record_restart, within_intensity
from agent_supervisor.supervision.pending import new_actions
from agent_supervisor.supervision.progress import make_progress
from agent_supervisor.supervision.spec import (
    AutoShutdown,
    RestartType,
    Strategy,
    SupervisorSpec,
)
from agent_supervisor.supervision.state import (
    ALIVE,
    ChildLifecycle,
    ChildState,
    Plan,
    PlanPurpose,
    ShutdownReason,
    Step,
    SupervisorLifecycle,
    SupervisorState,
)
from agent_supervisor.supervision.turn import Turn


@dataclass(frozen=True, slots=True)
class Decision:
    state: SupervisorState
    """Persist this before executing the actions."""
    actions: tuple[Action, ...]


def decide(spec: SupervisorSpec, state: SupervisorState, event: Event, now: int) -> Decision:
    """Apply one event at `now` (whole seconds on a clock that survives operator restarts)."""
    turn = Turn.begin(spec, state, now)
    reconcile_children(turn)
    match event:
        case Start():
            _start(turn)
        case Stop():
            _stop(turn)
        case ChildReady(name=name, attempt=attempt):
            _child_ready(turn, name, attempt)
        case ChildExited(name=name, attempt=attempt, reason=reason, exit_code=code, detail=detail):
            _child_ended(turn, name, attempt, reason, code, detail, never_ready=False)
        case ChildStartFailed(name=name, attempt=attempt, detail=detail):
            _child_ended(turn, name, attempt, ExitReason.ABNORMAL, None, detail, never_ready=True)
        case ChildMissing(name=name, attempt=attempt):
            _child_missing(turn, name, attempt)
        case SpecChanged():
            retry_failed_starts(turn)  # the caller of a start_child that failed tries again
        case Tick():
            pass  # making progress (below) is all this asks for
    make_progress(turn)
    return Decision(state=turn.state, actions=(*new_actions(state, turn.state), *turn.emitted))


# --- Supervisor start and stop ------------------------------------------------------------------------------


def _start(turn: Turn) -> None:
    """Start children in order, each after the previous is Ready (OTP `init` -> `start_children`).

    From `terminated` this is the manual reset: a fresh start with an empty restart history. The attempt
    counter keeps counting so that pods of earlier incarnations can never be mistaken for new ones. While
    running, the manual reset only tries again the added children whose start failed.
    """
    state = turn.state
    if state.lifecycle not in (SupervisorLifecycle.IDLE, SupervisorLifecycle.TERMINATED):
        retry_failed_starts(turn)
        return
    state.lifecycle = SupervisorLifecycle.STARTING
    state.shutdown_reason = None
    state.restarts = []
    for child in state.children:
        child.lifecycle = ChildLifecycle.PENDING
        child.not_before = None
        child.backoff_streak = 0
        child.joining = False  # part of the start-up now, with OTP's init semantics
    state.plan = Plan(
        purpose=PlanPurpose.START_UP, steps=[Step(op="start", child=child.name) for child in state.children]
    )


def _stop(turn: Turn) -> None:
    if turn.state.lifecycle in (
        SupervisorLifecycle.IDLE,
        SupervisorLifecycle.STARTING,
        SupervisorLifecycle.RUNNING,
    ):
        _begin_shutdown(turn, ShutdownReason.STOP_REQUESTED)


def _begin_shutdown(turn: Turn, reason: ShutdownReason) -> None:
    """Stop every live child in reverse start order, one at a time, then terminate (OTP `terminate_children`).

    This supersedes whatever plan was running; restarts that were only decided are cancelled.
    """
    state = turn.state
    state.lifecycle = SupervisorLifecycle.SHUTTING_DOWN
    state.shutdown_reason = reason
    for child in state.children:
        if child.lifecycle is ChildLifecycle.RESTARTING:
            child.lifecycle = ChildLifecycle.STOPPED
            child.not_before = None
    state.plan = Plan(
        purpose=PlanPurpose.SHUTDOWN,
        steps=[
            Step(op="stop", child=child.name)
            for child in reversed(state.children)
            if child.lifecycle in ALIVE
        ],
    )


# --- Events about one child ---------------------------------------------------------------------------------


def _child_ready(turn: Turn, name: str, attempt: int) -> None:
    child = turn.state.find(name)
    if child is None or child.attempt != attempt or child.lifecycle is not ChildLifecycle.STARTING:
        return  # about an older incarnation, or already handled
    child.lifecycle = ChildLifecycle.RUNNING
    child.ready_at = turn.now
    child.joining = False  # start_child has returned {ok, Pid}


def _child_missing(turn: Turn, name: str, attempt: int) -> None:
    child = turn.state.find(name)
    if child is None or child.attempt != attempt:
        return
    if child.lifecycle in (ChildLifecycle.RUNNING, ChildLifecycle.STOPPING):
        # Deleted by someone else while nobody watched: abnormal, unless we were stopping it anyway.
        reason = ExitReason.SHUTDOWN if child.lifecycle is ChildLifecycle.STOPPING else ExitReason.ABNORMAL
        detail = "not found after the operator restarted"
        _child_ended(turn, name, attempt, reason, None, detail, never_ready=False)


def _child_ended(
    turn: Turn,
    name: str,
    attempt: int,
    reason: ExitReason,
    exit_code: int | None,
    detail: str,
    *,
    never_ready: bool,
) -> None:
    """An incarnation ended: a stop we asked for, a failed start, or an exit of its own."""
    child = turn.state.find(name)
    if child is None or child.attempt != attempt or child.lifecycle not in ALIVE:
        return  # about an older incarnation, or already handled
    # An abnormal end before Ready is a failed start (in OTP terms, start_link returned an error).
    start_failed = never_ready or (
        child.lifecycle is ChildLifecycle.STARTING and reason is ExitReason.ABNORMAL
    )
    child.last_exit = ExitRecord(
        attempt=attempt,
        reason=reason,
        at=turn.now,
        exit_code=exit_code,
        detail=detail,
        start_failed=start_failed,
    )
    if _stop_was_expected(turn, child):
        _mark_stopped(turn, child)
    elif start_failed and child.joining:
        join_failed(turn, child, detail)
    elif start_failed:
        _start_failed(turn, child, detail)
    else:
        child.joining = False  # it did start: a normal exit before Ready counts as started, then exited
        _exited_on_its_own(turn, child, reason)


def _stop_was_expected(turn: Turn, child: ChildState) -> bool:
    """A child we are stopping, or are about to stop, is not restarted whatever its exit reason.

    OTP waits for each terminated child's 'DOWN' message and accepts any reason there; a child that dies on
    its own just before its turn in a group restart or shutdown is likewise just stopped - never counted,
    never restarted, never a trigger for auto_shutdown. A child that left the spec is on its way out too.
    """
    if child.lifecycle is ChildLifecycle.STOPPING or not turn.in_spec(child):
        return True
    plan = turn.state.plan
    return plan is not None and any(step.op == "stop" and step.child == child.name for step in plan.steps)


def _mark_stopped(turn: Turn, child: ChildState) -> None:
    plan = turn.state.plan
    planned = (
        None
        if plan is None
        else next((s for s in plan.steps if s.op == "stop" and s.child == child.name), None)
    )
    child.lifecycle = (
        ChildLifecycle.REMOVED if planned is not None and planned.forget else ChildLifecycle.STOPPED
    )


def _start_failed(turn: Turn, child: ChildState, detail: str) -> None:
    turn.emit(
        EventType.WARNING,
        EventReason.CHILD_START_FAILED,
        f"child {child.name} (attempt {child.attempt}) did not become ready: {detail or 'start failed'}",
    )
    plan = turn.state.plan
    initial = (
        plan is not None
        and plan.purpose is PlanPurpose.START_UP
        and plan.steps[:1] == [Step(op="start", child=child.name)]
    )
    if initial:
        # Initial start: abort start-up, stop the children already started, count nothing (OTP init_children).
        child.lifecycle = ChildLifecycle.STOPPED
        _begin_shutdown(turn, ShutdownReason.FAILED_TO_START_CHILD)
        return
    # A failed restart is retried and each retry counts (OTP try_again_restart); the retry re-runs the
    # strategy from the failing child, which is exactly what an abnormal exit of that child does.
    _exited_on_its_own(turn, child, ExitReason.ABNORMAL)


def _exited_on_its_own(turn: Turn, child: ChildState, reason: ExitReason) -> None:
    """OTP `do_restart`: the restart type decides whether the exit leads to a restart."""
    child_spec = turn.spec_of(child)
    if _restart_wanted(child_spec.restart, reason):
        _restart(turn, child, reason)
        return
    # transient normal/shutdown: the child stays down, its spec kept; temporary: its spec is deleted.
    child.lifecycle = (
        ChildLifecycle.REMOVED if child_spec.restart is RestartType.TEMPORARY else ChildLifecycle.EXITED
    )
    turn.drop_steps(child.name)
    turn.emit(
        EventType.WARNING if reason is ExitReason.ABNORMAL else EventType.NORMAL,
        EventReason.CHILD_EXITED,
        f"child {child.name} exited ({_describe(reason)}); not restarted: it is {child_spec.restart}",
    )
    if child_spec.significant:
        _auto_shutdown(turn, child)


def _restart_wanted(restart: RestartType, reason: ExitReason) -> bool:
    match restart:
        case RestartType.PERMANENT:
            return True
        case RestartType.TRANSIENT:
            return reason is ExitReason.ABNORMAL
        case RestartType.TEMPORARY:
            return False


# --- Restarts: intensity, backoff, strategies ---------------------------------------------------------------


def _restart(turn: Turn, child: ChildState, reason: ExitReason) -> None:
    """OTP `restart/2`: count the restart first; if that exceeds the intensity, never attempt it."""
    spec, state = turn.spec, turn.state
    state.restarts = record_restart(state.restarts, turn.now, spec.period_seconds)
    if not within_intensity(state.restarts, spec.max_restarts):
        child.lifecycle = ChildLifecycle.STOPPED
        turn.emit(
            EventType.WARNING,
            EventReason.INTENSITY_EXCEEDED,
            f"child {child.name} exited ({_describe(reason)}): {len(state.restarts)} restarts within "
            f"{spec.period_seconds}s exceed maxRestarts {spec.max_restarts}; stopping all children",
        )
        _begin_shutdown(turn, ShutdownReason.REACHED_MAX_RESTART_INTENSITY)
        return
    child.restarts += 1
    child.lifecycle = ChildLifecycle.RESTARTING
    child.not_before = _restart_time(turn, child)
    wait = "" if child.not_before is None else f" in {child.not_before - turn.now}s"
    budget = f"restart {len(state.restarts)} of {spec.max_restarts} allowed in {spec.period_seconds}s"
    if spec.strategy is Strategy.ONE_FOR_ONE:
        turn.emit(
            _event_type(reason),
            EventReason.CHILD_RESTARTED,
            f"child {child.name} exited ({_describe(reason)}); restarting it{wait} ({budget})",
        )
        return
    children = state.children
    affected = children if spec.strategy is Strategy.ONE_FOR_ALL else children[children.index(child) :]
    names = _restart_group(turn, child, affected)
    turn.emit(
        _event_type(reason),
        EventReason.GROUP_RESTARTED,
        f"child {child.name} exited ({_describe(reason)}); {spec.strategy} restarts {', '.join(names)}{wait} "
        f"({budget})",
    )


def _restart_time(turn: Turn, child: ChildState) -> int | None:
    """When the restart may start: at once as in OTP, or after the exponential backoff if the spec asks."""
    backoff = turn.spec.backoff
    if backoff is None:
        return None
    if not streak_continues(backoff, child.ready_at, turn.now):
        child.backoff_streak = 0
    child.backoff_streak += 1
    return turn.now + restart_delay(backoff, child.backoff_streak)


def _restart_group(turn: Turn, failed: ChildState, affected: list[ChildState]) -> list[str]:
    """OTP `restart_multiple_children`: stop the others in reverse start order, then start all in start order.

    Temporary children are stopped and removed, never restarted; children that had exited (a transient child's
    normal exit) come back. One restart is counted for the whole group. Returns the names to be started.
    """
    # An added child whose start failed is not a child in OTP's sense (start_child returned an error).
    left_out = (ChildLifecycle.REMOVED, ChildLifecycle.START_FAILED)
    stops = [
        Step(op="stop", child=child.name, forget=_is_temporary(turn, child))
        for child in reversed(affected)
        if child is not failed and child.lifecycle not in left_out
    ]
    starts = [
        Step(op="start", child=child.name)
        for child in affected
        if turn.in_spec(child) and not _is_temporary(turn, child) and child.lifecycle not in left_out
    ]
    turn.state.plan = Plan(purpose=PlanPurpose.GROUP_RESTART, steps=stops + starts, trigger=failed.name)
    return [step.child for step in starts]


def _is_temporary(turn: Turn, child: ChildState) -> bool:
    child_spec = turn.spec_if_present(child)
    return child_spec is not None and child_spec.restart is RestartType.TEMPORARY


# --- Significant children -----------------------------------------------------------------------------------


def _auto_shutdown(turn: Turn, exited: ChildState) -> None:
    """OTP `do_auto_shutdown`, for a significant child that exited on its own and is not restarted."""
    if turn.spec.auto_shutdown is AutoShutdown.ALL_SIGNIFICANT and any(
        _is_significant(turn, child)
        and (child.lifecycle in ALIVE or child.lifecycle is ChildLifecycle.RESTARTING)
        for child in turn.state.children
    ):
        return
    turn.emit(
        EventType.NORMAL,
        EventReason.AUTO_SHUTDOWN,
        f"significant child {exited.name} exited; auto_shutdown is {turn.spec.auto_shutdown}: shutting down",
    )
    _begin_shutdown(turn, ShutdownReason.AUTO_SHUTDOWN)


def _is_significant(turn: Turn, child: ChildState) -> bool:
    child_spec = turn.spec_if_present(child)
    return child_spec is not None and child_spec.significant


def _describe(reason: ExitReason) -> str:
    return {ExitReason.NORMAL: "normal", ExitReason.SHUTDOWN: "shutdown", ExitReason.ABNORMAL: "abnormally"}[
        reason
    ]


def _event_type(reason: ExitReason) -> EventType:
    return EventType.WARNING if reason is ExitReason.ABNORMAL else EventType.NORMAL
