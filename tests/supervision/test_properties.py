"""Properties over random event sequences, checked after every single decision.

A run plays the operator (tests/supervision/driver.py) against random failures, readiness, stops, clock ticks,
replayed old events and operator crashes between deciding and acting. Whatever happens: restarts stay within
the intensity or the supervisor shuts down, stops go in reverse start order one at a time, one_for_one never
touches siblings, rest_for_one never touches earlier children, temporary children never restart, every restart
is announced, replaying pending actions is harmless - and once the world calms down, the supervisor converges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.supervision import (
    AutoShutdown,
    ChildExited,
    ChildMissing,
    ChildReady,
    ChildStartFailed,
    EventReason,
    ExitReason,
    RestartType,
    ShutdownPolicy,
    Strategy,
    SupervisorLifecycle,
    SupervisorSpec,
)
from tests.supervision.driver import Driver, agent, supervisor
from tests.supervision.profiles import PROFILE

STEPS = 60
ACTIVE = (SupervisorLifecycle.STARTING, SupervisorLifecycle.RUNNING)
RESTARTS = (EventReason.CHILD_RESTARTED, EventReason.GROUP_RESTARTED)
CHILD_EVENTS = (ChildExited, ChildReady, ChildStartFailed, ChildMissing)


@st.composite
def supervisor_specs(draw: st.DrawFn, strategies: tuple[Strategy, ...] = tuple(Strategy)) -> SupervisorSpec:
    auto_shutdown = draw(st.sampled_from(list(AutoShutdown)))
    children = []
    for index in range(draw(st.integers(1, 5))):
        restart = draw(st.sampled_from(list(RestartType)))
        significant = (
            auto_shutdown is not AutoShutdown.NEVER
            and restart is not RestartType.PERMANENT
            and draw(st.booleans())
        )
        shutdown = draw(st.sampled_from([ShutdownPolicy.brutal_kill(), ShutdownPolicy.timeout(5)]))
        children.append(agent(f"c{index}", restart, significant=significant, shutdown=shutdown))
    backoff = draw(
        st.none()
        | st.builds(
            lambda initial, extra: {"initial_seconds": initial, "max_seconds": initial + extra},
            st.integers(1, 3),
            st.integers(0, 5),
        )
    )
    return supervisor(
        draw(st.sampled_from(strategies)),
        *children,
        max_restarts=draw(st.integers(0, 3)),
        period_seconds=draw(st.integers(1, 10)),
        auto_shutdown=auto_shutdown,
        backoff=backoff,
    )


@dataclass
class Run:
    """One random run and the observer that checks every decision against the OTP rules."""

    spec: SupervisorSpec
    sup: Driver = field(init=False)
    restart_times: list[int] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    """Children for which a restart was announced since their last start."""
    started: set[str] = field(default_factory=set)
    group_trigger: str | None = None
    stop_run: list[int] = field(default_factory=list)
    seen_ops: int = 0
    seen_events: int = 0

    def __post_init__(self) -> None:
        self.sup = Driver(self.spec, replay_pending=True, on_decision=self.check)
        self.index = {child.name: position for position, child in enumerate(self.spec.children)}
        self.restart_type = {child.name: child.restart for child in self.spec.children}
        self.brutal = {child.name: child.shutdown.mode == "brutal_kill" for child in self.spec.children}

    # --- driving
    # ---------------------------------------------------------------------------------------------

    def play(self, data: st.DataObject) -> None:
        self.sup.start()
        for step in range(data.draw(st.integers(0, STEPS), label="steps")):
            options = self.options(step)
            kind, name = data.draw(st.sampled_from(options))
            self.sup.lose_next_actions = data.draw(st.integers(0, 9)) == 0
            self.apply(kind, name, data)
        self.sup.lose_next_actions = False
        self.sup.settle()
        self.check_converged()

    def options(self, step: int) -> list[tuple[str, str]]:
        """What may happen next; repeated entries make progress likelier than failure, so runs get far."""
        options = [("tick", ""), ("replay", "")]
        for name, pod in self.sup.pods.items():
            if pod.phase == "starting":
                options += [("ready", name)] * 6 + [("fail_start", name), ("crash", name)]
            elif pod.phase == "ready":
                options += [("crash", name)] * 2 + [
                    ("finish", name),
                    ("shutdown_exit", name),
                    ("vanish", name),
                ]
            else:
                options += [("complete_stop", name)] * 3 + [("crash", name), ("vanish", name)]
        if step % 10 == 9 and self.sup.lifecycle in ACTIVE:
            options.append(("stop", ""))
        if self.sup.lifecycle is SupervisorLifecycle.TERMINATED:
            options += [("reset", "")] * 4
        return options

    def apply(self, kind: str, name: str, data: st.DataObject) -> None:
        sup = self.sup
        match kind:
            case "ready":
                sup.ready(name)
            case "fail_start":
                sup.fail_start(name)
            case "crash":
                sup.crash(name)
            case "finish":
                sup.finish(name)
            case "shutdown_exit":
                sup.exit(name, ExitReason.SHUTDOWN)
            case "complete_stop":
                sup.complete_stop(name)
            case "vanish":
                sup.vanish(name)
            case "tick":
                sup.advance(data.draw(st.integers(0, 8)))
            case "replay":
                old = [event for event in sup.sent if isinstance(event, CHILD_EVENTS)]
                if old:
                    decision = sup.send(data.draw(st.sampled_from(old)))
                    assert decision.actions == (), f"replaying an old event acted: {decision.actions}"
            case "stop":
                sup.stop()
            case "reset":
                self.restart_times.clear()
                self.started.clear()
                self.covered.clear()
                sup.start()

    # --- the rules, checked after every decision
    # ---------------------------------------------------------------

    def check(self) -> None:
        sup = self.sup
        new_events = sup.emitted[self.seen_events :]
        self.seen_events = len(sup.emitted)
        for _, trigger, event in new_events:
            if event.reason in RESTARTS:
                self.check_restart_announced(getattr(trigger, "name", None), event.reason)
            elif event.reason is EventReason.INTENSITY_EXCEEDED:
                assert self.in_window() == self.spec.max_restarts, (
                    "shut down before the intensity was exceeded"
                )
                assert sup.lifecycle in (SupervisorLifecycle.SHUTTING_DOWN, SupervisorLifecycle.TERMINATED)
        assert (
            sum(event.reason in (*RESTARTS, EventReason.INTENSITY_EXCEEDED) for *_, event in new_events) <= 1
        )
        for op in sup.log[self.seen_ops :]:
            self.check_op(op.kind, op.child, op.lifecycle)
        self.seen_ops = len(sup.log)
        terminating = [name for name, pod in sup.pods.items() if pod.phase == "terminating"]
        # A run of brutal kills is sent at once (plans.py); a child with a grace period stops alone.
        together = len(terminating) > 1
        assert not together or all(self.brutal[name] for name in terminating), (
            "a child with a grace period is stopped one at a time"
        )
        if self.spec.strategy is not Strategy.ONE_FOR_ONE:
            busy = [name for name, pod in sup.pods.items() if pod.phase != "ready"]
            assert len(busy) <= 1 or busy == terminating, "group strategies act sequentially"

    def in_window(self) -> int:
        return sum(1 for at in self.restart_times if at >= self.sup.now - self.spec.period_seconds)

    def check_restart_announced(self, trigger: str | None, reason: EventReason) -> None:
        assert trigger is not None, "a restart must be caused by an event about a child"
        assert self.sup.lifecycle in ACTIVE
        self.restart_times.append(self.sup.now)
        assert self.in_window() <= self.spec.max_restarts, "more restarts in the window than allowed"
        if self.spec.strategy is Strategy.ONE_FOR_ONE:
            assert reason is EventReason.CHILD_RESTARTED
            self.covered.add(trigger)
            return
        assert reason is EventReason.GROUP_RESTARTED
        self.group_trigger = trigger
        first = 0 if self.spec.strategy is Strategy.ONE_FOR_ALL else self.index[trigger]
        self.covered.update(name for name, position in self.index.items() if position >= first)

    def check_op(self, kind: str, child: str, lifecycle: SupervisorLifecycle) -> None:
        if kind == "start":
            if child in self.started:
                assert self.restart_type[child] is not RestartType.TEMPORARY, (
                    f"temporary child {child} restarted"
                )
                assert child in self.covered, f"{child} was restarted without a restart being decided for it"
            self.started.add(child)
            self.covered.discard(child)
            self.stop_run.clear()
            return
        if self.stop_run:
            assert self.index[child] < self.stop_run[-1], "stops must go in reverse start order"
        self.stop_run.append(self.index[child])
        if lifecycle not in (SupervisorLifecycle.SHUTTING_DOWN, SupervisorLifecycle.TERMINATED):
            assert self.spec.strategy is not Strategy.ONE_FOR_ONE, "one_for_one stopped a sibling"
            if self.spec.strategy is Strategy.REST_FOR_ONE:
                assert self.group_trigger is not None
                assert self.index[child] > self.index[self.group_trigger], (
                    "rest_for_one stopped an earlier child"
                )

    def check_converged(self) -> None:
        sup = self.sup
        assert sup.lifecycle in (SupervisorLifecycle.RUNNING, SupervisorLifecycle.TERMINATED)
        assert sup.state.plan is None
        if sup.lifecycle is SupervisorLifecycle.TERMINATED:
            assert sup.pods == {}
            assert len(sup.exits) >= 1
            return
        settled_down = {
            RestartType.PERMANENT: set(),
            RestartType.TRANSIENT: {"exited"},
            RestartType.TEMPORARY: {"removed"},
        }
        for child in self.spec.children:
            if child.name not in sup.running():
                assert sup.lifecycle_of(child.name) in settled_down[child.restart], child.name


@PROFILE
@given(supervisor_specs(), st.data())
def test_random_event_sequences_obey_the_otp_rules(spec: SupervisorSpec, data: st.DataObject):
    Run(spec).play(data)


@PROFILE
@given(supervisor_specs(strategies=(Strategy.REST_FOR_ONE,)), st.data())
def test_rest_for_one_never_touches_earlier_children(spec: SupervisorSpec, data: st.DataObject):
    Run(spec).play(data)


@PROFILE
@given(supervisor_specs(strategies=(Strategy.ONE_FOR_ONE,)), st.data())
def test_one_for_one_never_touches_siblings(spec: SupervisorSpec, data: st.DataObject):
    Run(spec).play(data)
