"""The operator itself fails: killed in the middle of a group restart, or one of two replicas."""

from __future__ import annotations

import signal

from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_for, wait_running

RECONCILES = "agent_supervisor_reconciles_total"


def test_an_operator_killed_mid_group_restart_completes_it_exactly_once(env: Env) -> None:
    # The pod-replacing path (test_in_place.py has the same case in place).
    first = env.operator("op-1", "--no-in-place-restarts")
    children = [agent_child(n) for n in ("a", "b", "c")]
    env.apply(supervisor("team", children, strategy="one_for_all", periodSeconds=60))
    wait_running(env, "team", 3)
    pods = env.record_pods()

    env.kill_pod("team-b-2")
    # Mid-way: the others are stopped and a's new incarnation exists; b and c are still to start.
    wait_for(lambda: "team-a-4" in pods.created(), what="the group restart to be under way")
    first.kill(signal.SIGKILL)
    env.operator("op-2", "--no-in-place-restarts")

    wait_for(lambda: env.running_pods() == {"team-a-4", "team-b-5", "team-c-6"}, what="the restart completed")
    wait_running(env, "team", 3)
    assert pods.created() == ["team-a-4", "team-b-5", "team-c-6"], "each new incarnation created once"
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "1/3"
    assert status["totalRestarts"] == 1
    assert [(c["name"], c["restarts"]) for c in status["children"]] == [("a", 0), ("b", 1), ("c", 0)]
    assert len(env.events("GroupRestarted")) == 1


def test_of_two_replicas_exactly_one_acts_and_the_other_takes_over(env: Env) -> None:
    replicas = [env.operator("op-1"), env.operator("op-2")]
    wait_for(lambda: sum(op.is_leader() for op in replicas) == 1, what="exactly one leader")
    leader = next(op for op in replicas if op.is_leader())
    follower = next(op for op in replicas if op is not leader)
    env.apply(supervisor("team", [agent_child("a")]))
    wait_running(env, "team", 1)
    pods = env.record_pods()

    env.kill_pod("team-a-1")
    wait_for(lambda: "team-a-2" in env.running_pods(), what="a restarted by the leader")
    assert leader.metric(RECONCILES) > 0
    assert follower.metric(RECONCILES) == 0, "the follower never reconciles"
    assert not follower.is_leader()

    leader.kill(signal.SIGKILL)
    wait_for(follower.is_leader, timeout=30, what="the follower to take the lease over")
    env.kill_pod("team-a-2")

    wait_for(lambda: "team-a-3" in env.running_pods(), what="a restarted by the new leader")
    assert pods.created() == ["team-a-2", "team-a-3"]
    assert env.status("agentsupervisors", "team")["children"][0]["restarts"] == 2


def test_a_replica_that_loses_the_lease_stops_and_exits(env: Env) -> None:
    operator = env.operator("op-1")
    wait_for(operator.is_leader, what="op-1 to lead")

    env.api.patch(
        "leases", env.namespace, "agent-supervisor-operator", {"spec": {"holderIdentity": "intruder"}}
    )

    process = operator.process
    assert process is not None
    wait_for(lambda: process.poll() is not None, timeout=15, what="op-1 to exit")
    assert process.returncode == 3, operator.log_tail()
    assert "leadership lost" in operator.log_tail()


def test_sigterm_stops_the_controller_before_kopf_waits_for_hung_tasks(env: Env) -> None:
    # The operator holds a stream per serving agent pod. On SIGTERM kopf waits up to 5 s for every task
    # created since it started before it cancels them; the controller stops them first, in kopf's cleanup,
    # so kopf finds nothing left to wait for (its log says so at debug level).
    operator = env.operator("op-1", "--verbose")
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")]))
    wait_running(env, "team", 2)

    operator.kill(signal.SIGTERM)

    assert operator.process is not None and operator.process.returncode == 0, operator.log_tail()
    log = operator.log_path.read_text(errors="replace")
    assert "stop_acting' succeeded" in log, operator.log_tail()
    assert "Hung tasks stopping is skipped: no tasks given." in log, operator.log_tail()
