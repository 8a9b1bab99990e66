"""Escalation across two levels: the parent applies its own rules to a child supervisor that gave up."""

from agent_supervisor.supervision import (
    ChildStartFailed,
    ExitReason,
    ShutdownReason,
    ShutdownSelf,
    SupervisorLifecycle,
)
from tests.supervision.driver import Driver, child_supervisor, supervisor


def _tree(restart: str) -> tuple[Driver, Driver]:
    """A parent whose second child is a supervisor of two workers that tolerates no restart."""
    parent = Driver(supervisor("one_for_one", "a", child_supervisor("team", restart), max_restarts=1))
    team = Driver(supervisor("one_for_one", "w1", "w2", max_restarts=0))
    parent.start()
    parent.ready("a")
    team.start_and_settle()  # the parent's StartChild for `team` is the child supervisor's Start
    parent.ready("team")
    parent.log.clear()
    return parent, team


def _escalate(team: Driver) -> None:
    team.crash("w1")
    team.settle()
    assert team.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_escalated_permanent_child_supervisor_is_restarted_by_its_parent():
    parent, team = _tree("permanent")
    _escalate(team)
    parent.exit("team", ExitReason.SHUTDOWN)  # how a parent sees a child supervisor that shut down
    assert parent.ops() == [("start", "team")]
    assert parent.state.restarts == [1000]  # one unit of the parent's intensity
    team.start()  # restarting the child supervisor resets it
    team.settle()
    assert team.lifecycle is SupervisorLifecycle.RUNNING
    assert team.state.restarts == []


def test_escalated_transient_child_supervisor_stays_down():
    parent, team = _tree("transient")
    _escalate(team)
    parent.exit("team", ExitReason.SHUTDOWN)
    assert parent.ops() == []
    assert parent.lifecycle_of("team") == "exited"
    assert parent.state.restarts == []


def test_escalated_temporary_child_supervisor_is_removed():
    parent, team = _tree("temporary")
    _escalate(team)
    parent.exit("team", ExitReason.SHUTDOWN)
    assert parent.lifecycle_of("team") == "removed"


def test_budgets_multiply_across_levels():
    """sup_princ.md warns about this: (1 + 1) restarts of the team times (1 + 1) at the root = 4 crashes."""
    parent = Driver(supervisor("one_for_one", child_supervisor("team"), max_restarts=1))
    parent.start()
    crashes = 0
    while "team" in parent.pods:
        team = Driver(supervisor("one_for_one", "w", max_restarts=1))
        team.start_and_settle()
        parent.ready("team")
        while team.lifecycle is SupervisorLifecycle.RUNNING:
            team.crash("w")
            crashes += 1
            team.settle()
        parent.exit("team", ExitReason.SHUTDOWN)
    assert crashes == 4
    assert parent.exits == [ShutdownSelf(ShutdownReason.REACHED_MAX_RESTART_INTENSITY)]


def test_child_supervisor_that_fails_to_start_fails_its_parents_start_up():
    parent = Driver(supervisor("one_for_one", child_supervisor("team"), "after"))
    team = Driver(supervisor("one_for_one", "w1"))
    parent.start()
    team.start()
    team.fail_start("w1")
    assert team.exits == [ShutdownSelf(ShutdownReason.FAILED_TO_START_CHILD)]
    pod = parent.pods.pop("team")
    parent.send(ChildStartFailed(name="team", attempt=pod.attempt, detail="failed_to_start_child"))
    assert parent.exits == [ShutdownSelf(ShutdownReason.FAILED_TO_START_CHILD)]
    assert parent.lifecycle_of("after") == "pending"
