"""What users see with the real kubectl: printer columns, rejected manifests, and the Invalid condition."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.operator_e2e.harness import (
    Env,
    agent_child,
    agent_template,
    supervisor,
    wait_for,
    wait_running,
)


def table(env: Env, kind: str) -> list[dict[str, str]]:
    """`kubectl get <kind>` as rows of column name -> cell."""
    lines = env.kubectl("get", kind).stdout.splitlines()
    header = lines[0]
    starts = [match.start() for match in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines[1:]
    ]


def test_kubectl_get_shows_the_documented_columns(env: Env) -> None:
    env.operator()
    env.apply(supervisor("team", [agent_child("a")], strategy="one_for_all", periodSeconds=60))
    wait_running(env, "team", 1)
    env.kill_pod("team-a-1")
    wait_for(lambda: "team-a-2" in env.running_pods(), what="a restarted")
    wait_running(env, "team", 1)
    wait_for(lambda: env.status("agents", "team-a").get("phase") == "Running", what="team-a Running")

    supervisors = table(env, "agentsupervisors")
    assert [list(row) for row in supervisors] == [
        ["NAME", "STRATEGY", "READY", "POOLS", "WORKERS", "RESTARTS", "PHASE", "DEGRADED", "AGE"]
    ]
    row = supervisors[0]
    assert (
        row["NAME"],
        row["STRATEGY"],
        row["READY"],
        row["POOLS"],
        row["WORKERS"],
        row["RESTARTS"],
        row["PHASE"],
        row["DEGRADED"],
    ) == ("team", "one_for_all", "1/1", "", "", "1/3", "Running", "False")
    agents = table(env, "agents")
    assert list(agents[0]) == [
        "NAME",
        "PHASE",
        "RESTARTS",
        "SUPERVISOR",
        "MODEL",
        "LAST EXIT",
        "DEPENDENCIES",
        "AGE",
    ]
    row = agents[0]
    assert (
        row["NAME"],
        row["PHASE"],
        row["RESTARTS"],
        row["SUPERVISOR"],
        row["MODEL"],
        row["LAST EXIT"],
        row["DEPENDENCIES"],
    ) == (
        "team-a",
        "Running",
        "1",
        "team",
        "scripted",
        "Error",
        "Available",
    )


def rejected(env: Env, manifest: dict[str, Any]) -> str:
    result = env.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0, f"the API server accepted an invalid manifest: {result.stdout}"
    return result.stderr


def test_the_api_server_rejects_invalid_manifests_naming_the_field(env: Env) -> None:
    significant_permanent = supervisor(
        "bad", [agent_child("a", significant=True, restart="permanent")], autoShutdown="any_significant"
    )
    assert "spec.children[0].significant" in rejected(env, significant_permanent)
    both = supervisor("bad", [{**agent_child("a"), "supervisor": {"children": [agent_child("x")]}}])
    assert "set exactly one of agent, pool, supervisor or worker" in rejected(env, both)
    bad_strategy = supervisor("bad", [agent_child("a")], strategy="one_for_some")
    assert "spec.strategy" in rejected(env, bad_strategy)


def test_a_semantically_invalid_resource_is_marked_invalid_and_creates_nothing(env: Env) -> None:
    env.operator()
    template = agent_template(tools=[{"name": "teleport"}])
    env.apply(supervisor("team", [agent_child("a", agent=template)]))

    invalid = wait_for(
        lambda: env.condition("agentsupervisors", "team", "Invalid"), what="the Invalid condition"
    )
    assert invalid["status"] == "True"
    assert "spec.children[0].agent.tools[0].name" in invalid["message"]
    assert "teleport" in invalid["message"]
    assert env.status("agentsupervisors", "team")["phase"] == "Failed"
    wait_for(lambda: env.events("Invalid"), what="an Invalid event")
    assert env.api.list("agents", env.namespace) == []
    assert env.pods() == {}


def test_a_missing_secret_is_invalid_until_it_exists(env: Env) -> None:
    env.operator()
    spec = agent_template(
        model={
            "endpoint": "http://127.0.0.1:9/v1",
            "name": "m",
            "apiKeySecretRef": {"name": "model-key", "key": "token"},
        }
    )
    env.apply(
        {"apiVersion": "otp.agents.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "solo"}, "spec": spec}
    )

    invalid = wait_for(lambda: env.condition("agents", "solo", "Invalid"), what="the Invalid condition")
    assert invalid["status"] == "True"
    assert "spec.model.apiKeySecretRef.name" in invalid["message"]
    assert env.pods() == {}

    env.kubectl("create", "secret", "generic", "model-key", "--from-literal=token=s3cret")
    env.kubectl("annotate", "agent", "solo", "checked=again")

    wait_for(lambda: "solo-1" in env.running_pods(), what="the agent to start once the Secret exists")
    assert (env.condition("agents", "solo", "Invalid") or {}).get("status") == "False"
    pod = env.pods()["solo-1"]
    key_env = [e for e in pod["spec"]["containers"][0]["env"] if e["name"] == "AGENT_MODEL_API_KEY"]
    assert key_env == [
        {"name": "AGENT_MODEL_API_KEY", "valueFrom": {"secretKeyRef": {"name": "model-key", "key": "token"}}}
    ]
