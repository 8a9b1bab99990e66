"""A real pod supervisor process for tests and benchmarks: its control API, its watch stream, its end."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.polling import poll_until
from tests.runtime.conftest import TOKEN, free_address

CONTROL_TOKEN = "control-token-for-tests"
CONTROL_TOKEN_SHA256 = hashlib.sha256(CONTROL_TOKEN.encode()).hexdigest()
AUTH = {"Authorization": f"Bearer {CONTROL_TOKEN}"}

State = dict[str, Any]


class Watch:
    """One `?watch=true` stream read by a thread; lines are awaited with deadlines, never with sleeps."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._connection = http.client.HTTPConnection(host, port, timeout=30)
        self._connection.request("GET", "/v1/incarnation?watch=true", headers=headers or AUTH)
        self.response = self._connection.getresponse()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while line := self.response.readline():
                self.lines.put(json.loads(line))
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.lines.put(None)  # the stream ended

    def next_line(self, timeout: float = 10) -> dict[str, Any] | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch line within {timeout}s") from None

    def wait_state(self, condition: Callable[[State], bool], timeout: float = 20, what: str = "") -> State:
        """Read lines until a state line satisfies `condition`; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"watch ended while waiting for {what}; states seen: {seen}")
            if line["type"] == "state":
                seen.append((line["state"]["attempt"], line["state"]["phase"]))
                if condition(line["state"]):
                    return dict(line["state"])
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; states seen: {seen}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._connection.sock is not None:
                self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._connection.close()


_CONTROL = httpx.Client(timeout=10)
"""Calls to pod supervisors' control APIs (plain http)."""


class PodSupervisorProcess:
    """`python -m agent_runtime` with AGENT_CONTROL_PORT set, in a session of its own (as in a container)."""

    def __init__(
        self, folder: Path, config: dict[str, Any], env: dict[str, str] | None = None, token: bool = True
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.dir = folder
        self.config_path = folder / "config.yaml"
        self.write_config(config)
        self.host, self.agent_port = free_address()
        with socket.socket() as sock:
            sock.bind((self.host, 0))
            self.control_port = sock.getsockname()[1]
        self.control_url = f"http://{self.host}:{self.control_port}"
        self.agent_url = f"http://{self.host}:{self.agent_port}"
        self.termination_path = folder / "termination-log"
        self.log_path = folder / "pod.log"
        self.env = {
            "AGENT_CONFIG": str(self.config_path),
            "AGENT_HOST": self.host,
            "AGENT_PORT": str(self.agent_port),
            "AGENT_CONTROL_PORT": str(self.control_port),
            "AGENT_MESSAGE_TOKEN": TOKEN,
            "AGENT_TERMINATION_MESSAGE_PATH": str(self.termination_path),
            **({"AGENT_CONTROL_TOKEN_SHA256": CONTROL_TOKEN_SHA256} if token else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.incarnation_pids: set[int] = set()

    def write_config(self, config: dict[str, Any]) -> None:
        temporary = self.config_path.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(config))
        temporary.replace(self.config_path)

    def start(self, *args: str) -> PodSupervisorProcess:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("AGENT_")}
        with self.log_path.open("ab") as log:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agent_runtime", *args],
                env={**environment, **self.env},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        return self

    # ----- the control API ---------------------------------------------------------------------------

    def wait_listening(self, timeout: float = 15) -> None:
        def listening() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log()
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.control_port), 1):
                return True
            return False

        poll_until(listening, timeout, "the control port to open", interval=0.01)

    def watch(self, headers: dict[str, str] | None = None) -> Watch:
        self.wait_listening()
        return Watch(self.host, self.control_port, headers)

    def get(self, path: str = "/v1/incarnation", headers: dict[str, str] | None = None) -> httpx.Response:
        return _CONTROL.get(self.control_url + path, headers=AUTH if headers is None else headers)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        # One kept client, as the operator keeps one: a new httpx client per call costs ~30 ms (its TLS
        # context), which the start benchmark would otherwise count as the pod supervisor's.
        return _CONTROL.post(self.control_url + path, json=body, headers=AUTH if headers is None else headers)

    def state(self) -> State:
        response = self.get()
        response.raise_for_status()
        state: State = response.json()
        if state.get("pid"):
            self.incarnation_pids.add(state["pid"])
        return state

    def start_attempt(self, attempt: int, grace: int = 30) -> httpx.Response:
        return self.post("/v1/incarnation", {"attempt": attempt, "graceSeconds": grace})

    def stop_attempt(self, attempt: int, grace: int = 30) -> httpx.Response:
        return self.post("/v1/incarnation/stop", {"attempt": attempt, "graceSeconds": grace})

    # ----- the agent's own API -----------------------------------------------------------------------

    def send(self, content: str) -> httpx.Response:
        return httpx.post(
            self.agent_url + "/v1/messages",
            json={"from": "tester", "content": content},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )

    def agent_status(self) -> dict[str, Any]:
        response = httpx.get(
            self.agent_url + "/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        response.raise_for_status()
        status: dict[str, Any] = response.json()
        return status

    # ----- the end -----------------------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the pod supervisor did not exit within {timeout}s\n{self.log()}") from None

    def wait_group_gone(self, timeout: float = 30) -> None:
        """Wait until the pod supervisor's helpers (forkserver, resource tracker) have exited too."""
        assert self.process is not None
        pgid = self.process.pid
        poll_until(lambda: not group_members(pgid), timeout, "the pod supervisor's helpers to exit")

    def termination(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.termination_path.read_text())
        return document

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """Leave nothing running: the incarnations' groups, then the pod supervisor's (and its forkserver)."""
        for pid in self.incarnation_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members
