"""Runtime test fixtures: a real scripted model server and real runtime processes on loopback addresses."""

import contextlib
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.polling import poll_until

TOKEN = "test-token"
T = TypeVar("T")
SCENARIOS = Path(__file__).with_name("scenarios.yaml")


def eventually(
    probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    return poll_until(probe, timeout, what, interval)


def free_address() -> tuple[str, int]:
    """A random 127.x.y.z address (the runtime binds it like a pod IP) and a port free on it."""
    host = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
    with socket.socket() as sock:
        sock.bind((host, 0))
        return host, sock.getsockname()[1]


@contextlib.contextmanager
def mcp_tool_server(log_folder: Path, *args: str) -> Iterator[tuple[str, int]]:
    """The runtime image's MCP tool server (agent_runtime.mcp_tool_server) as a process on a free loopback
    address, with extra `args`; yields (host, port) once it listens."""
    host, port = free_address()
    command = [sys.executable, "-m", "agent_runtime.mcp_tool_server", "--host", host, "--port", str(port)]
    with (log_folder / "mcp.log").open("wb") as log:
        process = subprocess.Popen([*command, *args], stdout=log, stderr=log)

    def listening() -> bool:
        assert process.poll() is None, "the MCP tool server exited"
        try:
            socket.create_connection((host, port), 1).close()
        except OSError:
            return False
        return True

    try:
        poll_until(listening, 15, "the MCP tool server to listen", 0.02)
        yield host, port
    finally:
        process.kill()
        process.wait(10)


def loopback_http_get(url: str) -> dict[str, Any]:
    """http_get settings reaching the local test server at `url`: its host and port, and loopback opted into
    explicitly (http_get refuses loopback, private and other non-public addresses otherwise)."""
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return {"allowedHosts": [f"{host}:{port}"], "allowedNetworks": ["127.0.0.0/8"]}


LOOPBACK_ANY_PORT: dict[str, Any] = {
    "allowedHosts": ["127.0.0.1"],
    "allowedPorts": list(range(1024, 65536)),
    "allowedNetworks": ["127.0.0.0/8"],
}
"""http_get settings for test pages on loopback at a port not known when the config is written."""


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "agent_runtime", *args], env={**os.environ, **env}, stdout=out, stderr=out
        )


class ModelServer:
    def __init__(self, tmp: Path) -> None:
        self.host, self.port = free_address()
        self.url = f"http://{self.host}:{self.port}/v1"
        args = ["model-server", "--host", self.host, "--port", str(self.port), "--scenarios", str(SCENARIOS)]
        self.process = _spawn(args, {}, tmp / "model-server.log")
        eventually(self._up, timeout=15, what="the model server to listen")

    def _up(self) -> bool:
        try:
            return httpx.get(f"http://{self.host}:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def requests(self, marker: str) -> list[dict[str, Any]]:
        """Requests whose system prompt contains `marker` (every test uses a unique one)."""
        log = httpx.get(f"http://{self.host}:{self.port}/scripted/requests", timeout=5).json()["requests"]
        return [entry for entry in log if marker in (entry.get("system") or "")]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


class Runtime:
    """One `python -m agent_runtime` process with its config file, checkpoint file and termination message."""

    def __init__(self, tmp: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.name = config["agent"]["name"]
        self.dir = tmp / self.name
        self.dir.mkdir(exist_ok=True)
        self.host, self.port = free_address()
        self.url = f"http://{self.host}:{self.port}"
        self.config_path = self.dir / "config.yaml"
        self.termination_path = self.dir / "termination-log"
        self.log_path = self.dir / "runtime.log"
        self.write_config(config)
        self.env = {
            "AGENT_CONFIG": str(self.config_path),
            "AGENT_HOST": self.host,
            "AGENT_PORT": str(self.port),
            "AGENT_MESSAGE_TOKEN": TOKEN,
            "AGENT_TERMINATION_MESSAGE_PATH": str(self.termination_path),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, config: dict[str, Any]) -> None:
        self.config = config
        temporary = self.config_path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(config))
        temporary.replace(self.config_path)  # atomic, like a ConfigMap volume update

    def start(self) -> "Runtime":
        self.process = _spawn([], self.env, self.log_path)
        return self

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers=self.headers(), timeout=5, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=self.headers(), timeout=10, **kwargs)

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 15) -> "Runtime":
        def probe() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log()
            return self.ready()

        eventually(probe, timeout=timeout, what=f"{self.name} to become ready")
        return self

    def status(self) -> dict[str, Any]:
        response = self.get("/v1/status")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def send(self, content: str, kind: str = "cast", **fields: Any) -> httpx.Response:
        return self.post("/v1/messages", {"from": "tester", "content": content, "kind": kind, **fields})

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s\n{self.log()}") from None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def termination(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.termination_path.read_text())
        return result

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    server = ModelServer(tmp_path_factory.mktemp("model-server"))
    yield server
    server.stop()


@pytest.fixture
def marker() -> str:
    """A unique string for this test's system prompts, to find its requests in the shared model server log."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    started: list[Runtime] = []

    def make(config: dict[str, Any], env: dict[str, str] | None = None) -> Runtime:
        runtime = Runtime(tmp_path, config, env)
        started.append(runtime)
        return runtime

    yield make
    for runtime in started:
        runtime.kill()


def agent_config(
    name: str,
    model_url: str,
    system_prompt: str,
    *,
    task: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    checkpoint: Path | None = None,
    **extra: Any,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "apiVersion": "runtime.otp.agents.dev/v1",
        "revision": "1",
        "agent": {"name": name, "namespace": "test"},
        "model": {
            "endpoint": model_url,
            "name": "scripted",
            "timeoutSeconds": 10,
            "retry": {"maxAttempts": 4, "initialBackoffSeconds": 0.05, "maxBackoffSeconds": 0.2},
        },
        "systemPrompt": system_prompt,
        "tools": tools or [],
        **extra,
    }
    if task is not None:
        config["task"] = task
    if checkpoint is not None:
        config["checkpoint"] = {"store": "file", "path": str(checkpoint)}
    return config


@pytest.fixture
def make_config() -> Callable[..., dict[str, Any]]:
    return agent_config


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    return eventually


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    """A local web site for http_get: /page (five words), /big, /missing (404), /away (redirect off-site)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://localhost:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"x" * 5000 if self.path == "/big" else b"one two three four five"
            self.send_response(404 if self.path == "/missing" else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
