"""The Kubernetes objects the operator creates, as plain manifests (see docs/operator-design.md, "Objects per
agent"). Pure functions of the resources and the operator's settings, so executing an action twice builds the
same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from agent_supervisor import api, supervision
from agent_supervisor.translate import labels, members
from agent_supervisor.translate.projection import shutdown_policy
from agent_supervisor.translate.runtime_config import MODEL_API_KEY_ENV, RenderedConfig
from agent_supervisor.translate.settings import OperatorSettings

CONTAINER: Final = "agent"
PORT_NAME: Final = "http"
CONFIG_DIR: Final = "/etc/agent"
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"

Manifest = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Owner:
    """The controlling owner of an object: garbage collection deletes the object with it."""

    api_version: str
    kind: str
    name: str
    uid: str

    @classmethod
    def of(cls, resource: api.Agent | api.AgentSupervisor) -> Owner:
        meta = resource.metadata
        uid = (meta.model_extra or {}).get("uid")
        if not meta.name or not isinstance(uid, str) or not uid:
            raise ValueError(
                f"{resource.kind} metadata.name and metadata.uid are required to own objects: build "
                "owned objects from the resource as read from the API server"
            )
        return cls(api_version=resource.api_version, kind=resource.kind, name=meta.name, uid=uid)

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def _metadata(
    name: str,
    namespace: str,
    owner: Owner,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "labels": {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, **(extra_labels or {})},
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _name_and_namespace(resource: api.Agent | api.AgentSupervisor) -> tuple[str, str]:
    meta = resource.metadata
    if not meta.name or not meta.namespace:
        raise ValueError(f"{resource.kind} metadata.name and metadata.namespace are required")
    return meta.name, meta.namespace


# --- The agent's pod ---------------------------------------------------------------------------------------


def pod(
    agent: api.Agent,
    attempt: int,
    template_hash: str,
    settings: OperatorSettings,
    shutdown: supervision.ShutdownPolicy | None = None,
) -> Manifest:
    """Incarnation `attempt` of `agent`. `shutdown` is the policy the child was started with (from the core's
    state); left out, the Agent's own policy applies (standalone)."""
    name, namespace = _name_and_namespace(agent)
    agent_labels = agent.metadata.labels or {}
    policy = shutdown if shutdown is not None else shutdown_policy(agent.spec.effective_shutdown)
    supervisor = labels.supervisor_of(agent_labels)
    pod_labels = {
        labels.AGENT: name,
        labels.SUPERVISOR: supervisor or "",
        labels.CHILD: agent_labels.get(labels.CHILD, name) if supervisor else name,
        labels.ROOT: labels.root_of(name, agent_labels),
        labels.ATTEMPT: str(attempt),
        labels.TEMPLATE_HASH: template_hash,
        labels.POD: labels.pod_label(labels.pod_name(name, attempt)),
        **({labels.POOL: agent_labels[labels.POOL]} if labels.POOL in agent_labels else {}),
    }
    spec = agent.spec
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(agent, settings)],
        "volumes": [
            {"name": "config", "configMap": {"name": labels.config_map_name(name)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    grace = grace_seconds(policy)
    if grace is not None:
        pod_spec["terminationGracePeriodSeconds"] = grace
    if spec.service_account_name:
        pod_spec["serviceAccountName"] = spec.service_account_name
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [_dump(toleration) for toleration in spec.tolerations]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(labels.pod_name(name, attempt), namespace, Owner.of(agent), pod_labels),
        "spec": pod_spec,
    }


def grace_seconds(policy: supervision.ShutdownPolicy) -> int | None:
    """The pod's grace for a stop by `policy`: its terminationGracePeriodSeconds, and the grace of the DELETE
    that stops it. None leaves the default (infinity is for nested supervisors, which have no pod)."""
    match policy.mode:
        case "brutal_kill":
            return 0
        case "timeout":
            return policy.seconds
        case _:
            return None


def _container(agent: api.Agent, settings: OperatorSettings) -> dict[str, Any]:
    spec = agent.spec
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image or settings.default_image,
        "ports": [{"name": PORT_NAME, "containerPort": settings.agent_port, "protocol": "TCP"}],
        "env": _env(agent, settings),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": PORT_NAME},
            "periodSeconds": settings.readiness_period_seconds,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": PORT_NAME},
            "periodSeconds": settings.liveness_period_seconds,
            "failureThreshold": settings.liveness_failure_threshold,
        },
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if settings.image_pull_policy:
        container["imagePullPolicy"] = settings.image_pull_policy
    if spec.resources is not None:
        container["resources"] = _dump(spec.resources)
    return container


def _env(agent: api.Agent, settings: OperatorSettings) -> list[dict[str, Any]]:
    name = agent.metadata.name or ""
    root = labels.root_of(name, agent.metadata.labels)
    env: list[dict[str, Any]] = [
        _field_env("POD_NAME", "metadata.name"),
        _field_env("POD_NAMESPACE", "metadata.namespace"),
        _field_env("POD_UID", "metadata.uid"),
        _field_env("POD_IP", "status.podIP"),
        _field_env("AGENT_HOST", "status.podIP"),
        {"name": "AGENT_PORT", "value": str(settings.agent_port)},
        {"name": "AGENT_CONFIG", "value": f"{CONFIG_DIR}/{labels.CONFIG_KEY}"},
        {"name": "AGENT_TERMINATION_MESSAGE_PATH", "value": TERMINATION_MESSAGE_PATH},
        _secret_env("AGENT_MESSAGE_TOKEN", labels.messaging_secret_name(root), labels.MESSAGING_TOKEN_KEY),
    ]
    if settings.api_url_for_pods:
        env.append({"name": "AGENT_KUBE_API_URL", "value": settings.api_url_for_pods})
    key_ref = agent.spec.model.api_key_secret_ref
    if key_ref is not None:
        env.append(_secret_env(MODEL_API_KEY_ENV, key_ref.name, key_ref.key))
    env += [_dump(var) for var in agent.spec.env or []]
    return env


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _dump(model: api.base.ApiModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- The agent's other objects -----------------------------------------------------------------------------


def config_map(agent: api.Agent, rendered: RenderedConfig) -> Manifest:
    """`<agent>-config`: the runtime config, mounted into the pod at /etc/agent."""
    name, namespace = _name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
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
    name, namespace = _name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(name, namespace, Owner.of(agent), {labels.AGENT: name}),
        "spec": {
            "selector": {labels.AGENT: name},
            "ports": [
                {"name": PORT_NAME, "port": settings.agent_port, "targetPort": PORT_NAME, "protocol": "TCP"}
            ],
        },
    }


def checkpoint_config_map(agent: api.Agent) -> Manifest:
    """`<agent>-checkpoint`: created empty; the runtime writes it. Create only, never overwrite."""
    name, namespace = _name_and_namespace(agent)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
    }


def checkpoint_role(agent: api.Agent) -> Manifest:
    """Lets the pod read and write its own checkpoint ConfigMap and nothing else."""
    name, namespace = _name_and_namespace(agent)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [labels.checkpoint_name(name)],
                "verbs": ["get", "update", "patch"],
            }
        ],
    }


def checkpoint_role_binding(agent: api.Agent) -> Manifest:
    """Binds the checkpoint Role to the service account the agent's pod runs as."""
    name, namespace = _name_and_namespace(agent)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(labels.checkpoint_name(name), namespace, Owner.of(agent), {labels.AGENT: name}),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": labels.checkpoint_name(name),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": agent.spec.service_account_name or "default",
                "namespace": namespace,
            }
        ],
    }


def messaging_secret(root: api.Agent | api.AgentSupervisor, token: str) -> Manifest:
    """`<root>-messaging`: the bearer token the agents of a tree share; `token` is random, from the caller."""
    if not token:
        raise ValueError("messaging_secret: token must be a non-empty random string")
    name, namespace = _name_and_namespace(root)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata(
            labels.messaging_secret_name(name), namespace, Owner.of(root), {labels.ROOT: name}
        ),
        "stringData": {labels.MESSAGING_TOKEN_KEY: token},
    }


# --- A supervisor's children -------------------------------------------------------------------------------


def _child_metadata(
    sup: api.AgentSupervisor, child: members.Member, annotations: dict[str, str]
) -> dict[str, Any]:
    name, namespace = _name_and_namespace(sup)
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
    return _metadata(labels.child_name(name, child.name), namespace, Owner.of(sup), child_labels, annotations)


def child_agent(sup: api.AgentSupervisor, child_name: str) -> Manifest:
    """The Agent `<supervisor>-<child>` from the child's template (a pool member's: `<supervisor>-<pool>-<i>`
    from the pool's). Its restart and shutdown say how the supervisor treats it (for `kubectl get -o yaml`);
    the supervisor's own child entry is what it follows."""
    member = members.member(sup, child_name)
    child, template = member.entry, member.template
    if template is None:
        raise ValueError(f"child {child_name!r} of {sup.metadata.name!r} is a supervisor, not an agent")
    spec = _dump(template)
    spec["restart"] = child.effective_restart.value
    shutdown = child.effective_shutdown
    if shutdown is not None:
        spec["shutdown"] = _dump(shutdown)
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
        "spec": _dump(member.entry.supervisor),
    }


def incarnation_patch(incarnation: int) -> Manifest:
    """Merge patch telling a nested AgentSupervisor to run `incarnation` (the parent's StartChild)."""
    return {"metadata": {"annotations": {labels.INCARNATION: str(incarnation)}}}


def stop_patch(incarnation: int) -> Manifest:
    """Merge patch telling a nested AgentSupervisor to stop `incarnation` (the parent's StopChild)."""
    return {"metadata": {"annotations": {labels.STOP: str(incarnation)}}}
