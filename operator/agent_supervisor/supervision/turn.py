"""The working context of one `decide` call: a private copy of the state being edited, and events to emit."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_supervisor.supervision.actions import EmitEvent, EventReason, EventType
from agent_supervisor.supervision.spec import ChildSpec, SupervisorSpec
from agent_supervisor.supervision.state import ChildLifecycle, ChildState, SupervisorState


@dataclass
class Turn:
    spec: SupervisorSpec
    state: SupervisorState
    now: int
    emitted: list[EmitEvent] = field(default_factory=list)
    specs: dict[str, ChildSpec] = field(init=False)
    """The spec's children by name: looked up for every child, so once per decision instead of a scan each."""

    def __post_init__(self) -> None:
        self.specs = {child.name: child for child in self.spec.children}

    @classmethod
    def begin(cls, spec: SupervisorSpec, state: SupervisorState, now: int) -> Turn:
        """A turn on a private copy of `state`, with the previous decision's removals already done.

        The core only ever assigns attributes of the state, a child or the plan, and never changes a shared
        nested value in place, so copying each of those models shallowly isolates the caller's state. That is
        an order of magnitude cheaper than a deep copy, which dominated the cost of a decision.
        """
        working = state.model_copy(
            update={
                "children": [child.model_copy() for child in state.children],
                "plan": None if state.plan is None else state.plan.model_copy(),
                "removals": [],
            }
        )
        return cls(spec=spec, state=working, now=now)

    def emit(self, type_: EventType, reason: EventReason, message: str) -> None:
        self.emitted.append(EmitEvent(type=type_, reason=reason, message=message))

    def child(self, name: str) -> ChildState:
        """A child the state knows; plans and the spec reconciliation guarantee the name exists."""
        found = self.state.find(name)
        if found is None:
            raise KeyError(f"supervision state has no child {name!r}")
        return found

    def spec_of(self, child: ChildState) -> ChildSpec:
        """The spec of a child that is still in the spec (children that left it are never started)."""
        found = self.specs.get(child.name)
        if found is None:
            raise KeyError(f"child {child.name!r} is not in the supervisor spec")
        return found

    def in_spec(self, child: ChildState) -> bool:
        return child.name in self.specs

    def spec_if_present(self, child: ChildState) -> ChildSpec | None:
        return self.specs.get(child.name)

    def launch(self, child: ChildState) -> None:
        """Start a new incarnation: the next supervisor-wide attempt number, from the child's current spec."""
        spec = self.spec_of(child)
        self.state.last_attempt += 1
        child.attempt = self.state.last_attempt
        child.lifecycle = ChildLifecycle.STARTING
        child.kind = spec.kind
        child.template_hash = spec.template_hash
        child.shutdown = spec.shutdown
        child.not_before = None
        child.ready_at = None

    def drop_steps(self, name: str) -> None:
        """Forget every planned step for a child whose fate was settled some other way."""
        plan = self.state.plan
        if plan is not None:
            plan.steps = [step for step in plan.steps if step.child != name]
