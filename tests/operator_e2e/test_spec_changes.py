"""Spec edits: hot fields reach the running agent without a new pod; cold fields replace pods, uncounted."""

from __future__ import annotations

import json
import time

from tests.operator_e2e.harness import (
    Env,
    agent_child,
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
    env.operator()
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
