"""Label and annotation keys the operator reads and writes, and the names of the objects it creates.

Every object name is derived from its owner's name, so executing an action twice addresses the same object
(see docs/operator-design.md, "Idempotent actions by deterministic names").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Final

PREFIX: Final = "otp.agents.dev"

AGENT: Final = f"{PREFIX}/agent"
"""On pods: the Agent resource the pod is an incarnation of (also the Service's selector)."""
SUPERVISOR: Final = f"{PREFIX}/supervisor"
"""On pods and child resources: the AgentSupervisor that supervises them; empty for a standalone Agent."""
CHILD: Final = f"{PREFIX}/child"
"""On pods and child resources: the child's name in its supervisor's spec (the core's child name)."""
WORKER: Final = f"{PREFIX}/worker"
"""On a worker child's pods and Service: the worker's name `<supervisor>-<child>` (the Service's selector).
Its pods carry no agent label: no Agent resource stands behind them."""
POOL: Final = f"{PREFIX}/pool"
"""On a pool member's Agent and pods: the pool it is a member of (its child label is `<pool>-<index>`)."""
ROOT: Final = f"{PREFIX}/root"
"""On pods and child resources: the root of the tree, which owns the shared messaging Secret."""
ATTEMPT: Final = f"{PREFIX}/attempt"
"""On pods: the incarnation (the core's attempt number)."""
TEMPLATE_HASH: Final = f"{PREFIX}/template-hash"
"""On pods: the hash of the cold template fields the pod was built from."""
POD: Final = f"{PREFIX}/pod"
"""On pods: the pod's own name as a label value (pod_label), so that one label selector can name a set of
pods: the batched deletion of finished pods (finished.py). No selector can match names otherwise."""
MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "agent-supervisor"
MANAGED_SELECTOR: Final = f"{MANAGED_BY}={MANAGED_BY_VALUE}"
"""The label selector of every object the operator creates."""

INCARNATION: Final = f"{PREFIX}/incarnation"
"""On a nested AgentSupervisor: the attempt its parent wants it to run (its parent's StartChild)."""
STOP: Final = f"{PREFIX}/stop"
"""On a nested AgentSupervisor: the attempt its parent wants stopped (its parent's StopChild)."""
RESTART: Final = f"{PREFIX}/restart"
"""Set by users to a new value to reset a Failed root supervisor or standalone Agent (a fresh budget)."""
SUPERVISOR_PATH: Final = f"{PREFIX}/supervisor-path"
"""On child resources: the supervisors above them, root first, joined by '/' (runtime supervisorPath)."""
CONFIG_REVISION: Final = f"{PREFIX}/config-revision"
"""On the config ConfigMap: the revision of the rendered runtime config it holds."""

MAX_NAME: Final = 63
"""Agents are Service names and every name is a label value: both are limited to 63 characters."""

CONFIG_KEY: Final = "config.yaml"
"""The key of the runtime config in the agent's ConfigMap."""
MESSAGING_TOKEN_KEY: Final = "token"
CONTROL_SECRET: Final = "agent-supervisor-control"
"""The Secret, in the operator's namespace, holding the token it controls pod supervisors with."""
CONTROL_TOKEN_KEY: Final = "token"
"""The key of the bearer token in the tree's messaging Secret."""


def pod_name(agent: str, attempt: int) -> str:
    """Incarnation `attempt` of agent `agent`: one deterministic name per attempt (JobSet's pattern)."""
    return f"{agent}-{attempt}"


def pod_label(pod: str) -> str:
    """The value of the POD label of pod `pod`: its name, or when that is longer than a label value may be,
    a prefix of it and a digest of the whole name."""
    if len(pod) <= MAX_NAME:
        return pod
    digest = hashlib.sha256(pod.encode()).hexdigest()[:12]
    return f"{pod[: MAX_NAME - len(digest) - 1].rstrip('-.')}-{digest}"


def child_name(supervisor: str, child: str) -> str:
    """The Agent or AgentSupervisor resource created for child `child` of supervisor `supervisor`; for a
    worker child, the name of its Service and the stem of its pods' names."""
    return f"{supervisor}-{child}"


def config_map_name(agent: str) -> str:
    return f"{agent}-config"


def checkpoint_name(agent: str) -> str:
    """The checkpoint ConfigMap, and the Role and RoleBinding that let the agent's pod write it."""
    return f"{agent}-checkpoint"


def service_account_name(agent: str) -> str:
    """The ServiceAccount the operator makes for an agent that names none: the pod's own identity, so that
    only its pods can write its checkpoint (the namespace's `default` account is shared by every workload)."""
    return f"{agent}-agent"


def messaging_secret_name(root: str) -> str:
    return f"{root}-messaging"


def root_of(name: str, labels: Mapping[str, str] | None) -> str:
    """The root of the tree a resource belongs to: its root label, or the resource itself when it has none."""
    return (labels or {}).get(ROOT) or name


def supervisor_of(labels: Mapping[str, str] | None) -> str | None:
    """The supervisor a resource is a child of, or None for a root supervisor or a standalone Agent."""
    return (labels or {}).get(SUPERVISOR) or None


def child_path(parent_path: str, supervisor: str) -> str:
    """The supervisor path of the children of `supervisor`, whose own path is `parent_path`."""
    return f"{parent_path}/{supervisor}" if parent_path else supervisor


def attempt_of(labels: Mapping[str, str] | None) -> int | None:
    """The attempt label of a pod as a number; None when it is missing or not a number (not our pod)."""
    value = (labels or {}).get(ATTEMPT, "")
    return int(value) if value.isdigit() else None


def annotation_number(annotations: Mapping[str, str] | None, key: str) -> int | None:
    """A numeric annotation (incarnation, stop); None when it is missing or not a non-negative integer."""
    value = (annotations or {}).get(key, "").strip()
    return int(value) if value.isdigit() else None
