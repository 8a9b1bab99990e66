"""Executing a plan: one step at a time, because pods stop and start asynchronously.

OTP stops and starts children synchronously inside one callback. Here a stop completes only when the child's
exit is reported and a start only when it is Ready, so a multi-step operation keeps its remaining steps in the
state and only the first one runs. That gives OTP's orderings: stops one at a time in the order planned
(reverse start order), starts one at a time in start order, each after the previous child is Ready.

One exception, for speed: a run of brutal_kill stops at the head of the plan is begun at once, in plan order
(`_begin_brutal_kills`). OTP kills such children one after the other too, but each kill is unconditional and
takes effect at once, so no child can observe the order; waiting for each exit report before sending the next
kill would only add a round trip per child to every group restart.
"""

from __future__ import annotations

from agent_supervisor.supervision.state import ChildLifecycle, ChildState, Plan
from agent_supervisor.supervision.turn import Turn

_ALIVE_TO_STOP = (ChildLifecycle.STARTING, ChildLifecycle.RUNNING)


def run_first_step(turn: Turn) -> bool:
    """Carry the plan's first step as far as it can go now; True when that step is done and was dropped.

    An empty plan is dropped too (returning True), so the caller can finish whatever the plan was for.
    """
    plan = turn.state.plan
    if plan is None:
        return False
    if not plan.steps:
        turn.state.plan = None
        return True
    step = plan.steps[0]
    child = turn.child(step.child)
    if step.op == "stop":
        if child.lifecycle in _ALIVE_TO_STOP:
            child.lifecycle = ChildLifecycle.STOPPING
        if child.lifecycle is ChildLifecycle.STOPPING:
            if _brutal_kill(child):
                _begin_brutal_kills(turn, plan)
            return False
        # Not alive (stopped, or never started): nothing to wait for. A restart it was waiting for is
        # cancelled.
        child.not_before = None
        if step.forget:
            child.lifecycle = ChildLifecycle.REMOVED
        elif child.lifecycle is ChildLifecycle.RESTARTING:
            child.lifecycle = ChildLifecycle.STOPPED
    else:
        if child.lifecycle in (ChildLifecycle.STARTING, ChildLifecycle.STOPPING):
            return False
        if child.lifecycle not in (ChildLifecycle.RUNNING, ChildLifecycle.REMOVED):
            if child.not_before is not None and child.not_before > turn.now:
                return False
            turn.launch(child)
            return False
    plan.steps = plan.steps[1:]
    return True


def _brutal_kill(child: ChildState) -> bool:
    return child.shutdown.mode == "brutal_kill"


def _begin_brutal_kills(turn: Turn, plan: Plan) -> None:
    """Begin the stops planned right after a brutal kill that are brutal kills too (see the module's doc).

    The run ends at the first step that is not a stop or whose child is alive and stopped with a grace
    period: that child's turn comes only after every kill before it has been reported.
    """
    for step in plan.steps[1:]:
        if step.op != "stop":
            return
        child = turn.child(step.child)
        if child.lifecycle in _ALIVE_TO_STOP:
            if not _brutal_kill(child):
                return
            child.lifecycle = ChildLifecycle.STOPPING
        elif child.lifecycle is ChildLifecycle.STOPPING and not _brutal_kill(child):
            return
