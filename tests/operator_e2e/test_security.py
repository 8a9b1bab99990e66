"""Issue 16 on the local cluster: each agent's own identity for its checkpoint, and the operator's policy.

The local cluster stores RBAC objects without enforcing them (docs/local-cluster.md), so what a token may do
is decided here by tests/rbac.py over the Roles and RoleBindings the operator actually wrote.
"""

from __future__ import annotations

from typing import Any

from tests import rbac
from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_for, wait_running


def _rbac_objects(env: Env) -> list[dict[str, Any]]:
    roles = [{**o, "kind": "Role"} for o in env.api.list("roles", env.namespace)]
    bindings = [{**o, "kind": "RoleBinding"} for o in env.api.list("rolebindings", env.namespace)]
    return roles + bindings


def test_agent_a_cannot_write_agent_bs_checkpoint(env: Env) -> None:
    env.operator()
    env.apply(supervisor("team", [agent_child("a"), agent_child("b")]))
    wait_running(env, "team", 2)
    accounts = {
        pod["metadata"]["labels"]["otp.agents.dev/child"]: pod["spec"]["serviceAccountName"]
        for pod in env.pods().values()
    }
    assert accounts == {"a": "team-a-agent", "b": "team-b-agent"}
    for child, account in accounts.items():
        created = env.api.get("serviceaccounts", env.namespace, account)
        assert created is not None, f"ServiceAccount {account} was not created"
        (owner,) = created["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("Agent", f"team-{child}")

    objects = _rbac_objects(env)
    ns = env.namespace
    assert rbac.allowed(objects, (ns, "team-a-agent"), "update", "configmaps", "team-a-checkpoint")
    assert not rbac.allowed(objects, (ns, "team-a-agent"), "update", "configmaps", "team-b-checkpoint")
    assert not rbac.allowed(objects, (ns, "team-b-agent"), "patch", "configmaps", "team-a-checkpoint")
    for checkpoint in ("team-a-checkpoint", "team-b-checkpoint"):
        assert not rbac.allowed(objects, (ns, "default"), "update", "configmaps", checkpoint)


def test_the_policy_refuses_an_agent_and_creates_nothing_for_it(env: Env) -> None:
    env.operator(
        "op-1", f"--allowed-model-endpoint={env.model_url}", "--allowed-image=registry.example.com/*"
    )
    allowed = {"apiVersion": "otp.agents.dev/v1alpha1", "kind": "Agent", "metadata": {"name": "fine"}}
    allowed["spec"] = {"model": {"endpoint": env.model_url, "name": "scripted"}, "systemPrompt": "Be brief."}
    refused = {
        **allowed,
        "metadata": {"name": "exfil"},
        "spec": {**allowed["spec"], "model": {"endpoint": "https://attacker.example/v1", "name": "m"}},
    }
    env.apply(refused)
    env.apply(allowed)

    def verdict() -> dict[str, Any] | None:
        return env.condition("agents", "exfil", "PolicyAllowed")

    condition = wait_for(verdict, what="PolicyAllowed on the refused agent")
    assert (condition["status"], condition["reason"]) == ("False", "ModelEndpointNotAllowed")
    assert "spec.model.endpoint" in condition["message"]
    assert "--allowed-model-endpoint" in condition["message"]
    assert env.status("agents", "exfil").get("phase") == "Failed"
    # The allowed agent next to it runs: the operator did reconcile both.
    wait_for(lambda: env.status("agents", "fine").get("phase") == "Running", what="the allowed agent Running")
    made = {
        kind: [
            o["metadata"]["name"]
            for o in env.api.list(kind, env.namespace)
            if "exfil" in o["metadata"]["name"]
        ]
        for kind in ("pods", "configmaps", "services", "secrets", "serviceaccounts", "roles", "rolebindings")
    }
    assert made == {kind: [] for kind in made}, "objects were created for a refused agent"
    assert [e for e in env.events("PolicyRefused") if e["involvedObject"]["name"] == "exfil"]
