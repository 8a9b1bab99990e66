"""Driving the kind cluster from the tests: kubectl with JSON out, and waiting with a deadline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pytest_kind import KindCluster

from tests.polling import poll_until

T = TypeVar("T")


def get_json(cluster: KindCluster, *args: str) -> Any:
    """`kubectl get ... -o json`, parsed."""
    return json.loads(cluster.kubectl("get", *args, "-o", "json"))


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Poll `condition` until it returns something truthy; fail naming `what` after `timeout` seconds.

    The cluster offers no event to await for "the operator reacted", so the tests poll its observable state.
    """
    return poll_until(condition, timeout, what, interval)


def running_pods(cluster: KindCluster, namespace: str, agent: str) -> list[str]:
    """Names of the agent's pods that are Running and not being deleted."""
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"otp.agents.dev/agent={agent}")["items"]
    return [
        pod["metadata"]["name"]
        for pod in pods
        if pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]
    ]


def phase(cluster: KindCluster, kind: str, namespace: str, name: str) -> str | None:
    resource = get_json(cluster, kind, name, "-n", namespace)
    phase_value: str | None = resource.get("status", {}).get("phase")
    return phase_value


def apply_example(cluster: KindCluster, namespace: str, example: Path) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(example))
