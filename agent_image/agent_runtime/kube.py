"""Access to the Kubernetes API from inside a pod: URL, bearer token and CA.

Where the address comes from, first match wins: an explicit URL (config `checkpoint.apiUrl`), env
AGENT_KUBE_API_URL, the in-cluster env KUBERNETES_SERVICE_HOST/PORT (HTTPS with the service account CA), and
last the current context of the kubeconfig in env KUBECONFIG (how the project's local cluster hands pods the
API; only server and token are read). The token is the service account's, read on every request because
projected tokens rotate, unless the kubeconfig supplied one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from agent_runtime import fast_yaml, tls
from agent_runtime.paths import builtin_path

if TYPE_CHECKING:
    # Imported where it is used: importing httpx costs start-up time before /readyz that nothing needs.
    import httpx

SERVICEACCOUNT_DIR_ENV: Final = "AGENT_SERVICEACCOUNT_DIR"
API_URL_ENV: Final = "AGENT_KUBE_API_URL"
DEFAULT_SERVICEACCOUNT_DIR: Final = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeAccessError(Exception):
    """No way to reach the API server from this process; the message says what to set."""


@dataclass(frozen=True)
class KubeAccess:
    api_url: str
    serviceaccount_dir: Path
    static_token: str | None = None

    @property
    def ca_file(self) -> Path | None:
        ca = self.serviceaccount_dir / "ca.crt"
        return ca if self.api_url.startswith("https://") and ca.exists() and ca.stat().st_size else None

    def token(self) -> str | None:
        if self.static_token:
            return self.static_token
        try:
            return (self.serviceaccount_dir / "token").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def auth_headers(self) -> dict[str, str]:
        token = self.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def client(self, timeout: float = 10.0) -> httpx.AsyncClient:
        import httpx

        ca = self.ca_file
        verify = tls.client_context(None if ca is None else str(ca))
        return httpx.AsyncClient(base_url=self.api_url, timeout=timeout, verify=verify)


def _named(entries: Any, name: Any, key: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(key), dict):
            found: dict[str, Any] = entry[key]
            return found
    return {}


def _from_kubeconfig(path: str) -> tuple[str, str | None]:
    try:
        document = fast_yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise KubeAccessError(f"cannot read KUBECONFIG {path!r}: {err}") from err
    context = _named(document.get("contexts"), document.get("current-context"), "context")
    server = _named(document.get("clusters"), context.get("cluster"), "cluster").get("server")
    if not server:
        raise KubeAccessError(f"KUBECONFIG {path!r} has no server for its current context")
    token = _named(document.get("users"), context.get("user"), "user").get("token")
    return str(server), str(token) if token else None


def kube_access(explicit_url: str | None = None) -> KubeAccess:
    directory = Path(os.environ.get(SERVICEACCOUNT_DIR_ENV) or builtin_path(DEFAULT_SERVICEACCOUNT_DIR))
    url = explicit_url or os.environ.get(API_URL_ENV)
    token = None
    if not url and (host := os.environ.get("KUBERNETES_SERVICE_HOST")):
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    if not url and (kubeconfig := os.environ.get("KUBECONFIG")):
        url, token = _from_kubeconfig(kubeconfig.split(os.pathsep)[0])
    if not url:
        raise KubeAccessError(
            "no Kubernetes API address (not in a pod: KUBERNETES_SERVICE_HOST and KUBECONFIG unset); "
            f"set checkpoint.apiUrl or env {API_URL_ENV}"
        )
    return KubeAccess(api_url=url.rstrip("/"), serviceaccount_dir=directory, static_token=token)
