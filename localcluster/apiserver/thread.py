"""Running an ApiServer on its own event loop in a background thread (for blocking callers: tests, CLIs)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from localcluster.loopthread import LoopThread

from .server import ApiServer


class ServerThread(LoopThread):
    """Context manager: `with ServerThread(ApiServer(state_dir)) as server: ...` (server is started)."""

    def __init__(self, server: ApiServer) -> None:
        super().__init__("localcluster-apiserver")
        self.server = server

    def start(self) -> ApiServer:
        self.start_loop()
        self.run(self.server.start())
        return self.server

    def stop(self) -> None:
        self.stop_loop(self.server.stop, timeout=30)

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        return self.server.write_kubeconfig(path, namespace)

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
