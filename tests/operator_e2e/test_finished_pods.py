"""The finished pod of a replaced incarnation: kept for --finished-pod-ttl with its logs, then deleted.

Deleting it is the operator's own clean-up, not an exit: nothing the statuses say changes.
"""

from __future__ import annotations

from tests.operator_e2e.harness import Env, Operator, wait_for
from tests.operator_e2e.test_restart_types import standalone, task_template

LOOPERS = ("looper-a", "looper-b")


def start_loopers(env: Env, *operator_args: str) -> Operator:
    """Agents that crash (exit 42) two seconds after each start, with one restart allowed: each runs as
    <name>-1, is replaced by <name>-2, and ends Failed."""
    # Pods of replaced incarnations exist only when every incarnation is a new pod.
    operator = env.operator("op-1", "--no-in-place-restarts", *operator_args)
    for name in LOOPERS:
        env.apply(standalone(name, task_template(env, "slowcrash"), maxRestarts=1, periodSeconds=600))
    return operator


def reconciles(operator: Operator) -> float:
    return operator.metric("agent_supervisor_reconciles_total", {"kind": "Agent", "result": "ok"})


def test_a_replaced_pod_is_kept_with_its_logs_then_deleted_without_counting_as_an_exit(env: Env) -> None:
    pods = env.record_pods()
    operator = start_loopers(env, "--finished-pod-ttl", "6")

    wait_for(lambda: "looper-a-2" in pods.created(), what="looper-a-1 replaced by looper-a-2")
    crashed = env.pods()["looper-a-1"]
    assert crashed["status"]["phase"] == "Failed"
    assert "looper-a-1" not in pods.deletion_requested()
    # Why it crashed is still readable from the incarnation that crashed.
    assert "exiting with 42" in env.kubectl("logs", "looper-a-1").stdout

    for name in LOOPERS:
        wait_for(lambda name=name: env.status("agents", name).get("phase") == "Failed", what=f"{name} Failed")
    before = {name: env.status("agents", name) for name in LOOPERS}
    wait_for(
        lambda: {"looper-a-1", "looper-b-1"} <= set(pods.deletion_requested()),
        timeout=30,
        what="the replaced pods deleted once their TTL passed",
    )
    assert operator.metric("agent_supervisor_finished_pods_deleted_total") == 2
    # The pod of the current (last) incarnation is the agent's record of how it ended: never deleted.
    assert not {"looper-a-2", "looper-b-2"} & set(pods.deletion_requested())
    assert set(env.pods()) == {"looper-a-2", "looper-b-2"}
    # A reconcile of each Agent once its old pod is gone changes nothing (the operator skips the reconcile
    # its own deletion would cause; an annotation makes one happen).
    settled = reconciles(operator)
    for name in LOOPERS:
        env.kubectl("annotate", "agent", name, "example.com/poke=1")
    wait_for(lambda: reconciles(operator) >= settled + len(LOOPERS), what="the Agents reconciled again")
    for name in LOOPERS:
        after = env.status("agents", name)
        assert after["phase"] == "Failed"
        assert after["totalRestarts"] == before[name]["totalRestarts"] == 1
        assert after["lastExit"] == before[name]["lastExit"]
        assert after["lastExit"]["reason"] == "CrashRequested"
        assert after["attempt"] == before[name]["attempt"] == 2


def test_with_a_ttl_of_zero_a_replaced_pod_is_deleted_at_once(env: Env) -> None:
    pods = env.record_pods()
    operator = start_loopers(env, "--finished-pod-ttl", "0")

    wait_for(lambda: "looper-a-2" in pods.created(), what="looper-a-1 replaced by looper-a-2")
    wait_for(lambda: "looper-a-1" in pods.deletion_requested(), what="looper-a-1 deleted")
    assert operator.metric("agent_supervisor_finished_pods_deleted_total") == 0
