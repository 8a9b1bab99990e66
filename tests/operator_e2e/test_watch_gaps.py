"""What the watches miss: a pod deleted while kopf's watch was down and its history expired.

kopf restarts such a watch with a fresh LIST and never reports the objects missing from it, so only the
operator's periodic resync (controller/resync.py) can notice that the pod is gone.
"""

from __future__ import annotations

from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_for, wait_running

VANISHED = "agent_supervisor_resync_vanished_objects_total"


def test_a_pod_deleted_in_a_watch_gap_is_an_exit_all_the_same(env: Env) -> None:
    # No pod supervisor: it would report the incarnation's end on its own stream (as a pod deletion: see
    # test_in_place.py), and this test is about the pod watch's gap, which only the resync can close.
    operator = env.operator("op-1", "--resync-period", "1", "--no-in-place-restarts")
    env.apply(supervisor("team", [agent_child("a")], periodSeconds=600))
    wait_running(env, "team", 1)

    # Cut every watch and hold kopf's reconnect of the namespace's pods back until the pod is gone and the
    # history that would have told of its deletion is compacted away: the reconnect then meets 410 Gone.
    env.cluster.delay("GET", rf"/namespaces/{env.namespace}/pods\?.*watch=", seconds=3, count=1)
    assert env.cluster.drop_watches() >= 1
    response = env.api.http.delete(
        env.api.path("pods", env.namespace, "team-a-1"), params={"gracePeriodSeconds": "0"}
    )
    assert response.status_code == 200, response.text
    env.cluster.compact_history()

    wait_for(lambda: "team-a-2" in env.running_pods(), timeout=60, what="a restarted as team-a-2")
    child = env.status("agentsupervisors", "team")["children"][0]
    assert child["restarts"] == 1
    assert (child["lastExit"]["classification"], child["lastExit"]["reason"]) == ("abnormal", "PodDeleted")
    assert operator.metric(VANISHED) >= 1, "found by the resync, not by a watch event"
