"""A stand-in for the operator: executes the core's actions on a toy world of pods and reports back.

Scenarios read like stories (`sup.crash("b"); sup.settle(); assert sup.ops() == [...]`), and the property
tests drive the same class with random events. The world is strict: starting a child whose previous
incarnation is still alive, or stopping one that is not, fails the test at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agent_supervisor.supervision import (
    Action,
    ChildExited,
    ChildKind,
    ChildLifecycle,
    ChildMissing,
    ChildReady,
    ChildSpec,
    ChildStartFailed,
    ChildState,
    Decision,
    EmitEvent,
    Event,
    EventReason,
    ExitReason,
    RemoveChild,
    RestartType,
    ShutdownPolicy,
    ShutdownSelf,
    SpecChanged,
    Start,
    StartChild,
    Stop,
    StopChild,
    Strategy,
    SupervisorLifecycle,
    SupervisorSpec,
    SupervisorState,
    Tick,
    WaitUntil,
    decide,
    pending_actions,
)


def agent(
    name: str,
    restart: RestartType | str = RestartType.PERMANENT,
    *,
    significant: bool = False,
    template: str = "v1",
    shutdown: ShutdownPolicy | None = None,
) -> ChildSpec:
    fields = {"name": name, "restart": restart, "significant": significant, "template_hash": template}
    return ChildSpec.model_validate(fields if shutdown is None else {**fields, "shutdown": shutdown})


def child_supervisor(name: str, restart: RestartType | str = RestartType.PERMANENT) -> ChildSpec:
    return ChildSpec.model_validate({"name": name, "kind": ChildKind.SUPERVISOR, "restart": restart})


def supervisor(strategy: Strategy | str, *children: ChildSpec | str, **flags: object) -> SupervisorSpec:
    specs = [agent(child) if isinstance(child, str) else child for child in children]
    return SupervisorSpec.model_validate({"strategy": strategy, "children": specs, **flags})


@dataclass
class Pod:
    attempt: int
    template_hash: str
    phase: Literal["starting", "ready", "terminating"] = "starting"


@dataclass(frozen=True)
class Op:
    """One thing the operator did to the world, with the supervisor's lifecycle right after the decision."""

    kind: Literal["start", "stop"]
    child: str
    attempt: int
    at: int
    lifecycle: SupervisorLifecycle
    shutdown: ShutdownPolicy | None = None


@dataclass
class Driver:
    spec: SupervisorSpec
    now: int = 1_000
    state: SupervisorState = field(init=False)
    pods: dict[str, Pod] = field(default_factory=dict)
    log: list[Op] = field(default_factory=list)
    emitted: list[tuple[int, Event, EmitEvent]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    exits: list[ShutdownSelf] = field(default_factory=list)
    wakes: set[int] = field(default_factory=set)
    last_event: Event | None = None
    sent: list[Event] = field(default_factory=list)
    replay_pending: bool = False
    """Re-execute pending_actions after every decision and check that it changes nothing."""
    lose_next_actions: bool = False
    on_decision: Callable[[], None] | None = None
    """Called after every decision has been acted on (property tests check their invariants here)."""

    def __post_init__(self) -> None:
        self.state = SupervisorState.initial(self.spec)

    # --- talking to the core
    # -----------------------------------------------------------------------------------

    def decide(self, event: Event) -> Decision:
        """Decide without acting (as if the operator crashed right after persisting the new state).

        Checks what every decision must satisfy: the input state is untouched, the new state round-trips
        through JSON, and every piece of work decided is also derivable from the new state alone.
        """
        before = self.state
        snapshot = before.to_json()
        decision = decide(self.spec, before, event, self.now)
        assert before.to_json() == snapshot, "decide mutated its input state"
        document = json.loads(json.dumps(decision.state.to_json()))
        assert SupervisorState.from_json(document) == decision.state, "state does not round-trip through JSON"
        work = {action for action in decision.actions if not isinstance(action, EmitEvent)}
        assert work <= set(pending_actions(decision.state)), "decided work that the state does not require"
        self.state = decision.state
        self.last_event = event
        self.sent.append(event)
        for action in decision.actions:
            if isinstance(action, EmitEvent):
                self.emitted.append((self.now, event, action))
        return decision

    def send(self, event: Event) -> Decision:
        """Decide and act; with `lose_next_actions` the operator crashes before acting, then recovers."""
        decision = self.decide(event)
        if self.lose_next_actions:
            self.lose_next_actions = False
            self.recover()
        else:
            self.execute(decision.actions)
            if self.replay_pending:
                world = (dict(self.pods), len(self.log), list(self.removed))
                self.recover()
                assert (dict(self.pods), len(self.log)) == world[:2], (
                    "replaying pending actions changed the world"
                )
                self.removed = world[2]
        self._check_world()
        if self.on_decision is not None:
            self.on_decision()
        return decision

    def execute(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            match action:
                case StartChild(name=name, attempt=attempt, template_hash=template_hash):
                    self._start_pod(name, attempt, template_hash)
                case StopChild(name=name, attempt=attempt, shutdown=shutdown):
                    self._stop_pod(name, attempt, shutdown)
                case WaitUntil(at=at):
                    self.wakes.add(at)
                case RemoveChild(name=name):
                    self.removed.append(name)
                case ShutdownSelf():
                    if action not in self.exits:
                        self.exits.append(action)
                case EmitEvent():
                    pass  # recorded by decide(), where the triggering event is known

    def recover(self) -> None:
        """What the operator does after a restart: re-issue all the persisted state still requires."""
        self.execute(pending_actions(self.state))

    def _check_world(self) -> None:
        """The pods are exactly the incarnations the state believes alive, in the matching phase."""
        phases = {
            ChildLifecycle.STARTING: "starting",
            ChildLifecycle.RUNNING: "ready",
            ChildLifecycle.STOPPING: "terminating",
        }
        expected = {
            child.name: (child.attempt, phases[child.lifecycle])
            for child in self.state.children
            if child.lifecycle in phases
        }
        actual = {name: (pod.attempt, pod.phase) for name, pod in self.pods.items()}
        assert actual == expected, f"world {actual} differs from the supervisor's view {expected}"

    def _start_pod(self, name: str, attempt: int, template_hash: str) -> None:
        pod = self.pods.get(name)
        if pod is not None and pod.attempt == attempt:
            return  # already created before a crash: the attempt label makes the start idempotent
        assert pod is None, f"start of {name} attempt {attempt} while attempt {pod.attempt} is alive"
        self.pods[name] = Pod(attempt=attempt, template_hash=template_hash)
        self.log.append(Op("start", name, attempt, self.now, self.state.lifecycle))

    def _stop_pod(self, name: str, attempt: int, shutdown: ShutdownPolicy) -> None:
        pod = self.pods.get(name)
        assert pod is not None and pod.attempt == attempt, (
            f"stop of {name} attempt {attempt}, which is not alive"
        )
        if pod.phase != "terminating":
            pod.phase = "terminating"
            self.log.append(Op("stop", name, attempt, self.now, self.state.lifecycle, shutdown))

    # --- the story verbs
    # ---------------------------------------------------------------------------------------

    def start(self) -> Decision:
        return self.send(Start())

    def stop(self) -> Decision:
        return self.send(Stop())

    def ready(self, name: str) -> Decision:
        pod = self.pods[name]
        assert pod.phase == "starting", f"{name} is {pod.phase}"
        pod.phase = "ready"
        return self.send(ChildReady(name=name, attempt=pod.attempt))

    def exit(self, name: str, reason: ExitReason, exit_code: int | None = None) -> Decision:
        pod = self.pods.pop(name)
        return self.send(ChildExited(name=name, attempt=pod.attempt, reason=reason, exit_code=exit_code))

    def crash(self, name: str, exit_code: int = 1) -> Decision:
        return self.exit(name, ExitReason.ABNORMAL, exit_code)

    def finish(self, name: str) -> Decision:
        """The child's work is done: exit code 0."""
        return self.exit(name, ExitReason.NORMAL, 0)

    def fail_start(self, name: str, detail: str = "not ready within the start deadline") -> Decision:
        pod = self.pods.pop(name)
        assert pod.phase == "starting", f"{name} is {pod.phase}"
        return self.send(ChildStartFailed(name=name, attempt=pod.attempt, detail=detail))

    def complete_stop(self, name: str) -> Decision:
        pod = self.pods.pop(name)
        assert pod.phase == "terminating", f"{name} is {pod.phase}"
        return self.send(ChildExited(name=name, attempt=pod.attempt, reason=ExitReason.SHUTDOWN))

    def vanish(self, name: str) -> Decision:
        """The pod was deleted while the operator was down; on restart it reports it missing."""
        pod = self.pods.pop(name)
        return self.send(ChildMissing(name=name, attempt=pod.attempt))

    def advance(self, seconds: int) -> Decision:
        self.now += seconds
        self.wakes = {at for at in self.wakes if at > self.now}
        return self.send(Tick())

    def edit(self, spec: SupervisorSpec) -> Decision:
        self.spec = spec
        return self.send(SpecChanged())

    def settle(self, max_steps: int = 1_000) -> None:
        """Let the world run with no failures: stops complete, starts become Ready, backoff timers fire."""
        for _ in range(max_steps):
            terminating = [name for name, pod in self.pods.items() if pod.phase == "terminating"]
            starting = [name for name, pod in self.pods.items() if pod.phase == "starting"]
            if terminating:
                self.complete_stop(terminating[0])
            elif starting:
                self.ready(starting[0])
            elif self.wakes:
                # A wake-up that is already due (re-derived after a crash) fires at once.
                self.advance(max(min(self.wakes) - self.now, 0))
            else:
                return
        raise AssertionError("the supervisor did not settle")

    def start_and_settle(self) -> None:
        self.start()
        self.settle()
        self.log.clear()
        self.emitted.clear()

    # --- observations
    # ------------------------------------------------------------------------------------------

    def ops(self) -> list[tuple[str, str]]:
        return [(op.kind, op.child) for op in self.log]

    def reasons(self) -> list[EventReason]:
        return [event.reason for _, _, event in self.emitted]

    def child(self, name: str) -> ChildState:
        child = self.state.find(name)
        assert child is not None, name
        return child

    def lifecycle_of(self, name: str) -> str:
        return self.child(name).lifecycle.value

    @property
    def lifecycle(self) -> SupervisorLifecycle:
        return self.state.lifecycle

    def running(self) -> list[str]:
        return [name for name, pod in self.pods.items() if pod.phase == "ready"]

    def stop_everything(self) -> None:
        """Stop the supervisor and let the stops complete."""
        self.stop()
        self.settle()
