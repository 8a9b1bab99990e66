"""The pod of one agent incarnation (docs/operator-design.md, "Objects per agent"): a pure function of the
Agent, the attempt and the operator's settings, so creating it twice builds the same pod."""

from __future__ import annotations

from typing import Any, Final

from agent_runtime.incarnation_protocol import (
    CONTROL_PORT_ENV,
    CONTROL_PORT_NAME,
    CONTROL_TOKEN_SHA256_ENV,
    FIRST_ATTEMPT_ENV,
)
from agent_supervisor import api, supervision
from agent_supervisor.translate import incarnations, labels, mcp_servers
from agent_supervisor.translate.object_meta import Manifest, Owner, dump, metadata, name_and_namespace
from agent_supervisor.translate.projection import shutdown_policy
from agent_supervisor.translate.runtime_config import MODEL_API_KEY_ENV
from agent_supervisor.translate.settings import OperatorSettings

CONTAINER: Final = "agent"
PORT_NAME: Final = "http"
CONFIG_DIR: Final = "/etc/agent"
TERMINATION_MESSAGE_PATH: Final = "/dev/termination-log"
OTLP_ENDPOINT_ENV: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
OTLP_ENDPOINT_ENVS: Final = frozenset({OTLP_ENDPOINT_ENV, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"})


def pod(
    agent: api.Agent,
    attempt: int,
    template_hash: str,
    settings: OperatorSettings,
    shutdown: supervision.ShutdownPolicy | None = None,
) -> Manifest:
    """Incarnation `attempt` of `agent`. `shutdown` is the policy the child was started with (from the core's
    state); left out, the Agent's own policy applies (standalone)."""
    name, namespace = name_and_namespace(agent)
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
        "containers": [_container(agent, attempt, settings)],
        "volumes": [
            {"name": "config", "configMap": {"name": labels.config_map_name(name)}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    grace = pod_grace_seconds(policy)
    if grace is not None:
        pod_spec["terminationGracePeriodSeconds"] = grace
    # Never the namespace's shared `default` account: the agent's own, or the one its spec names.
    pod_spec["serviceAccountName"] = spec.service_account_name or labels.service_account_name(name)
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [dump(toleration) for toleration in spec.tolerations]
    annotations = (
        {incarnations.CONTROL_PORT: str(settings.control_port)} if settings.in_place_restarts else None
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(
            labels.pod_name(name, attempt), namespace, Owner.of(agent), pod_labels, annotations
        ),
        "spec": pod_spec,
    }


def grace_seconds(policy: supervision.ShutdownPolicy) -> int | None:
    """The grace an incarnation gets when it is stopped by `policy`: 0 is SIGKILL at once (a pod supervisor
    stopping it in place does exactly that). None leaves the default (infinity is for nested supervisors,
    which have no pod)."""
    match policy.mode:
        case "brutal_kill":
            return 0
        case "timeout":
            return policy.seconds
        case _:
            return None


MIN_POD_GRACE_SECONDS: Final = 1
"""The least grace a pod is given (terminationGracePeriodSeconds and the grace of a DELETE). At 0 the API
server forgets the pod at once (a force deletion) while the kubelet has yet to kill its process, so the pod
of the next incarnation could run beside it: two live incarnations of one child, which OTP never allows.
At 1 the pod stays, marked for deletion, until the kubelet has seen its container end."""


def pod_grace_seconds(policy: supervision.ShutdownPolicy) -> int | None:
    """The pod's grace for a stop by `policy`: its terminationGracePeriodSeconds, and the grace of the DELETE
    that stops it. A brutal kill gets `MIN_POD_GRACE_SECONDS`, not 0 (see there)."""
    grace = grace_seconds(policy)
    return None if grace is None else max(grace, MIN_POD_GRACE_SECONDS)


def _container(agent: api.Agent, attempt: int, settings: OperatorSettings) -> dict[str, Any]:
    spec = agent.spec
    ports = [{"name": PORT_NAME, "containerPort": settings.agent_port, "protocol": "TCP"}]
    if settings.in_place_restarts:
        ports.append({"name": CONTROL_PORT_NAME, "containerPort": settings.control_port, "protocol": "TCP"})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image or settings.default_image,
        "ports": ports,
        "env": _env(agent, attempt, settings),
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
            # With a pod supervisor, it answers for the incarnation it runs, and stays healthy between two.
            "httpGet": {
                "path": "/healthz",
                "port": CONTROL_PORT_NAME if settings.in_place_restarts else PORT_NAME,
            },
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
        container["resources"] = dump(spec.resources)
    return container


def _env(agent: api.Agent, attempt: int, settings: OperatorSettings) -> list[dict[str, Any]]:
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
    if settings.control_token_sha256 is not None:
        # Only the token's hash: an agent can read its own environment, and must not control any pod.
        env += [
            {"name": CONTROL_PORT_ENV, "value": str(settings.control_port)},
            {"name": CONTROL_TOKEN_SHA256_ENV, "value": settings.control_token_sha256},
            {"name": FIRST_ATTEMPT_ENV, "value": str(attempt)},
        ]
    if settings.api_url_for_pods:
        env.append({"name": "AGENT_KUBE_API_URL", "value": settings.api_url_for_pods})
    own = {var.name for var in agent.spec.env or []}
    if settings.otlp_endpoint and not own & OTLP_ENDPOINT_ENVS:
        # The operator-wide collector; an agent naming its own endpoint (either variable) keeps it.
        env.append({"name": OTLP_ENDPOINT_ENV, "value": settings.otlp_endpoint})
    key_ref = agent.spec.model.api_key_secret_ref
    if key_ref is not None:
        env.append(_secret_env(MODEL_API_KEY_ENV, key_ref.name, key_ref.key))
    env += mcp_servers.header_env_vars(agent.spec)
    env += [dump(var) for var in agent.spec.env or []]
    env += [_secret_env(name, ref.name, ref.key) for name, ref in program_secrets(agent.spec)]
    return env


def program_secrets(template: api.AgentTemplate) -> list[tuple[str, api.SecretKeyRef]]:
    """run_program's Secret-backed variables: set on the agent's container, inherited by the program."""
    return [
        (var.name, var.secret_key_ref)
        for tool in template.tools or []
        for var in tool.env or []
        if var.secret_key_ref is not None
    ]


def _field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
