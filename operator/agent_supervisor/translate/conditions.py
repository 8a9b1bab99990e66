"""Conditions of a supervising resource, derived from its supervision state (the phase follows from them).

| condition              | True when                                                                       |
|------------------------|---------------------------------------------------------------------------------|
| Ready                  | running, every child Ready or finished for good (or being changed by a spec     |
|                        | edit); not during a group restart. False with reason ChildStartFailed when an   |
|                        | added child failed to start while the others run (the phase stays Running)      |
| Progressing            | starting (reason Starting), restarting children (Restarting), applying a spec   |
|                        | edit (Updating); False with reason ChildStartFailed as above                    |
| RestartBudgetExhausted | the restart intensity was exceeded: the children were stopped and it exited       |
| Terminated             | it is shutting down or has exited: reason Failed (intensity exceeded, a child     |
|                        | failed to start), Completed (auto_shutdown, a standalone Agent's task done) or    |
|                        | Stopped (asked to stop)                                                           |
| Invalid                | (set by `invalid`) the spec has problems the CRD could not catch                  |
| PolicyAllowed          | (set by `policy_allowed`) False: the spec uses what the operator's policy refuses |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from agent_supervisor import api
from agent_supervisor.api.phase import CHILD_START_FAILED
from agent_supervisor.supervision import (
    ChildLifecycle,
    ChildState,
    ExitReason,
    PlanPurpose,
    ShutdownReason,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    restarts_in_window,
)
from agent_supervisor.translate import labels, policy

T, F = api.ConditionStatus.TRUE, api.ConditionStatus.FALSE
SETTLED = frozenset({ChildLifecycle.RUNNING, ChildLifecycle.EXITED, ChildLifecycle.REMOVED})
"""Child lifecycles in which nothing more is expected to happen to it."""

_TERMINATED_REASONS = {
    ShutdownReason.REACHED_MAX_RESTART_INTENSITY: (
        api.TerminatedReason.FAILED,
        "the restart intensity was exceeded",
    ),
    ShutdownReason.FAILED_TO_START_CHILD: (api.TerminatedReason.FAILED, "a child failed to start"),
    ShutdownReason.AUTO_SHUTDOWN: (
        api.TerminatedReason.COMPLETED,
        "a significant child exited (autoShutdown)",
    ),
    ShutdownReason.STOP_REQUESTED: (api.TerminatedReason.STOPPED, "it was asked to stop"),
}


def as_time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@dataclass(frozen=True, slots=True)
class Judgement:
    """One condition's verdict before it is stamped with a generation and a time."""

    type: api.ConditionType
    status: api.ConditionStatus
    reason: str
    message: str = ""


def parse_conditions(raw: Any) -> list[api.Condition]:
    """The conditions in a raw status; entries that do not parse (hand edits) are dropped."""
    parsed = []
    for entry in raw if isinstance(raw, list) else []:
        try:
            parsed.append(api.Condition.model_validate(entry))
        except ValidationError:
            continue
    return parsed


def changed(
    before: Any, after: Any, kind: api.ConditionType
) -> tuple[api.Condition | None, api.Condition] | None:
    """Condition `kind` before and after, from two raw condition lists, when its status moved (or it first
    appeared); None when it did not, or is gone. What an Event about a transition is made from."""
    old = api.find_condition(parse_conditions(before), kind)
    new = api.find_condition(parse_conditions(after), kind)
    if new is None or (old is not None and old.status == new.status):
        return None
    return old, new


def apply(
    previous: Sequence[api.Condition], judgements: Sequence[Judgement], generation: int | None, now: int
) -> list[api.Condition]:
    """`previous` with each judged condition replaced; lastTransitionTime moves only when its status does."""
    conditions = list(previous)
    for judgement in judgements:
        conditions = api.set_condition(
            conditions,
            api.Condition(
                type=judgement.type.value,
                status=judgement.status,
                reason=judgement.reason,
                message=judgement.message,
                observed_generation=generation,
                last_transition_time=as_time(now),
            ),
        )
    return conditions


def dump(conditions: Sequence[api.Condition]) -> list[dict[str, Any]]:
    return [condition.model_dump(mode="json", by_alias=True, exclude_none=True) for condition in conditions]


def invalid(problems: Sequence[api.FieldIssue]) -> Judgement:
    if not problems:
        return Judgement(api.ConditionType.INVALID, F, "Valid")
    return Judgement(
        api.ConditionType.INVALID, T, "InvalidSpec", "; ".join(str(problem) for problem in problems)
    )


def policy_allowed(refusals: Sequence[policy.Refusal]) -> Judgement:
    """PolicyAllowed: False with the first broken rule as reason and every refused field in the message."""
    if not refusals:
        return Judgement(api.ConditionType.POLICY_ALLOWED, T, "Allowed")
    return Judgement(
        api.ConditionType.POLICY_ALLOWED,
        F,
        refusals[0].rule.value,
        "; ".join(str(refusal) for refusal in refusals),
    )


# --- A supervising resource --------------------------------------------------------------------------------


def supervision_judgements(
    spec: SupervisorSpec, state: SupervisorState, now: int, *, standalone: bool
) -> list[Judgement]:
    """Ready, Progressing, RestartBudgetExhausted and Terminated of a supervisor or a standalone Agent."""
    return [
        _ready(spec, state, standalone),
        _progressing(state),
        _budget(spec, state, now, standalone),
        _terminated(state, standalone),
    ]


def in_spec(spec: SupervisorSpec, state: SupervisorState) -> list[ChildState]:
    """The children the spec still names, in start order (departing ones are left out)."""
    names = {child.name for child in spec.children}
    return [child for child in state.children if child.name in names]


def _ready(spec: SupervisorSpec, state: SupervisorState, standalone: bool) -> Judgement:
    children = in_spec(spec, state)
    ready = sum(1 for child in children if child.lifecycle is ChildLifecycle.RUNNING)
    if standalone:
        if ready:
            return Judgement(api.ConditionType.READY, T, "AgentReady", "the agent's pod is Ready")
        return Judgement(api.ConditionType.READY, F, "AgentNotReady", "the agent has no Ready pod")
    plan = state.plan
    if plan is not None and plan.purpose is not PlanPurpose.SPEC_CHANGE:
        settled = False  # start-up, a group restart or a shutdown is under way
    else:
        # A spec edit changes one child at a time (replaced, added or removed): the rest keeps serving.
        changing = set() if plan is None else {step.child for step in plan.steps}
        settled = all(child.lifecycle in SETTLED or child.name in changing for child in children)
    if state.lifecycle is SupervisorLifecycle.RUNNING and settled:
        return Judgement(
            api.ConditionType.READY, T, "ChildrenReady", f"{ready}/{len(children)} children ready"
        )
    failed = start_failures(children)
    if state.lifecycle is SupervisorLifecycle.RUNNING and plan is None and failed:
        message = f"{ready}/{len(children)} children ready; {failed}"
        return Judgement(api.ConditionType.READY, F, CHILD_START_FAILED, message)
    reason = {
        SupervisorLifecycle.IDLE: "NotStarted",
        SupervisorLifecycle.STARTING: "Starting",
        SupervisorLifecycle.RUNNING: "ChildrenNotReady",
        SupervisorLifecycle.SHUTTING_DOWN: "ShuttingDown",
        SupervisorLifecycle.TERMINATED: "Terminated",
    }[state.lifecycle]
    return Judgement(api.ConditionType.READY, F, reason, f"{ready}/{len(children)} children ready")


def _progressing(state: SupervisorState) -> Judgement:
    match state.lifecycle:
        case SupervisorLifecycle.STARTING:
            return Judgement(api.ConditionType.PROGRESSING, T, "Starting", "starting children in order")
        case SupervisorLifecycle.RUNNING:
            return _progress_while_running(state)
        case SupervisorLifecycle.SHUTTING_DOWN:
            return Judgement(
                api.ConditionType.PROGRESSING, F, "ShuttingDown", "stopping children in reverse order"
            )
        case SupervisorLifecycle.TERMINATED:
            return Judgement(api.ConditionType.PROGRESSING, F, "Terminated")
        case _:
            return Judgement(api.ConditionType.PROGRESSING, F, "NotStarted")


def _progress_while_running(state: SupervisorState) -> Judgement:
    plan = state.plan
    if plan is not None and plan.purpose is PlanPurpose.GROUP_RESTART:
        return Judgement(
            api.ConditionType.PROGRESSING, T, "Restarting", f"group restart after child {plan.trigger} exited"
        )
    restarting = [
        child.name
        for child in state.children
        if child.lifecycle is ChildLifecycle.RESTARTING
        or (child.lifecycle is ChildLifecycle.STARTING and child.last_exit is not None and plan is None)
    ]
    if restarting:
        return Judgement(
            api.ConditionType.PROGRESSING, T, "Restarting", f"restarting {', '.join(restarting)}"
        )
    if plan is not None:
        steps = ", ".join(f"{step.op} {step.child}" for step in plan.steps)
        return Judgement(api.ConditionType.PROGRESSING, T, "Updating", f"applying a spec change: {steps}")
    failed = start_failures(state.children)
    if failed:
        return Judgement(api.ConditionType.PROGRESSING, F, CHILD_START_FAILED, failed)
    return Judgement(api.ConditionType.PROGRESSING, F, "Stable")


MAX_NAMED: Final = 8
"""Children named in a condition message at most: a wide supervisor must keep its conditions short."""


def start_failures(children: Sequence[ChildState]) -> str:
    """Which added children failed to start and how to retry them; empty when none did."""
    failed = [child for child in children if child.lifecycle is ChildLifecycle.START_FAILED]
    if not failed:
        return ""
    named = [_start_failure(child) for child in failed[:MAX_NAMED]]
    more = f" and {len(failed) - MAX_NAMED} more" if len(failed) > MAX_NAMED else ""
    return (
        f"added children failed to start: {'; '.join(named)}{more}. Fix the spec (any edit retries them) "
        f"or set the annotation {labels.RESTART} to a new value"
    )


def _start_failure(child: ChildState) -> str:
    detail = "" if child.last_exit is None else child.last_exit.detail
    return f"{child.name} ({detail.splitlines()[0][:200] if detail else 'start failed'})"


def _budget(spec: SupervisorSpec, state: SupervisorState, now: int, standalone: bool) -> Judgement:
    exhausted = state.shutdown_reason is ShutdownReason.REACHED_MAX_RESTART_INTENSITY and state.lifecycle in (
        SupervisorLifecycle.SHUTTING_DOWN,
        SupervisorLifecycle.TERMINATED,
    )
    if exhausted:
        what = "the agent" if standalone else "the children"
        return Judgement(
            api.ConditionType.RESTART_BUDGET_EXHAUSTED,
            T,
            "IntensityExceeded",
            f"more than {spec.max_restarts} restarts within {spec.period_seconds}s: {what} stopped; change "
            f"the spec, or set the annotation {labels.RESTART} to a new value, to start again",
        )
    used = restarts_in_window(state.restarts, now, spec.period_seconds)
    return Judgement(
        api.ConditionType.RESTART_BUDGET_EXHAUSTED,
        F,
        "WithinBudget",
        f"{used}/{spec.max_restarts} restarts in the last {spec.period_seconds}s",
    )


def _terminated(state: SupervisorState, standalone: bool) -> Judgement:
    if state.lifecycle in (SupervisorLifecycle.SHUTTING_DOWN, SupervisorLifecycle.TERMINATED):
        reason, why = _TERMINATED_REASONS[state.shutdown_reason or ShutdownReason.STOP_REQUESTED]
        doing = "stopping" if state.lifecycle is SupervisorLifecycle.SHUTTING_DOWN else "stopped"
        return Judgement(api.ConditionType.TERMINATED, T, reason.value, f"{doing}: {why}")
    if standalone and state.children:
        ended = finished(state.children[0])
        if ended is not None:
            return Judgement(
                api.ConditionType.TERMINATED, T, ended.value, "the agent exited and is not restarted"
            )
    return Judgement(api.ConditionType.TERMINATED, F, "Running")


def finished(child: ChildState) -> api.TerminatedReason | None:
    """How a standalone Agent ended for good (transient normal exit, or a temporary agent's any exit)."""
    if child.lifecycle not in (ChildLifecycle.EXITED, ChildLifecycle.REMOVED):
        return None
    if child.last_exit is not None and child.last_exit.reason is ExitReason.ABNORMAL:
        return api.TerminatedReason.FAILED
    return api.TerminatedReason.COMPLETED


# --- A supervised Agent (written by its supervisor) --------------------------------------------------------


def child_judgements(child: ChildState, will_start_again: bool) -> list[Judgement]:
    """Ready, Progressing and Terminated of an agent child, from its supervisor's record of it."""
    lifecycle = child.lifecycle
    if lifecycle is ChildLifecycle.RUNNING:
        ready = Judgement(api.ConditionType.READY, T, "PodReady", f"attempt {child.attempt} is Ready")
    else:
        ready = Judgement(api.ConditionType.READY, F, "PodNotReady", f"the agent is {lifecycle.value}")
    restarting = lifecycle is ChildLifecycle.RESTARTING or (
        lifecycle in (ChildLifecycle.STARTING, ChildLifecycle.STOPPING)
        and (child.last_exit is not None or will_start_again)
    )
    if restarting:
        progressing = Judgement(
            api.ConditionType.PROGRESSING, T, "Restarting", "its supervisor is restarting it"
        )
    elif lifecycle in (ChildLifecycle.PENDING, ChildLifecycle.STARTING):
        progressing = Judgement(api.ConditionType.PROGRESSING, T, "Starting", "its supervisor is starting it")
    else:
        progressing = Judgement(api.ConditionType.PROGRESSING, F, "Stable")
    ended = finished(child)
    if lifecycle is ChildLifecycle.START_FAILED:
        terminated = Judgement(
            api.ConditionType.TERMINATED,
            T,
            api.TerminatedReason.FAILED.value,
            "added by a spec change, it failed to start; not counted toward the restart intensity. It starts "
            "again after the next change of its supervisor's spec, or a new value of the annotation "
            f"{labels.RESTART} on its supervisor",
        )
    elif ended is not None:
        terminated = Judgement(api.ConditionType.TERMINATED, T, ended.value, "exited; not restarted")
    elif lifecycle is ChildLifecycle.STOPPED or (
        lifecycle is ChildLifecycle.STOPPING and not will_start_again
    ):
        terminated = Judgement(api.ConditionType.TERMINATED, T, "Stopped", "stopped by its supervisor")
    else:
        terminated = Judgement(api.ConditionType.TERMINATED, F, "Running")
    return [ready, progressing, terminated]
