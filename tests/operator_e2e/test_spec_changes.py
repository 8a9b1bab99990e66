"""Spec edits: hot fields reach the running agent without a new pod; cold fields replace pods, uncounted."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.operator_e2e.harness import (
    Env,
    agent_child,
    agent_template,
    applied_revision,
    supervisor,
    wait_for,
    wait_running,
)


def applied(env: Env, agent: str) -> str | None:
    """The config revision the agent reports as applied, once it is the one the operator rendered."""
    return applied_revision(env.status("agents", agent))


def test_a_hot_change_reaches_the_running_agent_without_a_new_pod(env: Env) -> None:
    env.operator()
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")]))
    wait_running(env, "team", 2)
    before = wait_for(lambda: applied(env, "team-a"), what="team-a's first config applied")
    pods = env.record_pods()

    edit = [{"op": "replace", "path": "/spec/children/0/agent/systemPrompt", "value": "You are changed."}]
    started = time.monotonic()
    env.kubectl("patch", "agentsupervisor", "team", "--type", "json", "-p", json.dumps(edit))

    wait_for(lambda: (applied(env, "team-a") or before) != before, what="the new revision applied")
    print(f"hot reload: edit to ConfigApplied in {time.monotonic() - started:.2f}s")
    after = applied(env, "team-a")
    assert pods.created() == [] and pods.deletion_requested() == []
    assert env.running_pods() == {"team-a-1", "team-b-2"}
    assert after == env.status("agents", "team-a")["configRevision"]
    config = env.get("configmaps", "team-a-config")
    assert config is not None and "You are changed." in config["data"]["config.yaml"]
    assert env.status("agentsupervisors", "team")["restartsInWindow"] == "0/3"


def test_a_cold_change_replaces_pods_one_at_a_time_without_counting(env: Env) -> None:
    # The pod recorder's Ready is the kubelet's, the operator's when every incarnation is a pod (in place, the
    # operator hears Ready from the pod supervisor first: test_in_place.py has the cold change in place).
    env.operator("op-1", "--no-in-place-restarts")
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")]))
    wait_running(env, "team", 2)
    pods = env.record_pods()

    env_var = {"name": "EXTRA", "value": "1"}
    edit = [
        {"op": "add", "path": f"/spec/children/{index}/agent/env", "value": [env_var]} for index in (0, 1)
    ]
    env.kubectl("patch", "agentsupervisor", "team", "--type", "json", "-p", json.dumps(edit))

    wait_for(lambda: env.running_pods() == {"team-a-3", "team-b-4"}, timeout=60, what="both pods replaced")
    wait_running(env, "team", 2)
    assert pods.created() == ["team-a-3", "team-b-4"]
    assert pods.index("team-a-3", "ready") < pods.index("team-b-2", "deleting"), (
        "b is replaced only after a's replacement is Ready"
    )
    status = env.status("agentsupervisors", "team")
    assert status["restartsInWindow"] == "0/3"
    assert [c["restarts"] for c in status["children"]] == [0, 0]
    wait_for(lambda: len(env.events("ChildReplaced")) == 2, what="a ChildReplaced event per child")


def test_an_added_child_that_cannot_start_leaves_its_supervisor_and_siblings_running(env: Env) -> None:
    env.operator()
    flags = {"strategy": "one_for_all", "maxRestarts": 1, "periodSeconds": 300}
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")], **flags))
    wait_running(env, "team", 2)
    uids = {name: pod["metadata"]["uid"] for name, pod in env.pods().items()}
    assert set(uids) == {"team-a-1", "team-b-2"}

    unpullable = agent_child("bad", agent=agent_template(image="registry.invalid/no-such-agent:1"))
    env.apply(supervisor("team", [agent_child("a"), agent_child("b"), unpullable], **flags))

    def start_failed() -> dict[str, Any] | None:
        ready = env.condition("agentsupervisors", "team", "Ready")
        return ready if ready is not None and ready["reason"] == "ChildStartFailed" else None

    ready = wait_for(start_failed, timeout=60, what="the supervisor to report the failed start")
    assert ready["status"] == "False" and "bad (ErrImagePull" in ready["message"]
    status = env.status("agentsupervisors", "team")
    assert (status["phase"], status["readyChildren"], status["restartsInWindow"]) == ("Running", "2/3", "0/1")
    bad = status["children"][2]
    assert (bad["name"], bad["phase"], bad["restarts"], bad["lastExit"]["reason"]) == (
        "bad",
        "Failed",
        0,
        "ErrImagePull",
    )
    events = wait_for(lambda: env.events("ChildStartFailed"), what="a ChildStartFailed event")
    assert "child bad" in events[0]["message"] and "ErrImagePull" in events[0]["message"]
    wait_for(
        lambda: env.status("agents", "team-bad").get("phase") == "Failed", what="the Agent team-bad Failed"
    )
    # The failed attempt's pod is removed; a and b were never touched.
    wait_for(lambda: set(env.pods()) == set(uids), what="the pod of the failed start deleted")
    assert {name: pod["metadata"]["uid"] for name, pod in env.pods().items()} == uids
    assert env.running_pods() == set(uids)

    # Fixing the child's spec starts it; still nothing counted, still the same a and b.
    env.apply(supervisor("team", [agent_child("a"), agent_child("b"), agent_child("bad")], **flags))
    wait_running(env, "team", 3)
    pods = env.pods()
    assert {name: pods[name]["metadata"]["uid"] for name in uids} == uids
    assert env.status("agentsupervisors", "team")["restartsInWindow"] == "0/1"
