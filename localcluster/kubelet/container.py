"""The life of one container: create, start, probe, exit, restart per policy, stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from localcluster import logformat
from localcluster.kubelet.envvars import ContainerConfigError
from localcluster.kubelet.images import ContainerCannotRunError, ImagePullError, resolve_program
from localcluster.kubelet.probes import ProbeCounter, ProbeResult, ProbeTarget, ProbeTiming, run_probe
from localcluster.kubelet.process import ContainerProcess, ExitStatus
from localcluster.kubelet.states import ContainerState, Running, Terminated, Waiting, timestamp
from localcluster.kubelet.timing import Backoff, sleep_unless

MAX_TERMINATION_MESSAGE = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048


@dataclass(frozen=True)
class LaunchPlan:
    """A container run resolved to host terms."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    termination_message_file: Path


class ContainerHost(Protocol):
    """What a container needs from the pod it belongs to."""

    restart_policy: str
    pod_label: str

    def plan(self, container: Mapping[str, Any]) -> LaunchPlan: ...

    def probe_target(self, container: Mapping[str, Any], plan: LaunchPlan) -> ProbeTarget: ...

    def record_event(self, event_type: str, reason: str, message: str, container: str) -> None: ...

    def changed(self) -> None: ...

    async def wait_for_inputs(self, time_limit: float) -> None: ...

    def restart_backoff(self) -> Backoff: ...

    def grace_seconds(self) -> float: ...

    async def run_hook(
        self, container: Mapping[str, Any], plan: LaunchPlan, hook: Mapping[str, Any]
    ) -> None: ...


def _read_termination_message(plan: LaunchPlan, log_path: Path, exit_code: int, policy: str) -> str:
    message = ""
    with contextlib.suppress(OSError):
        message = plan.termination_message_file.read_bytes()[:MAX_TERMINATION_MESSAGE].decode(
            errors="replace"
        )
    if message or exit_code == 0 or policy != "FallbackToLogsOnError":
        return message
    with contextlib.suppress(OSError):
        output = logformat.plain_text(log_path.read_bytes())
        tail = b"\n".join(output.splitlines()[-FALLBACK_LOG_LINES:])
        return tail[-FALLBACK_LOG_BYTES:].decode(errors="replace")
    return ""


class ContainerRunner:
    """Runs one container of a pod until it terminates for good or the pod stops it."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        host: ContainerHost,
        log_path: Path,
        pid_file: Path,
        *,
        init: bool,
        initial_reason: str,
    ) -> None:
        self.spec = spec
        self.name = str(spec.get("name", ""))
        self.image = str(spec.get("image", ""))
        self.init = init
        self.state: ContainerState = Waiting(initial_reason)
        self.last_state: Terminated | None = None
        self.restart_count = 0
        self.ready = False
        self.started = False
        self._host = host
        self._log_path = log_path
        self._pid_file = pid_file
        self._process: ContainerProcess | None = None
        self._plan: LaunchPlan | None = None
        self._stopping = asyncio.Event()
        self._done = False

    @property
    def finished(self) -> Terminated | None:
        """The final termination, once the container will not run again."""
        return self.state if isinstance(self.state, Terminated) and self._done else None

    @property
    def running_process(self) -> ContainerProcess | None:
        """The process of the current run while it runs (what `kubectl attach` connects to)."""
        return self._process if isinstance(self.state, Running) else None

    @property
    def log_path(self) -> Path:
        return self._log_path

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state.as_dict(),
            "lastState": self.last_state.as_dict() if self.last_state else {},
        }
        if self._process is not None:
            body["containerID"] = f"localcluster://{self._process.pid}"
        return body

    def send_signal(self, sig: int) -> bool:
        if self._process is None or not isinstance(self.state, Running):
            return False
        self._process.send_signal(sig)
        return True

    def request_stop(self) -> None:
        """Let the container run no more (no restart, no further attempt to start)."""
        self._stopping.set()

    async def stop(self, grace_seconds: float) -> None:
        """Stop for good: preStop hook, SIGTERM, and SIGKILL once the grace period is over."""
        self.request_stop()
        process = self._process
        if process is None or not isinstance(self.state, Running):
            return
        self._host.record_event("Normal", "Killing", f"Stopping container {self.name}", self.name)
        deadline = time.monotonic() + grace_seconds
        pre_stop = (self.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and self._plan is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._host.run_hook(self.spec, self._plan, pre_stop), grace_seconds)
        await process.stop(max(deadline - time.monotonic(), 0))

    async def run(self) -> Terminated | None:
        """Run until terminated without restart (returns the final state) or stopped before ever finishing."""
        backoff = self._host.restart_backoff()
        config_backoff = self._host.restart_backoff()
        while not self._stopping.is_set():
            plan = await self._prepare(config_backoff)
            if plan is None:
                continue
            started = time.monotonic()
            terminated = await self._run_once(plan)
            self._set(terminated)
            if self._stopping.is_set() or not self._should_restart(terminated.exit_code):
                self._done = True
                self._host.changed()
                return terminated
            self.last_state = terminated
            delay = backoff.next_delay(time.monotonic() - started)
            if delay > 0:
                self._host.record_event(
                    "Warning",
                    "BackOff",
                    f"Back-off restarting failed container {self.name} in pod {self._host.pod_label}",
                    self.name,
                )
                self._set(
                    Waiting(
                        "CrashLoopBackOff",
                        f"back-off {delay:g}s restarting failed container={self.name} "
                        f"pod={self._host.pod_label}",
                    )
                )
                if await sleep_unless(self._stopping, delay):
                    break
            self.restart_count += 1
        return None

    def _should_restart(self, exit_code: int) -> bool:
        policy = self._host.restart_policy
        if self.init:
            return exit_code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    def _set(self, state: ContainerState) -> None:
        self.state = state
        self._host.changed()

    async def _prepare(self, backoff: Backoff) -> LaunchPlan | None:
        try:
            return self._host.plan(self.spec)
        except ImagePullError as error:
            self._host.record_event("Warning", "Failed", str(error), self.name)
            self._set(Waiting("ErrImagePull", str(error)))
            await sleep_unless(self._stopping, max(backoff.next_delay(0), 1.0))
            self._host.record_event("Normal", "BackOff", f'Back-off pulling image "{self.image}"', self.name)
            self._set(Waiting("ImagePullBackOff", f'Back-off pulling image "{self.image}": {error}'))
        except ContainerConfigError as error:
            self._host.record_event("Warning", "Failed", f"Error: {error}", self.name)
            self._set(Waiting("CreateContainerConfigError", str(error)))
        if not self._stopping.is_set():
            await self._host.wait_for_inputs(max(backoff.next_delay(0), 1.0))
        return None

    async def _run_once(self, plan: LaunchPlan) -> Terminated:
        self._host.record_event(
            "Normal", "Pulled", f'Container image "{self.image}" already present on machine', self.name
        )
        self._plan = plan
        plan.termination_message_file.parent.mkdir(parents=True, exist_ok=True)
        plan.termination_message_file.write_bytes(b"")
        try:
            argv = resolve_program(plan.argv, plan.env.get("PATH"))
            process = await ContainerProcess.spawn(
                argv, plan.env, plan.cwd, self._log_path, self._pid_file, stdin=bool(self.spec.get("stdin"))
            )
        except (OSError, ContainerCannotRunError) as error:
            now = timestamp()
            self._host.record_event("Warning", "Failed", f"Error: {error}", self.name)
            return Terminated(128, "ContainerCannotRun", now, now, message=str(error))
        self._process = process
        if self._stopping.is_set():
            # stopped while the process was being created: it never gets to run
            process.send_signal(signal.SIGKILL)
        self._host.record_event("Normal", "Created", f"Created container: {self.name}", self.name)
        self._host.record_event("Normal", "Started", f"Started container {self.name}", self.name)
        started_at = timestamp()
        self.started = "startupProbe" not in self.spec
        self.ready = self.started and "readinessProbe" not in self.spec
        self._set(Running(started_at))
        probes = asyncio.create_task(self._probe(plan, process)) if not self.init else None
        try:
            exit_status = await process.wait()
        finally:
            if probes is not None:
                probes.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probes
        self.ready = False
        self.started = False
        return self._terminated(plan, process, exit_status, started_at)

    def _terminated(
        self, plan: LaunchPlan, process: ContainerProcess, exit_status: ExitStatus, started_at: str
    ) -> Terminated:
        policy = str(self.spec.get("terminationMessagePolicy", "File"))
        message = _read_termination_message(plan, self._log_path, exit_status.exit_code, policy)
        return Terminated(
            exit_code=exit_status.exit_code,
            reason="Completed" if exit_status.exit_code == 0 else "Error",
            started_at=started_at,
            finished_at=timestamp(),
            container_id=f"localcluster://{process.pid}",
            message=message,
            signal=exit_status.signal,
        )

    async def _probe(self, plan: LaunchPlan, process: ContainerProcess) -> None:
        target = self._host.probe_target(self.spec, plan)
        startup = self.spec.get("startupProbe")
        if startup and not await self._startup(startup, target, process):
            return
        self.started = True
        self.ready = "readinessProbe" not in self.spec
        self._host.changed()
        tasks = [
            asyncio.create_task(self._watch(kind, probe, target, process))
            for kind, probe in (
                ("Readiness", self.spec.get("readinessProbe")),
                ("Liveness", self.spec.get("livenessProbe")),
            )
            if probe
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _startup(
        self, probe: Mapping[str, Any], target: ProbeTarget, process: ContainerProcess
    ) -> bool:
        timing = ProbeTiming.of(probe)
        counter = ProbeCounter(timing, initially_ok=False)
        await asyncio.sleep(timing.initial_delay)
        while True:
            result = await run_probe(probe, target, timing.timeout)
            counter.record(result)
            if counter.ok:
                return True
            self._probe_failed("Startup", result)
            if counter.failures >= timing.failure_threshold:
                await self._kill_unhealthy("startup", timing, process)
                return False
            await asyncio.sleep(timing.period)

    async def _watch(
        self, kind: str, probe: Mapping[str, Any], target: ProbeTarget, process: ContainerProcess
    ) -> None:
        timing = ProbeTiming.of(probe)
        counter = ProbeCounter(timing, initially_ok=kind == "Liveness")
        await asyncio.sleep(timing.initial_delay)
        while True:
            result = await run_probe(probe, target, timing.timeout)
            if not result.ok:
                self._probe_failed(kind, result)
            if counter.record(result):
                if kind == "Readiness":
                    self.ready = counter.ok
                    self._host.changed()
                elif not counter.ok:
                    await self._kill_unhealthy("liveness", timing, process)
                    return
            await asyncio.sleep(timing.period)

    def _probe_failed(self, kind: str, result: ProbeResult) -> None:
        self._host.record_event("Warning", "Unhealthy", f"{kind} probe failed: {result.message}", self.name)

    async def _kill_unhealthy(self, probe: str, timing: ProbeTiming, process: ContainerProcess) -> None:
        self._host.record_event(
            "Normal", "Killing", f"Container {self.name} failed {probe} probe, will be restarted", self.name
        )
        grace = (
            timing.termination_grace if timing.termination_grace is not None else self._host.grace_seconds()
        )
        await process.stop(grace)


def signal_number(value: int | str) -> int:
    """Accept 9, "9", "KILL" or "SIGKILL"."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    name = str(value).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise ValueError(
            f"unknown signal {value!r}; use a number or a name such as SIGTERM or KILL"
        ) from None
