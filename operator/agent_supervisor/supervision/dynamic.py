"""Dynamic children: the spec's list of children is the start_child / delete_child / replace API of OTP.

Edits of the list are applied one child at a time once nothing else is in progress, and never count against
the restart intensity (docs/supervision.md, "Spec changes").

A child added while the supervisor runs is *joining* until its first start succeeds. OTP's start_child starts
the child synchronously and, when that fails, returns the error to its caller: the supervisor and its other
children carry on, nothing is counted, and the child is not kept. Here the spec is the caller and keeps the
entry, so a joining child whose start fails becomes `start_failed`: not counted, never a trigger for the
strategy, left out of group restarts, and started again only when the caller tries again - the next spec
change or a manual reset (`retry_failed_starts`).
"""

from __future__ import annotations

from agent_supervisor.supervision.actions import EventReason, EventType
from agent_supervisor.supervision.spec import ChildKind, ChildSpec
from agent_supervisor.supervision.state import (
    ALIVE,
    ChildLifecycle,
    ChildState,
    Plan,
    PlanPurpose,
    Step,
    SupervisorLifecycle,
)
from agent_supervisor.supervision.turn import Turn


def reconcile_children(turn: Turn) -> None:
    """Bring the known children in line with the spec's list, without starting or stopping anything yet.

    New children are appended as pending (OTP start_child); children that left the spec stay at the end until
    they have stopped (OTP terminate_child + delete_child). The spec's order is the start order from now on.
    """
    state = turn.state
    known = {child.name: child for child in state.children}
    ordered: list[ChildState] = []
    for child_spec in turn.spec.children:
        child = known.pop(child_spec.name, None)
        if child is None:
            child = ChildState(
                name=child_spec.name, kind=child_spec.kind, template_hash=child_spec.template_hash
            )
            if state.lifecycle in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING):
                child.joining = True
                turn.emit(EventType.NORMAL, EventReason.CHILD_ADDED, f"child {child.name} added to the spec")
        elif child.kind is ChildKind.SUPERVISOR and child_spec.kind is ChildKind.SUPERVISOR:
            # A child supervisor applies edits of its own spec in place; it is never replaced for them.
            child.template_hash = child_spec.template_hash
        ordered.append(child)
    state.children = ordered + list(known.values())


def next_spec_change(turn: Turn) -> Plan | None:
    """The next step towards the spec once nothing else is running: one child at a time, never counted.

    Order: stop a child that left the spec, start a child that was added, replace a child whose template
    changed (stop it, then start it from the new template and wait until it is Ready before touching the next
    one).
    """
    children = turn.state.children
    departing = [child for child in children if not turn.in_spec(child) and child.lifecycle in ALIVE]
    if departing:
        return Plan(purpose=PlanPurpose.SPEC_CHANGE, steps=[Step(op="stop", child=departing[-1].name)])
    for child in children:
        child_spec = turn.spec_of(child)
        if child.lifecycle in (ChildLifecycle.PENDING, ChildLifecycle.STOPPED):
            return Plan(purpose=PlanPurpose.SPEC_CHANGE, steps=[Step(op="start", child=child.name)])
        if child.lifecycle in (ChildLifecycle.STARTING, ChildLifecycle.RUNNING) and _outdated(
            child, child_spec
        ):
            turn.emit(
                EventType.NORMAL,
                EventReason.CHILD_REPLACED,
                f"child {child.name}: template changed; replacing it",
            )
            # OTP's terminate_child + delete_child + start_child of the new spec: a start that fails returns
            # an error to the caller and counts nothing, as for an added child.
            child.joining = True
            return Plan(
                purpose=PlanPurpose.SPEC_CHANGE,
                steps=[Step(op="stop", child=child.name), Step(op="start", child=child.name)],
            )
    return None


def _outdated(child: ChildState, child_spec: ChildSpec) -> bool:
    if child.kind is not child_spec.kind:
        return True
    # A child supervisor applies edits of its own spec in place; a pod-running child needs a new pod.
    return child_spec.kind is not ChildKind.SUPERVISOR and child.template_hash != child_spec.template_hash


def forget_departed(turn: Turn) -> None:
    state = turn.state
    for child in [
        child for child in state.children if not turn.in_spec(child) and child.lifecycle not in ALIVE
    ]:
        state.children.remove(child)
        state.removals.append(child.name)
        turn.drop_steps(child.name)
        turn.emit(EventType.NORMAL, EventReason.CHILD_REMOVED, f"child {child.name} removed from the spec")


def join_failed(turn: Turn, child: ChildState, detail: str) -> None:
    """A joining child's start failed: OTP's start_child returns the error and the supervisor carries on.

    Nothing is counted and no sibling is touched; whatever plan started it goes on without it.
    """
    child.lifecycle = ChildLifecycle.START_FAILED
    child.not_before = None
    turn.drop_steps(child.name)
    turn.emit(
        EventType.WARNING,
        EventReason.CHILD_START_FAILED,
        f"child {child.name} (added by a spec change, attempt {child.attempt}) failed to start: "
        f"{detail or 'start failed'}; not counted toward the restart intensity, the other children keep "
        "running; edit the spec or reset the supervisor to start it again",
    )


def retry_failed_starts(turn: Turn) -> None:
    """The caller tries again (a spec change or a manual reset): children whose start failed are pending.

    They start one at a time as spec changes do (next_spec_change), and are still joining.
    """
    if turn.state.lifecycle not in (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING):
        return
    for child in turn.state.children:
        if child.lifecycle is ChildLifecycle.START_FAILED and turn.in_spec(child):
            child.lifecycle = ChildLifecycle.PENDING
