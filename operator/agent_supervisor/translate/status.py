"""The `status` the operator writes, computed from the supervision state (conditions: controller.conditions).

Each function returns the whole desired status: the previous one with the fields its writer owns replaced,
and the phase recomputed from all conditions. Several writers share an Agent's status - its supervisor
(supervision fields) and the Agent's own reconcile (configuration fields) - so each keeps the other's
conditions.
`status_patch` turns a desired status into the merge patch to send (empty when nothing changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from agent_supervisor import api
from agent_supervisor.api.supervisor import MAX_CHILDREN
from agent_supervisor.supervision import (
    ChildKind,
    ChildLifecycle,
    ChildState,
    ExitReason,
    ExitRecord,
    ShutdownReason,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    budget_left,
    restarts_in_window,
)
from agent_supervisor.supervision.state import ALIVE
from agent_supervisor.translate import budgets, conditions, labels, pod_exits, policy
from agent_supervisor.translate.conditions import Judgement
from agent_supervisor.translate.observe import ObservedChild, host_pod_name
from agent_supervisor.translate.stored_supervision import Supervision

Status = dict[str, Any]

_CHILD_KINDS: Final = {
    ChildKind.AGENT: api.ChildKind.AGENT,
    ChildKind.SUPERVISOR: api.ChildKind.AGENT_SUPERVISOR,
    ChildKind.WORKER: api.ChildKind.WORKER,
}
_FALLBACK_CAUSES: Final = {
    ExitReason.NORMAL: "Completed",
    ExitReason.SHUTDOWN: pod_exits.SHUTDOWN,
    ExitReason.ABNORMAL: "Error",
}
_SELF_EXITS: Final = {
    ShutdownReason.REACHED_MAX_RESTART_INTENSITY: "IntensityExceeded",
    ShutdownReason.FAILED_TO_START_CHILD: "FailedToStartChild",
    ShutdownReason.AUTO_SHUTDOWN: "AutoShutdown",
    ShutdownReason.STOP_REQUESTED: "Stopped",
}


# --- Shared pieces -----------------------------------------------------------------------------------------


def exit_info(record: ExitRecord) -> api.ExitInfo:
    """A core exit record as users see it: the cause travels at the start of the record's detail."""
    cause, message = pod_exits.split_detail(record.detail)
    if cause is None:
        cause = "StartFailed" if record.start_failed else _FALLBACK_CAUSES[record.reason]
    return api.ExitInfo(
        code=record.exit_code,
        classification=api.ExitClass(record.reason.value),
        reason=cause,
        message=message,
        time=conditions.as_time(record.at),
    )


def _dump(model: api.base.ApiModel | None) -> dict[str, Any] | None:
    return None if model is None else _dump_dict(model)


def _dump_dict(model: api.base.ApiModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _merge(
    previous: Mapping[str, Any] | None,
    generation: int | None,
    judgements: Sequence[Judgement],
    fields: Mapping[str, Any],
    now: int,
) -> Status:
    """The previous status with `fields` replaced (None removes one) and `judgements` applied."""
    status: Status = dict(previous or {})
    merged = conditions.apply(
        conditions.parse_conditions(status.get("conditions")), judgements, generation, now
    )
    status["conditions"] = conditions.dump(merged)
    status["phase"] = api.phase_from_conditions(merged).value
    for key, value in fields.items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = value
    return status


def _window_fields(spec: SupervisorSpec, state: SupervisorState, now: int) -> dict[str, Any]:
    threshold = now - spec.period_seconds
    history = [at for at in state.restarts if at >= threshold]
    return {
        "restartHistory": history,
        "restartBudgetLeft": budget_left(history, now, spec.max_restarts, spec.period_seconds),
        "totalRestarts": sum(child.restarts for child in state.children),
    }


# --- AgentSupervisor ---------------------------------------------------------------------------------------


def supervisor_status(
    sup: api.AgentSupervisor,
    spec: SupervisorSpec,
    supervision: Supervision,
    observed: Mapping[str, ObservedChild],
    now: int,
    previous: Mapping[str, Any] | None = None,
    extra: Sequence[Judgement] = (),
) -> Status:
    """The whole status of an AgentSupervisor after a decision (its Invalid condition reset to False).

    `extra`: conditions judged outside the supervision core (Degraded: translate/dependencies.py)."""
    state = supervision.state
    generation = sup.metadata.generation
    ready = sum(1 for child in conditions.in_spec(spec, state) if child.lifecycle is ChildLifecycle.RUNNING)
    used = restarts_in_window(state.restarts, now, spec.period_seconds)
    judgements = [
        *conditions.supervision_judgements(spec, state, now, standalone=False),
        conditions.invalid([]),
        *_policy_passed(previous),
        *extra,
    ]
    fields: dict[str, Any] = {
        "observedGeneration": generation,
        "children": [_child_status(state, child, observed.get(child.name)) for child in _listed(state)],
        "readyChildren": f"{ready}/{len(spec.children)}",
        **_pool_fields(sup, state),
        "workersReady": _workers_summary(state),
        "restartsInWindow": f"{used}/{spec.max_restarts}",
        **_window_fields(spec, state, now),
        "lastExit": _self_exit(state, previous, now),
        "supervision": supervision.to_json(),
    }
    return _merge(previous, generation, judgements, fields, now)


POOLS_READY_MAX: Final = 1024
"""The bound of status.poolsReady (the Pools column): a summary, cut short past it."""


def _pool_fields(sup: api.AgentSupervisor, state: SupervisorState) -> dict[str, Any]:
    """Each pool's replicas and Ready members, and the one-line summary the Pools column shows."""
    ready = {child.name for child in state.children if child.lifecycle is ChildLifecycle.RUNNING}
    pools = [
        api.PoolStatus(
            name=entry.name,
            replicas=entry.pool.replicas,
            ready_replicas=sum(1 for name in entry.member_names if name in ready),
        )
        for entry in sup.spec.children
        if entry.pool is not None
    ]
    if not pools:
        return {"pools": None, "poolsReady": None}
    summary = ", ".join(f"{pool.name} {pool.ready_replicas}/{pool.replicas}" for pool in pools)
    if len(summary) > POOLS_READY_MAX:
        summary = summary[: POOLS_READY_MAX - 1] + "…"
    return {"pools": [_dump_dict(pool) for pool in pools], "poolsReady": summary}


def _workers_summary(state: SupervisorState) -> str | None:
    """`<worker> <phase>` of each worker child (the Workers column); None when there is none."""
    workers = [child for child in state.children if child.kind is ChildKind.WORKER]
    if not workers:
        return None
    summary = ", ".join(f"{child.name} {_child_phase(state, child).value}" for child in workers)
    return summary if len(summary) <= POOLS_READY_MAX else summary[: POOLS_READY_MAX - 1] + "…"


def _listed(state: SupervisorState) -> list[ChildState]:
    """Children in start order, departing ones last, within the status schema's bound on the list."""
    return state.children[:MAX_CHILDREN]


def _child_status(state: SupervisorState, child: ChildState, seen: ObservedChild | None) -> dict[str, Any]:
    phase = _child_phase(state, child)
    if child.kind is ChildKind.SUPERVISOR and child.lifecycle in ALIVE and seen is not None:
        nested = seen.supervisor
        if nested is not None and nested.incarnation == child.attempt and nested.phase in set(api.Phase):
            phase = api.Phase(nested.phase)
    return _dump_dict(
        api.ChildStatus(
            name=child.name,
            kind=_CHILD_KINDS[child.kind],
            phase=phase,
            attempt=child.attempt or None,
            ready=child.lifecycle is ChildLifecycle.RUNNING,
            restarts=child.restarts,
            last_exit=None if child.last_exit is None else exit_info(child.last_exit),
        )
    )


def will_start_again(state: SupervisorState, name: str) -> bool:
    plan = state.plan
    return plan is not None and any(step.op == "start" and step.child == name for step in plan.steps)


def _child_phase(state: SupervisorState, child: ChildState) -> api.Phase:
    match child.lifecycle:
        case ChildLifecycle.PENDING:
            return api.Phase.PENDING
        case ChildLifecycle.STARTING:
            return api.Phase.STARTING if child.last_exit is None else api.Phase.RESTARTING
        case ChildLifecycle.RUNNING:
            return api.Phase.RUNNING
        case ChildLifecycle.RESTARTING:
            return api.Phase.RESTARTING
        case ChildLifecycle.STOPPING:
            return api.Phase.RESTARTING if will_start_again(state, child.name) else api.Phase.STOPPED
        case ChildLifecycle.STOPPED:
            return api.Phase.STOPPED
        case ChildLifecycle.START_FAILED:
            return api.Phase.FAILED
        case _:
            finished = conditions.finished(child)
            return api.Phase.FAILED if finished is api.TerminatedReason.FAILED else api.Phase.SUCCEEDED


def _self_exit(state: SupervisorState, previous: Mapping[str, Any] | None, now: int) -> Any:
    """How the supervisor itself last exited; kept from the previous status while it runs again."""
    earlier = (previous or {}).get("lastExit")
    if state.lifecycle not in (SupervisorLifecycle.SHUTTING_DOWN, SupervisorLifecycle.TERMINATED):
        return earlier
    reason = _SELF_EXITS[state.shutdown_reason or ShutdownReason.STOP_REQUESTED]
    same = isinstance(earlier, Mapping) and earlier.get("reason") == reason and earlier.get("time")
    info = api.ExitInfo(
        classification=api.ExitClass.SHUTDOWN,
        reason=reason,
        message=f"the supervisor exited with reason shutdown ({state.shutdown_reason or 'stop_requested'})",
        time=earlier["time"] if same and isinstance(earlier, Mapping) else conditions.as_time(now),
    )
    return _dump(info)


# --- Agent -------------------------------------------------------------------------------------------------


def standalone_agent_status(
    agent: api.Agent,
    spec: SupervisorSpec,
    supervision: Supervision,
    now: int,
    previous: Mapping[str, Any] | None = None,
    observed: Mapping[str, ObservedChild] | None = None,
) -> Status:
    """The supervision part of a standalone Agent's status (its own one-child supervisor)."""
    state = supervision.state
    generation = agent.metadata.generation
    child = state.children[0] if state.children else None
    judgements = [
        *conditions.supervision_judgements(spec, state, now, standalone=True),
        *_policy_passed(previous),
    ]
    fields: dict[str, Any] = {
        "observedGeneration": generation,
        **_incarnation_fields(agent, child, observed),
        **_window_fields(spec, state, now),
        "lastExit": None if child is None or child.last_exit is None else _dump(exit_info(child.last_exit)),
        "supervision": supervision.to_json(),
    }
    return _merge(previous, generation, judgements, fields, now)


def supervised_agent_status(
    agent: api.Agent,
    supervisor: str,
    state: SupervisorState,
    now: int,
    previous: Mapping[str, Any] | None = None,
    observed: Mapping[str, ObservedChild] | None = None,
) -> Status:
    """The supervision part of a supervised Agent's status, written by its supervisor from its own state.

    The agent's child name is its `otp.agents.dev/child` label. Its restart budget is its supervisor's, so the
    Agent shows no budget of its own.
    """
    name = (agent.metadata.labels or {}).get(labels.CHILD, "")
    child = state.find(name)
    if child is None:
        raise KeyError(f"supervisor {supervisor!r} has no child {name!r} for Agent {agent.metadata.name!r}")
    judgements = conditions.child_judgements(child, will_start_again(state, name))
    fields: dict[str, Any] = {
        "supervisor": supervisor,
        **_incarnation_fields(agent, child, observed),
        "totalRestarts": child.restarts,
        "lastExit": None if child.last_exit is None else _dump(exit_info(child.last_exit)),
    }
    return _merge(previous, agent.metadata.generation, judgements, fields, now)


def _incarnation_fields(
    agent: api.Agent, child: ChildState | None, observed: Mapping[str, ObservedChild] | None
) -> dict[str, Any]:
    if child is None or child.attempt == 0:
        return {"attempt": None, "podName": None}
    if child.lifecycle not in ALIVE:
        return {"attempt": child.attempt, "podName": None}
    # An in-place incarnation runs in the pod of an earlier attempt; otherwise its pod is named by it.
    hosting = host_pod_name((observed or {}).get(child.name), child.attempt)
    return {
        "attempt": child.attempt,
        "podName": hosting or labels.pod_name(agent.metadata.name or "", child.attempt),
    }


def config_status(
    generation: int | None,
    revision: str,
    applied_revision: str | None,
    now: int,
    previous: Mapping[str, Any] | None = None,
    dependency: Judgement | None = None,
    budget: Mapping[str, Any] | None = None,
) -> Status:
    """The part of an Agent's status its own reconcile owns: the rendered config revision, the one the agent
    applied, and (when given) DependencyAvailable and the hourly token budget from its runtime's report."""
    if applied_revision == revision:
        applied = Judgement(api.ConditionType.CONFIG_APPLIED, conditions.T, "Applied", f"revision {revision}")
    elif applied_revision is None:
        applied = Judgement(
            api.ConditionType.CONFIG_APPLIED,
            conditions.F,
            "NotReported",
            "no running agent reported a revision",
        )
    else:
        applied = Judgement(
            api.ConditionType.CONFIG_APPLIED,
            conditions.F,
            "Pending",
            f"the agent runs revision {applied_revision}; revision {revision} is not applied yet",
        )
    # Every Agent, supervised or not, has this written by its own reconcile once it has rendered the config of
    # `generation`: that is what makes observedGeneration catch up for supervised agents too (GitOps health).
    fields = {
        "observedGeneration": generation,
        "configRevision": revision,
        "appliedConfigRevision": applied_revision,
        **budgets.status_fields(budget),
    }
    budget_available = budgets.judgement(budget, (previous or {}).get("conditions"))
    judgements = [
        applied,
        conditions.invalid([]),
        *_policy_passed(previous),
        *([] if dependency is None else [dependency]),
        *([] if budget_available is None else [budget_available]),
    ]
    return _merge(previous, generation, judgements, fields, now)


def _policy_passed(previous: Mapping[str, Any] | None) -> list[Judgement]:
    """PolicyAllowed True once a refused resource passes (the reconciler writes these statuses only then);
    never added to a resource that was not refused, so an operator without a policy adds no condition."""
    found = any(
        entry.get("type") == api.ConditionType.POLICY_ALLOWED
        for entry in (previous or {}).get("conditions") or []
        if isinstance(entry, Mapping)
    )
    return [conditions.policy_allowed([])] if found else []


def refused_status(
    generation: int | None,
    refusals: Sequence[policy.Refusal],
    now: int,
    previous: Mapping[str, Any] | None = None,
) -> Status:
    """The status of a resource the operator's policy refuses: PolicyAllowed False naming each field and
    rule; its spec is valid (Invalid False), and nothing was created for it."""
    fields = {"observedGeneration": generation}
    judgements = [conditions.invalid([]), conditions.policy_allowed(refusals)]
    return _merge(previous, generation, judgements, fields, now)


def invalid_status(
    generation: int | None,
    problems: Sequence[api.FieldIssue],
    now: int,
    previous: Mapping[str, Any] | None = None,
) -> Status:
    """The status of a resource whose spec is invalid: condition Invalid naming each field, nothing else."""
    fields = {"observedGeneration": generation}
    return _merge(previous, generation, [conditions.invalid(problems)], fields, now)


def status_patch(previous: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) of `status` from `previous` to `desired`; empty when they are equal.

    The diff recurses into objects: a merge patch merges a nested object into the stored one, so a key that
    left `desired` deep inside (a finished plan in `supervision.state`) must be sent as null or it stays.
    A None in `desired` means "absent".
    """
    return _merge_diff(previous or {}, desired)


def _merge_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            nested = _merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif old != value:
            patch[key] = value
    patch.update({key: None for key in before if key not in after and before[key] is not None})
    return patch
