"""The kubeconfig clients use: plain HTTP to 127.0.0.1 and a static bearer token (the server accepts any)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONTEXT = "localcluster"


def kubeconfig(url: str, token: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, url: str, token: str, namespace: str = "default") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(url, token, namespace), sort_keys=False))
    path.chmod(0o600)
    return path
