"""Test access to agent pods' pod supervisors (in-place restarts): their state, their watch, their processes.

The test authenticates as the operator does, with the token from the operator's control Secret; the local
cluster runs pods as local processes, so an incarnation can be killed by its pid (the agent process exits, its
container does not).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from agent_runtime.incarnation_protocol import DEFAULT_CONTROL_PORT, IncarnationState, WatchLine
from tests.operator_e2e.harness import Env, wait_for

CONTROL_SECRET = "agent-supervisor-control"


def control_token(env: Env) -> str:
    secret = env.api.get("secrets", env.namespace, CONTROL_SECRET)
    assert secret is not None, "the operator has not created its control Secret"
    return base64.b64decode(secret["data"]["token"]).decode()


def control_url(env: Env, pod: str) -> str:
    body = env.pods()[pod]
    return f"http://{body['status']['podIP']}:{DEFAULT_CONTROL_PORT}"


def state(env: Env, pod: str) -> IncarnationState:
    response = httpx.get(
        f"{control_url(env, pod)}/v1/incarnation",
        headers={"Authorization": f"Bearer {control_token(env)}"},
        timeout=5,
    )
    response.raise_for_status()
    return IncarnationState.model_validate(response.json())


def kill_incarnation(env: Env, pod: str, sig: int = signal.SIGKILL) -> int:
    """Kill the agent process the pod supervisor of `pod` runs now; returns its pid."""
    current = state(env, pod)
    assert current.pid is not None and current.phase == "Ready", f"{pod} runs no Ready incarnation: {current}"
    os.kill(current.pid, sig)
    return current.pid


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass(frozen=True)
class Seen:
    """One change a pod supervisor reported, in the order this recorder received the changes."""

    at: float
    pod: str
    attempt: int
    phase: str
    exit_code: int | None
    stopped: bool
    started_at: str = ""
    """The pod supervisor's own clock (RFC 3339, milliseconds): when it started the incarnation."""
    ready_at: str | None = None
    finished_at: str | None = None


@dataclass
class IncarnationRecorder:
    """Watches the pod supervisors of some pods and records every change of their current incarnation."""

    env: Env
    pods: list[str]
    seen: list[Seen] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> IncarnationRecorder:
        token = control_token(self.env)
        connected = [threading.Event() for _ in self.pods]
        for pod, ready in zip(self.pods, connected, strict=True):
            url = control_url(self.env, pod)
            threading.Thread(target=self._watch, args=(pod, url, token, ready), daemon=True).start()
        for ready in connected:
            assert ready.wait(10), "a pod supervisor's watch did not open"
        assert not self.failures, f"a pod supervisor's watch failed: {self.failures}"
        return self

    def stop(self) -> None:
        self._stop.set()

    def _watch(self, pod: str, url: str, token: str, connected: threading.Event) -> None:
        try:
            self._follow(pod, url, token, connected)
        except httpx.HTTPError as error:
            # Once connected: the pod supervisor ended (its pod deleted or replaced), nothing more to record.
            if not connected.is_set():
                self.failures.append(f"{pod}: {error!r}")
                connected.set()

    def _follow(self, pod: str, url: str, token: str, connected: threading.Event) -> None:
        last: tuple[int, str] | None = None
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(timeout=httpx.Timeout(5, read=None)) as http,
            http.stream("GET", f"{url}/v1/incarnation", params={"watch": "true"}, headers=headers) as stream,
        ):
            for raw in stream.iter_lines():
                if self._stop.is_set():
                    return
                if not raw.strip():
                    continue
                line = WatchLine.model_validate(json.loads(raw))
                connected.set()
                if line.state is None or (line.state.attempt, line.state.phase) == last:
                    continue
                last = (line.state.attempt, line.state.phase)
                done = line.state.exit_of(line.state.attempt)
                with self._lock:
                    self.seen.append(
                        Seen(
                            time.monotonic(),
                            pod,
                            line.state.attempt,
                            line.state.phase,
                            None if done is None else done.exit_code,
                            bool(done and done.stopped),
                            line.state.started_at,
                            line.state.ready_at,
                            None if done is None else done.finished_at,
                        )
                    )

    def events(self, phase: str) -> list[tuple[str, int]]:
        """(pod, attempt) of every change to `phase`, in order."""
        with self._lock:
            return [(s.pod, s.attempt) for s in self.seen if s.phase == phase]

    def exits(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.phase == "Exited"]

    def first(self, pod: str, attempt: int, phase: str) -> int:
        """Position of the first change of `pod` to `attempt` in `phase`."""
        with self._lock:
            for index, s in enumerate(self.seen):
                if (s.pod, s.attempt, s.phase) == (pod, attempt, phase):
                    return index
        raise AssertionError(f"{pod} never reported attempt {attempt} {phase}")

    def ready_before_started(self, ready: tuple[str, int], started: tuple[str, int]) -> bool:
        """Incarnation `ready` was Ready before incarnation `started` began (see `_clock`)."""
        return self._clock(ready, "ready_at") <= self._clock(started, "started_at")

    def exited_before_started(self, exited: tuple[str, int], started: tuple[str, int]) -> bool:
        """Incarnation `exited` had ended before incarnation `started` began (see `_clock`)."""
        return self._clock(exited, "finished_at") <= self._clock(started, "started_at")

    def _clock(self, incarnation: tuple[str, int], field_name: str) -> datetime:
        """A moment of an incarnation by its pod supervisor's own clock (the host's, in milliseconds). The
        order in which this recorder receives changes from different pods' streams does not tell: a start that
        follows another pod's Ready within milliseconds may be received first."""
        with self._lock:
            value = next(
                getattr(s, field_name)
                for s in self.seen
                if (s.pod, s.attempt) == incarnation and getattr(s, field_name)
            )
        return datetime.fromisoformat(value)

    def wait(self, pod: str, attempt: int, phase: str, timeout: float = 30) -> None:
        what = f"{pod} to report attempt {attempt} {phase}"
        wait_for(lambda: (pod, attempt) in self.events(phase), timeout, what)


def child_attempts(env: Env, supervisor: str) -> dict[str, int]:
    """Child -> attempt of the incarnation its Agent's status names."""
    attempts: dict[str, int] = {}
    for agent in env.api.list("agents", env.namespace):
        labels = agent["metadata"].get("labels") or {}
        if labels.get("otp.agents.dev/supervisor") == supervisor:
            attempts[labels["otp.agents.dev/child"]] = int((agent.get("status") or {}).get("attempt") or 0)
    return attempts


def pod_uids(env: Env) -> dict[str, str]:
    return {name: pod["metadata"]["uid"] for name, pod in env.pods().items()}


def pod_annotations(env: Env, pod: str) -> dict[str, Any]:
    return dict(env.pods()[pod]["metadata"].get("annotations") or {})
