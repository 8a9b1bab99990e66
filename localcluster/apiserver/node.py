"""The Node object of the process kubelet's node, `local`, describing the machine it really runs on.

`status.nodeInfo` carries every field the API marks required (the `kubernetes` and `kubernetes_asyncio`
clients refuse to deserialize a Node without them), read from the host where the host has them.
"""

from __future__ import annotations

import os
import platform
import uuid
from pathlib import Path
from typing import Any

from . import meta

NODE_NAME = "local"
KUBELET_VERSION = "v1.35.0-localcluster"
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def architecture() -> str:
    machine = platform.machine().lower()
    return _ARCHITECTURES.get(machine, machine or "unknown")


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return f"{platform.system()} {platform.release()}".strip()


def node_info() -> dict[str, str]:
    machine_id = _read("/etc/machine-id") or uuid.uuid5(uuid.NAMESPACE_DNS, platform.node()).hex
    system_uuid = _read("/sys/class/dmi/id/product_uuid") or str(uuid.uuid5(uuid.NAMESPACE_OID, machine_id))
    return {
        "machineID": machine_id,
        "systemUUID": system_uuid,
        "bootID": _read("/proc/sys/kernel/random/boot_id") or str(uuid.uuid4()),
        "kernelVersion": platform.release(),
        "osImage": _os_image(),
        "containerRuntimeVersion": "localcluster://process",
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": "",  # deprecated and empty on real nodes since 1.31, but still required
        "operatingSystem": platform.system().lower() or os.name,
        "architecture": architecture(),
    }


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }


def local_node_status() -> dict[str, Any]:
    now = meta.timestamp()
    return {
        "conditions": [
            _condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "not tracked", now),
            _condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "not tracked", now),
            _condition("PIDPressure", "False", "KubeletHasSufficientPID", "not tracked", now),
            _condition("Ready", "True", "KubeletReady", "local process kubelet", now),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": NODE_NAME},
        ],
        "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
        "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": node_info(),
    }


def local_node() -> dict[str, Any]:
    return {
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": architecture(),
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {},
        "status": local_node_status(),
    }
