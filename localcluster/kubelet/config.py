"""Settings of the process kubelet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from localcluster.kubelet.images import ImageTable

NODE_NAME = "local"
HOST_IP = "127.0.0.1"
# Host variables a container inherits: enough to find programs and this Python environment. A real container
# gets none of the host's environment; a local process without PATH or HOME is of little use.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")


@dataclass(frozen=True)
class KubeletConfig:
    state_dir: Path
    images: ImageTable = field(default_factory=ImageTable)
    node_name: str = NODE_NAME
    host_ip: str = HOST_IP
    # CrashLoopBackOff: the first restart is immediate, then initial doubling up to max (kubelet: 10 s, 300 s)
    restart_backoff_initial: float = 10.0
    restart_backoff_max: float = 300.0
    inherited_env: tuple[str, ...] = INHERITED_ENV
    # Written into each pod's kubeconfig and service account token; None when no API server is known.
    api_url: str | None = None
    token: str = ""
    # The API server's Service DNS proxy, given to containers as HTTP_PROXY; None: containers get no proxy.
    service_proxy_url: str | None = None

    @property
    def pods_dir(self) -> Path:
        return self.state_dir / "pods"
