"""Executing a plan: one step at a time, because pods stop and start asynchronously.

OTP stops and starts children synchronously inside one callback. Here a stop completes only when the child's
exit is reported and a start only when it is Ready, so a multi-step operation keeps its remaining steps in the
state and only the first one runs. That gives OTP's orderings: stops one at a time in the order planned
(reverse start order), starts one at a time in start order, each after the previous child is Ready.
"""

from __future__ import annotations

from agent_supervisor.supervision.state import ChildLifecycle
from agent_supervisor.supervision.turn import Turn


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
        if child.lifecycle in (ChildLifecycle.STARTING, ChildLifecycle.RUNNING):
            child.lifecycle = ChildLifecycle.STOPPING
            return False
        if child.lifecycle is ChildLifecycle.STOPPING:
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
