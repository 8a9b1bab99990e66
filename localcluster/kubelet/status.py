"""Pod phase and conditions, computed the way the kubelet computes them from its containers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from localcluster.kubelet.states import Running, Terminated, Waiting

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


@dataclass(frozen=True)
class ContainerView:
    """What phase and conditions need to know about one container."""

    name: str
    state: Waiting | Running | Terminated
    finished: bool
    restarted_before: bool
    ready: bool


def pod_phase(
    restart_policy: str,
    containers: Sequence[ContainerView],
    *,
    initialized: bool,
    init_failed: bool,
    stopped_by_kubelet: bool,
) -> str:
    """Pending/Running/Succeeded/Failed following the kubelet's rules."""
    if init_failed:
        return "Failed"
    if (
        stopped_by_kubelet
        and containers
        and all(c.finished or isinstance(c.state, Waiting) for c in containers)
    ):
        exits = [c.state.exit_code for c in containers if isinstance(c.state, Terminated)]
        return "Succeeded" if exits and all(code == 0 for code in exits) else "Failed"
    if not initialized:
        return "Pending"
    running = sum(isinstance(c.state, Running) for c in containers)
    waiting = sum(isinstance(c.state, Waiting) and not c.restarted_before for c in containers)
    stopped = len(containers) - running - waiting
    succeeded = sum(isinstance(c.state, Terminated) and c.state.exit_code == 0 for c in containers)
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if all(c.finished for c in containers) and stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never" and all(c.finished for c in containers):
            return "Failed"
        return "Running"
    return "Pending"


def _condition(
    kind: str,
    ok: bool,
    previous: Mapping[str, Mapping[str, Any]],
    now: str,
    reason: str = "",
    message: str = "",
) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = previous.get(kind)
    changed = before is None or before.get("status") != status
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": now if changed or before is None else before.get("lastTransitionTime") or now,
    }
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def pod_conditions(
    *,
    previous: Sequence[Mapping[str, Any]],
    readiness_gates: Sequence[Mapping[str, Any]],
    sandbox_ready: bool,
    initialized: bool,
    incomplete_init: Sequence[str],
    containers: Sequence[ContainerView],
    phase: str,
    now: str,
) -> list[dict[str, Any]]:
    """The kubelet-owned conditions, keeping conditions others own (readiness gates) as they were."""
    by_type = {str(c.get("type")): c for c in previous}
    terminal = phase in ("Succeeded", "Failed")
    unready = [c.name for c in containers if not c.ready]
    containers_ready = not unready and not terminal and bool(containers)
    not_ready_reason = "PodCompleted" if terminal else "ContainersNotReady"
    not_ready_message = "" if terminal else f"containers with unready status: [{' '.join(unready)}]"
    gate_message = ""
    for gate in readiness_gates:
        gate_type = str(gate.get("conditionType", ""))
        if str((by_type.get(gate_type) or {}).get("status")) != "True":
            gate_message = f'corresponding condition of pod readiness gate "{gate_type}" does not exist.'
            if gate_type in by_type:
                gate_message = f'the status of pod readiness gate "{gate_type}" is not "True", but False'
            break
    ready_reason, ready_message = not_ready_reason, not_ready_message
    if containers_ready and gate_message:
        ready_reason, ready_message = "ReadinessGatesNotReady", gate_message
    owned = [
        _condition("PodReadyToStartContainers", sandbox_ready and not terminal, by_type, now),
        _condition(
            "Initialized",
            initialized,
            by_type,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete_init)}]",
        ),
        _condition("Ready", containers_ready and not gate_message, by_type, now, ready_reason, ready_message),
        _condition("ContainersReady", containers_ready, by_type, now, not_ready_reason, not_ready_message),
        _condition("PodScheduled", True, by_type, now),
    ]
    others = [dict(c) for c in previous if str(c.get("type")) not in KUBELET_CONDITIONS]
    return owned + others
