"""Keeps one process of the local stack running, as a Deployment keeps its pod: when it exits, it is started
again after a backoff, and each restart is logged.

Outside Kubernetes nothing else restarts the operator. It exits on purpose when it loses its Lease (a slow or
hung API server is enough: issue 16), expecting its pod to be restarted; on the local stack this is what
restarts it.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    """The kubelet's CrashLoopBackOff, scaled to a laptop: the delay doubles with each quick exit up to a cap,
    and a run that lasted `reset_after` seconds counts as healthy, so the next exit waits `initial` again."""

    initial: float = 1.0
    cap: float = 30.0
    reset_after: float = 60.0

    def delay(self, quick_exits: int) -> float:
        """The wait before the restart that follows `quick_exits` (>= 1) exits in a row of short runs."""
        return float(min(self.cap, self.initial * 2 ** max(0, quick_exits - 1)))


class Keeper:
    """Runs `command` until stop(); restarts it whenever it exits, after the backoff."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self._command = list(command)
        self._env = dict(env)
        self._log_path = log_path
        self._backoff = backoff or Backoff()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.restarts = 0
        """How many times the process was started again after it exited."""

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self._process

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._keep, name=f"keeper-{self.name}", daemon=True)
        self._thread.start()

    def _spawn(self) -> bool:
        """Start the process, unless stop() began: under the lock, so that stop() always sees the last one."""
        with self._lock, self._log_path.open("ab") as out:
            if self._stopping.is_set():
                return False
            self._process = subprocess.Popen(
                self._command, env=self._env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            return True

    def _note(self, message: str) -> None:
        """Into the process's own log, where its last words are, and the Python log."""
        log.warning("%s: %s", self.name, message)
        with self._log_path.open("a", encoding="utf-8") as out:
            _line(out, f"[keeper] {self.name}: {message}")

    def _keep(self) -> None:
        quick_exits = 0
        while True:
            process = self.process
            if process is None:
                return
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            quick_exits = 1 if ran >= self._backoff.reset_after else quick_exits + 1
            delay = self._backoff.delay(quick_exits)
            self._note(f"exited with code {code} after {ran:.1f}s; restarting in {delay:.1f}s")
            if self._stopping.wait(delay) or not self._spawn():
                return
            self.restarts += 1
            pid = process.pid if (process := self.process) is not None else None
            self._note(f"restarted (restart {self.restarts}, pid {pid})")

    def stop(self, timeout: float) -> None:
        """Stop restarting, then SIGTERM the process; SIGKILL it after `timeout` seconds."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


def _line(out: IO[str], text: str) -> None:
    out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
