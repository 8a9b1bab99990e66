"""`agent-supervisor observer` as a real process on the local cluster, and a reader of the snapshots it
pushes (the same Server-Sent Events stream the page reads)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.operator_e2e.harness import Env, free_port, wait_for


@dataclass
class Observer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Any

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])


@contextmanager
def observer(env: Env) -> Iterator[Observer]:
    port = free_port()
    log_path = env.workdir / "observer.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "agent_supervisor", "observer"),
                *("-n", env.namespace, "--port", str(port), "--kubeconfig", env.tool_env["KUBECONFIG"]),
            ],
            env=env.tool_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Observer(f"http://127.0.0.1:{port}", process, log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the observer exited early:\n{running.log_tail()}")
        try:
            return httpx.get(f"{running.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=30, what="the observer to serve /healthz")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Snapshots:
    """Every snapshot pushed on one /events stream, as raw text and parsed, read by a thread."""

    url: str
    raw: list[str] = field(default_factory=list)
    parsed: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    latest: dict[str, Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Snapshots:
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}/events", timeout=httpx.Timeout(5, read=None)) as stream:
                for line in stream.iter_lines():
                    if self.stop.is_set():
                        return
                    if line.startswith("data: "):
                        data = line.removeprefix("data: ")
                        self.raw.append(data)
                        self.parsed.put(json.loads(data))
        except httpx.HTTPError:
            # The observer stopped at the end of the test; a test still waiting fails on its deadline.
            return

    def until(self, check: Callable[[dict[str, Any]], Any], timeout: float, what: str) -> dict[str, Any]:
        """The first pushed snapshot (from now on, or the latest already seen) for which `check` holds."""

        def seen() -> dict[str, Any] | None:
            while True:
                try:
                    self.latest = self.parsed.get_nowait()
                except queue.Empty:
                    break
                if check(self.latest):
                    return self.latest
            return None

        if self.latest is not None and check(self.latest):
            return self.latest
        found: dict[str, Any] = wait_for(seen, timeout, what)
        return found


def nodes(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every tree node of a snapshot by id."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any]) -> None:
        found[node["id"]] = node
        for child in node["children"]:
            walk(child)

    for tree in snapshot["trees"]:
        walk(tree)
    return found


@dataclass
class StatusWrites:
    """When this process saw each status write of one Agent (a watch of it): the moment to measure the page
    against, since the page can show nothing before the write."""

    url: str
    path: str
    seen: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> StatusWrites:
        started = threading.Event()
        threading.Thread(target=self._watch, args=(started,), daemon=True).start()
        assert started.wait(10), "the status watch did not start"
        return self

    def _watch(self, started: threading.Event) -> None:
        import time

        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(5, read=None)) as http:
            try:
                with http.stream("GET", self.path, params={"watch": "true"}) as stream:
                    started.set()
                    for line in stream.iter_lines():
                        if self.stop.is_set():
                            return
                        if line:
                            self.seen.append((time.time(), json.loads(line)["object"]))
            except httpx.HTTPError:
                return

    def first(self, name: str, check: Callable[[dict[str, Any]], bool]) -> float | None:
        """When the first status of Agent `name` for which `check` holds was seen (wall clock, seconds)."""
        return next(
            (
                at
                for at, obj in list(self.seen)
                if obj["metadata"]["name"] == name and check(obj.get("status") or {})
            ),
            None,
        )
