"""Choosing a kubeconfig context the kubectl way, for the commands that read the API (tree, observer).

Both client libraries (`kubernetes` for `tree`, `kubernetes_asyncio` for the observer) list contexts in the
same shape and fail with their own ConfigException; what to make of it is decided here, once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

IN_CLUSTER_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ContextError(Exception):
    """The kubeconfig cannot give what was asked for; the message says what to pass instead."""


def context_namespace(
    contexts: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None, wanted: str | None
) -> str:
    """The namespace to use when -n is not given: that of the context `--context` names (else the current
    one), or default."""
    chosen = next((c for c in contexts if c.get("name") == wanted), None) if wanted else current
    if chosen is None:
        names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
        raise ContextError(f"--context {wanted}: no such context in the kubeconfig (it has: {names})")
    return str((chosen.get("context") or {}).get("namespace") or "default")


def unusable_kubeconfig(kubeconfig: str | None, context: str | None, error: Exception) -> ContextError | None:
    """The error to report for a kubeconfig that did not load; None inside a pod when nothing named one (then
    the pod's service account is used, as kubectl does)."""
    if kubeconfig or context or not os.environ.get("KUBERNETES_SERVICE_HOST"):
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        problem = str(error).rstrip(".")
        fix = "pass --kubeconfig or set KUBECONFIG"
        return ContextError(f"cannot load the kubeconfig {where}: {problem}; {fix}")
    return None


def in_cluster_namespace() -> str:
    """The namespace of the pod's service account, or default."""
    return IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.exists() else "default"
