"""The pod of one worker incarnation and the worker's Service: pure functions of the supervisor, the child,
the attempt and the operator's settings, so building them twice gives the same objects.

A worker has no resource of its own: the supervisor owns its pods and its Service. Its pods carry the
supervisor, child and attempt labels the operator's pod index and observation go by, and the worker label its
Service selects; never the agent label (no Agent stands behind them, nothing to reload) nor the control-port
annotation (no pod supervisor runs in them: a worker restarts by replacing its pod).
"""

from __future__ import annotations

from typing import Any, Final

from agent_supervisor import api, supervision
from agent_supervisor.api.worker import WorkerSecurityContext
from agent_supervisor.translate import labels, members
from agent_supervisor.translate.agent_pod import pod_grace_seconds
from agent_supervisor.translate.object_meta import Manifest, Owner, dump, metadata, name_and_namespace
from agent_supervisor.translate.settings import OperatorSettings

CONTAINER: Final = "worker"
TMP_VOLUME: Final = "tmp"
DOWNWARD_ENV: Final = {
    "POD_NAME": "metadata.name",
    "POD_NAMESPACE": "metadata.namespace",
    "POD_IP": "status.podIP",
}
"""Set on every worker container, so a program can bind its pod's address and name itself; reserved."""


def worker_spec(sup: api.AgentSupervisor, child: str) -> api.WorkerSpec:
    """The worker spec of child `child`; ValueError if it is not a worker."""
    entry = members.member(sup, child).entry
    if entry.worker is None:
        raise ValueError(f"child {child!r} of {sup.metadata.name!r} is not a worker")
    return entry.worker


def worker_labels(sup: api.AgentSupervisor, child: str) -> dict[str, str]:
    """What the worker's pods and Service carry: its place in the tree and its own name."""
    name, _ = name_and_namespace(sup)
    return {
        labels.SUPERVISOR: name,
        labels.CHILD: child,
        labels.ROOT: labels.root_of(name, sup.metadata.labels),
        labels.WORKER: labels.child_name(name, child),
    }


def pod(
    sup: api.AgentSupervisor,
    child: str,
    attempt: int,
    template_hash: str,
    shutdown: supervision.ShutdownPolicy,
    settings: OperatorSettings,
) -> Manifest:
    """Incarnation `attempt` of worker `child`: the pod `<supervisor>-<child>-<attempt>`. `shutdown` is the
    policy the incarnation was started with (from the core's state)."""
    sup_name, namespace = name_and_namespace(sup)
    spec = worker_spec(sup, child)
    pod_name = labels.pod_name(labels.child_name(sup_name, child), attempt)
    pod_labels = {
        **worker_labels(sup, child),
        labels.ATTEMPT: str(attempt),
        labels.TEMPLATE_HASH: template_hash,
        labels.POD: labels.pod_label(pod_name),
    }
    context = spec.security_context or WorkerSecurityContext()
    run_as_user = context.run_as_user or settings.run_as_user
    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if context.run_as_group is not None:
        pod_security["runAsGroup"] = context.run_as_group
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        # A worker talks to its own dependencies, not to the Kubernetes API: no token in the pod.
        "automountServiceAccountToken": False,
        "securityContext": pod_security,
        "containers": [_container(spec, run_as_user, context, settings)],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}],
    }
    grace = pod_grace_seconds(shutdown)
    if grace is not None:
        pod_spec["terminationGracePeriodSeconds"] = grace
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(pod_name, namespace, Owner.of(sup), pod_labels),
        "spec": pod_spec,
    }


def _container(
    spec: api.WorkerSpec, run_as_user: int, context: WorkerSecurityContext, settings: OperatorSettings
) -> dict[str, Any]:
    security: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": context.read_only_root_filesystem,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if context.run_as_group is not None:
        security["runAsGroup"] = context.run_as_group
    env = [
        {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}} for var, path in DOWNWARD_ENV.items()
    ]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "env": env + [dump(var) for var in spec.env or []],
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": security,
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.env_from:
        container["envFrom"] = [dump(source) for source in spec.env_from]
    if spec.ports:
        container["ports"] = [dump(port) for port in spec.ports]
    if spec.readiness_probe is not None:
        container["readinessProbe"] = dump(spec.readiness_probe)
    if spec.resources is not None:
        container["resources"] = dump(spec.resources)
    if settings.image_pull_policy:
        container["imagePullPolicy"] = settings.image_pull_policy
    return container


def service(sup: api.AgentSupervisor, child: str) -> Manifest | None:
    """The worker's stable Service `<supervisor>-<child>`: its ports, routed to the Ready pod of the current
    incarnation (older ones are not Ready: ended, or being deleted). None when the worker has no ports."""
    spec = worker_spec(sup, child)
    if not spec.ports:
        return None
    sup_name, namespace = name_and_namespace(sup)
    name = labels.child_name(sup_name, child)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, namespace, Owner.of(sup), worker_labels(sup, child)),
        "spec": {
            "selector": {labels.WORKER: name},
            "ports": [
                {
                    "name": port.name,
                    "port": port.container_port,
                    "targetPort": port.name,
                    "protocol": port.protocol.value,
                }
                for port in spec.ports
            ],
        },
    }
