"""Issue 16 on the local cluster: each agent's own identity for its checkpoint, and the operator's policy.

The local cluster stores RBAC objects without enforcing them (docs/local-cluster.md), so what a token may do
is decided here by tests/rbac.py over the Roles and RoleBindings the operator actually wrote.
"""

from __future__ import annotations

from typing import Any

from tests import rbac
from tests.operator_e2e.harness import Env, agent_child, supervisor, wait_running


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
