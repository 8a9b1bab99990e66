"""The Kubernetes objects the operator creates besides pods (agent_pod.py), as plain manifests (see
docs/operator-design.md, "Objects per agent"). Pure functions of the resources and the operator's settings, so
executing an action twice builds the same object.
"""

from __future__ import annotations

from typing import Any

from agent_supervisor import api
from agent_supervisor.translate import labels, mcp_servers, members
from agent_supervisor.translate.agent_pod import PORT_NAME
from agent_supervisor.translate.object_meta import Manifest, Owner, dump, metadata, name_and_namespace
from agent_supervisor.translate.runtime_config import RenderedConfig
from agent_supervisor.translate.settings import OperatorSettings

# --- The agent's other objects -----------------------------------------------------------------------------


def config_map(agent: api.Agent, rendered: RenderedConfig) -> Manifest:
    """`<agent>-config`: the runtime config, mounted into the pod at /etc/agent."""
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            labels.config_map_name(name),
            namespace,
            Owner.of(agent),
            {labels.AGENT: name},
            {labels.CONFIG_REVISION: rendered.revision},
        ),
        "data": {labels.CONFIG_KEY: rendered.text},
    }


def service(agent: api.Agent, settings: OperatorSettings) -> Manifest:
    """`<agent>`: the agent's stable name for messages, routed to its Ready pod."""
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, Owner.of(agent), {labels.AGENT: name}),
        "spec": {
            "selector": {labels.AGENT: name},
            "ports": [
                {"name": PORT_NAME, "port": settings.agent_port, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def checkpoint_config_map(agent: api.Agent) -> Manifest:
    """`<agent>-checkpoint`: created empty; the runtime writes it. Create only, never overwrite."""
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
    }


def checkpoint_role(agent: api.Agent) -> Manifest:
    """Lets the pod read and write its own checkpoint ConfigMap and nothing else: GET and PUT are the only
    calls of the runtime's store (agent_runtime/checkpoint/kube_store.py); its POST, for a ConfigMap the
    operator has not created yet, cannot be limited to a name and is not granted."""
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [labels.checkpoint_name(name)],
                "verbs": ["get", "update"],
            }
        ],
    }


def service_account(agent: api.Agent) -> Manifest:
    """`<agent>-agent`: the identity of an agent's pods when its spec names no ServiceAccount. Owned by the
    Agent, so garbage collection removes it with the Agent. Create only: an existing account of that name
    that the Agent does not own is never taken over (config_objects.py checks)."""
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(
            labels.service_account_name(name), namespace, Owner.of(agent), {labels.AGENT: name}
        ),
    }


def checkpoint_role_binding(agent: api.Agent) -> Manifest:
    """Binds the checkpoint Role to the agent's own ServiceAccount, and to no other subject. An agent whose
    spec names a ServiceAccount gets no binding: that account may be shared, and whoever chose it grants it
    the Role (docs/operations.md, "Agent identity")."""
    if agent.spec.service_account_name:
        raise ValueError(
            f"checkpoint_role_binding: Agent {agent.metadata.name!r} names its own ServiceAccount; "
            "the operator binds only the accounts it creates"
        )
    name, namespace = name_and_namespace(agent)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": labels.checkpoint_name(name),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": labels.service_account_name(name),
                "namespace": namespace,
            }
        ],
    }


def messaging_secret(root: api.Agent | api.AgentSupervisor, token: str) -> Manifest:
    """`<root>-messaging`: the bearer token the agents of a tree share; `token` is random, from the caller."""
    if not token:
        raise ValueError("messaging_secret: token must be a non-empty random string")
    name, namespace = name_and_namespace(root)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(
            labels.messaging_secret_name(name), namespace, Owner.of(root), {labels.ROOT: name}
        ),
        "stringData": {labels.MESSAGING_TOKEN_KEY: token},
    }


def control_secret(namespace: str, token: str) -> Manifest:
    """The operator's control token for pod supervisors (in-place restarts); `token` is random, from the
    caller. Pods get only its hash."""
    if not token:
        raise ValueError("control_secret: token must be a non-empty random string")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": labels.CONTROL_SECRET,
            "namespace": namespace,
            "labels": {labels.MANAGED_BY: labels.MANAGED_BY_VALUE},
        },
        "stringData": {labels.CONTROL_TOKEN_KEY: token},
    }


# --- A supervisor's children -------------------------------------------------------------------------------


def _child_metadata(
    sup: api.AgentSupervisor, child: members.Member, annotations: dict[str, str]
) -> dict[str, Any]:
    name, namespace = name_and_namespace(sup)
    sup_labels = sup.metadata.labels or {}
    parent_path = (sup.metadata.annotations or {}).get(labels.SUPERVISOR_PATH, "")
    child_labels = {
        labels.SUPERVISOR: name,
        labels.CHILD: child.name,
        labels.ROOT: labels.root_of(name, sup_labels),
    }
    if child.pool is not None:
        child_labels[labels.POOL] = child.pool
    annotations = {labels.SUPERVISOR_PATH: labels.child_path(parent_path, name), **annotations}
    return metadata(labels.child_name(name, child.name), namespace, Owner.of(sup), child_labels, annotations)


def child_agent(sup: api.AgentSupervisor, child_name: str) -> Manifest:
    """The Agent `<supervisor>-<child>` from the child's template (a pool member's: `<supervisor>-<pool>-<i>`
    from the pool's). Its restart and shutdown say how the supervisor treats it (for `kubectl get -o yaml`);
    the supervisor's own child entry is what it follows."""
    member = members.member(sup, child_name)
    child, template = member.entry, member.template
    if template is None:
        raise ValueError(f"child {child_name!r} of {sup.metadata.name!r} is a supervisor, not an agent")
    spec = mcp_servers.resolve_children(sup, dump(template))
    # The budget in force is written into the child's own spec (nearest wins, field by field): the Agent
    # shows it, and its reconcile renders it like a standalone Agent's. sup.spec.tokenBudget already holds
    # what its ancestors set (child_supervisor below).
    budget = api.effective_budget(template.token_budget, sup.spec.token_budget)
    if budget is not None:
        spec["tokenBudget"] = dump(budget)
    spec["restart"] = child.effective_restart.value
    shutdown = child.effective_shutdown
    if shutdown is not None:
        spec["shutdown"] = dump(shutdown)
    return {
        "apiVersion": api.API_VERSION,
        "kind": "Agent",
        "metadata": _child_metadata(sup, member, {}),
        "spec": spec,
    }


def child_supervisor(sup: api.AgentSupervisor, child_name: str, incarnation: int) -> Manifest:
    """The AgentSupervisor `<supervisor>-<child>`, told to run `incarnation` (the parent's StartChild)."""
    member = members.member(sup, child_name)
    if member.entry.supervisor is None:
        raise ValueError(f"child {child_name!r} of {sup.metadata.name!r} is an agent, not a supervisor")
    return {
        "apiVersion": api.API_VERSION,
        "kind": "AgentSupervisor",
        "metadata": _child_metadata(sup, member, {labels.INCARNATION: str(incarnation)}),
        "spec": _with_budget(dump(member.entry.supervisor), member.entry.supervisor.token_budget, sup),
    }


def _with_budget(
    spec: dict[str, Any], own: api.TokenBudget | None, sup: api.AgentSupervisor
) -> dict[str, Any]:
    """A nested supervisor's spec with the token budget default in force at its place in the tree."""
    budget = api.effective_budget(own, sup.spec.token_budget)
    return spec if budget is None else {**spec, "tokenBudget": dump(budget)}


def incarnation_patch(incarnation: int) -> Manifest:
    """Merge patch telling a nested AgentSupervisor to run `incarnation` (the parent's StartChild)."""
    return {"metadata": {"annotations": {labels.INCARNATION: str(incarnation)}}}


def stop_patch(incarnation: int) -> Manifest:
    """Merge patch telling a nested AgentSupervisor to stop `incarnation` (the parent's StopChild)."""
    return {"metadata": {"annotations": {labels.STOP: str(incarnation)}}}
