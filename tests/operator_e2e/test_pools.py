"""A pool on the local cluster with the real operator: scaled up and down in order, a member crash under
one_for_one restarts only that member."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.operator_e2e.harness import (
    Env,
    PodRecorder,
    agent_child,
    agent_template,
    applied_revision,
    attempt_pods,
    supervisor,
    wait_for,
    wait_running,
)

POOL_LABEL = "otp.agents.dev/pool"


def pool_supervisor(replicas: int) -> dict[str, Any]:
    workers = {
        "name": "w",
        "shutdown": {"brutalKill": True},
        "pool": {"replicas": replicas, "template": agent_template()},
    }
    return supervisor(
        "pool", [agent_child("lead"), workers], strategy="one_for_one", maxRestarts=3, periodSeconds=300
    )


def scale(env: Env, replicas: int) -> None:
    edit = [{"op": "replace", "path": "/spec/children/1/pool/replicas", "value": replicas}]
    env.kubectl("patch", "agentsupervisor", "pool", "--type", "json", "-p", json.dumps(edit))


def uids(env: Env) -> dict[str, str]:
    """Live pods by child name -> uid."""
    live = attempt_pods(env)
    return {
        pod["metadata"]["labels"]["otp.agents.dev/child"]: pod["metadata"]["uid"]
        for name, pod in env.pods().items()
        if live.get(pod["metadata"]["labels"]["otp.agents.dev/child"])
        == int(pod["metadata"]["labels"]["otp.agents.dev/attempt"])
    }


def children_in(pods: PodRecorder, what: str) -> list[str]:
    """Child names of the recorded pods in the order they were `created` or began `deleting`."""
    names = pods.created() if what == "created" else pods.deletion_requested()
    by_name = {event.name: event.child for event in pods.events}
    return [str(by_name[name]) for name in names]


def members(first: int, last: int) -> list[str]:
    return [f"w-{index}" for index in range(first, last)]


def test_a_pool_scales_up_and_down_in_order_and_a_member_crash_restarts_only_it(env: Env) -> None:
    # Every incarnation a pod, so that the pod recorder sees what the operator decides: its Ready is the
    # operator's, and a restart is a new pod (in place, the pod supervisor reports Ready first and a restart
    # keeps the pod; test_in_place.py covers that path).
    env.operator("op-1", "--no-in-place-restarts")
    env.apply(pool_supervisor(20))
    wait_running(env, "pool", 21, timeout=180)
    status = env.status("agentsupervisors", "pool")
    assert status["pools"] == [{"name": "w", "replicas": 20, "readyReplicas": 20}]
    agent = env.get("agents", "pool-w-7")
    assert agent is not None and agent["metadata"]["labels"][POOL_LABEL] == "w"
    before = uids(env)

    pods = env.record_pods()
    scale(env, 30)
    wait_running(env, "pool", 31, timeout=180)
    assert children_in(pods, "created") == members(20, 30), "new members start in index order"
    created = pods.created()
    for earlier, later in itertools.pairwise(created):
        assert pods.index(earlier, "ready") < pods.index(later, "created"), (
            f"{later} started before {earlier} was Ready"
        )
    after_up = uids(env)
    assert {child: after_up[child] for child in before} == before, "scaling up touched no running child"

    pods = env.record_pods()
    scale(env, 5)
    # w-5 stops last; its Agent goes once it has stopped.
    wait_for(lambda: env.get("agents", "pool-w-5") is None, timeout=120, what="the scale-down to finish")
    wait_running(env, "pool", 6)
    assert children_in(pods, "deleting") == list(reversed(members(5, 30))), "the highest index stops first"
    assert pods.created() == []
    assert {child: uid for child, uid in uids(env).items()} == {
        child: after_up[child] for child in ["lead", *members(0, 5)]
    }
    listing = env.kubectl("get", "agentsupervisors", "pool").stdout
    assert "POOLS" in listing.splitlines()[0] and "w 5/5" in listing

    running = uids(env)
    crashed = next(name for name, pod in env.pods().items() if pod["metadata"]["uid"] == running["w-2"])
    env.kill_pod(crashed)
    wait_for(lambda: uids(env).get("w-2") not in (None, running["w-2"]), timeout=60, what="w-2 restarted")
    wait_running(env, "pool", 6)
    again = uids(env)
    assert {child: uid for child, uid in again.items() if child != "w-2"} == {
        child: uid for child, uid in running.items() if child != "w-2"
    }, "one_for_one restarted only the crashed member"
    status = env.status("agentsupervisors", "pool")
    assert status["restartsInWindow"] == "1/3"
    for member in members(0, 5):
        wait_for(
            lambda m=member: applied_revision(env.status("agents", f"pool-{m}")), what=f"{member}'s config"
        )
    assert [child["restarts"] for child in status["children"]] == [0, 0, 0, 1, 0, 0]
