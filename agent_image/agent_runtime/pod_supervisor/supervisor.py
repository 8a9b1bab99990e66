"""The pod supervisor's state machine: one incarnation at a time, started and stopped on request only.

Phases follow incarnation_protocol: Starting (the process runs, /readyz has not answered 200) -> Ready ->
Exited, with Stopping while a stop (a stop request, a newer start, or the pod's own SIGTERM) is under way.
Every change is published to the watchers. Nothing here restarts an incarnation by itself.
"""

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final

from agent_runtime.incarnation_protocol import MAX_EXITS, IncarnationState, Phase
from agent_runtime.pod_supervisor import orphans, summary
from agent_runtime.pod_supervisor.exits import Ended, ended, rfc3339
from agent_runtime.pod_supervisor.feed import Feed
from agent_runtime.pod_supervisor.incarnation import ExitStatus, Incarnation
from agent_runtime.pod_supervisor.launcher import Launcher, ProcessHandle
from agent_runtime.pod_supervisor.probe import http_status
from agent_runtime.pod_supervisor.settings import Settings

log = logging.getLogger("agent_runtime.pod_supervisor")

READY_POLL_SECONDS: Final = 0.01
PROBE_TIMEOUT_SECONDS: Final = 1.0
READY_PROBE: Final = "/readyz?wait=0.5"
"""The agent holds this probe's answer until it is ready (or stopping), up to 0.5 s (within the probe's
timeout): the Ready phase follows the agent's readiness at once, not at the next poll 10 ms later, and a
start costs one or two probes, not one every 10 ms. Polled again after a refused connection (the agent has
not bound its port yet) or a 503."""
NOT_STARTED: Final = "NotStarted"


@dataclass(frozen=True)
class Reply:
    """The answer to a control request: the HTTP status, the state after it, and why, when refused."""

    status: int
    state: IncarnationState
    message: str = ""


@dataclass
class _StopOrder:
    requested: bool  # by the operator (a stop or a newer start), not the pod's own SIGTERM
    deadline: float | None  # loop time of the SIGKILL; None: no deadline of ours (the kubelet's applies)
    grace: float | None
    timer: asyncio.TimerHandle | None = None
    killed_by_deadline: bool = False


class PodSupervisorFailedError(Exception):
    """The pod supervisor cannot go on (it could not start a process): the container must end."""


class PodSupervisor:
    def __init__(self, launcher: Launcher, settings: Settings) -> None:
        self._launcher = launcher
        self._settings = settings
        self._attempt = settings.first_attempt
        self._phase: Phase = "Exited"
        self._pid: int | None = None
        self._started_at = rfc3339()
        self._ready_at: str | None = None
        self._exits: deque[Ended] = deque(maxlen=MAX_EXITS)
        self._active = False  # an incarnation is being launched or runs
        self._running: Incarnation | None = None
        self._stop_order: _StopOrder | None = None
        self._pending: int | None = None  # a start that waits for the current incarnation to stop
        self._cancelled: int | None = None  # a pending start that a stop cancelled
        self._ending: str | None = None  # why the container is ending: released / terminating
        self._tasks: set[asyncio.Task[None]] = set()
        self.ended: asyncio.Future[Ended | None] = asyncio.get_running_loop().create_future()
        self.feed: Feed[IncarnationState] = Feed(self.state())

    # ----- the state ---------------------------------------------------------------------------------

    def state(self) -> IncarnationState:
        return IncarnationState(
            attempt=self._attempt,
            phase=self._phase,
            pid=self._pid,
            started_at=self._started_at,
            ready_at=self._ready_at,
            exits=tuple(done.record for done in self._exits),
        )

    def _publish(self) -> None:
        self.feed.publish(self.state())

    @property
    def running_pid(self) -> int | None:
        return self._running.pid if self._running is not None else None

    @property
    def current_pid(self) -> int | None:
        """The current incarnation's pid, from its start until its exit is recorded."""
        return self._pid

    # ----- requests ----------------------------------------------------------------------------------

    def begin(self, attempt: int, launched: ProcessHandle | None = None, since: float | None = None) -> None:
        """Start incarnation `attempt` now. `launched`: its process, already started (the pod's first, at
        monotonic time `since`, when the pod supervisor started)."""
        self._attempt = attempt
        self._phase = "Starting"
        self._pid = None
        self._started_at = rfc3339()
        self._ready_at = None
        self._active = True
        self._stop_order = None
        if launched is not None:
            self._pid = launched.pid
        if launched is None:
            summary.clear()
            launch: Awaitable[ProcessHandle] = asyncio.to_thread(self._launcher.launch, attempt)
        else:
            launch = asyncio.sleep(0, launched)
        self._publish()
        self._spawn(self._lifecycle(attempt, launch, time.monotonic() if since is None else since))

    def start(self, attempt: int, grace_seconds: float) -> Reply:
        if self._ending:
            return self._refuse(f"the pod supervisor is ending ({self._ending}): it starts nothing more")
        newest = self._newest()
        if attempt == newest:
            return Reply(200, self.state(), f"attempt {attempt} is already the current incarnation")
        if attempt < newest:
            return self._refuse(f"attempt {attempt} is older than the current attempt {newest}")
        if self._active:
            self._pending = attempt
            self._order_stop(grace_seconds, requested=True, why=f"attempt {attempt} is to start")
        else:
            self.begin(attempt)
        return Reply(202, self.state())

    def stop(self, attempt: int, grace_seconds: float) -> Reply:
        newest = self._newest()
        if attempt > newest:
            return self._refuse(f"attempt {attempt} was never started; the current attempt is {newest}")
        if attempt == self._pending:
            # It waits for the running incarnation to stop: it will not start. So that every attempt the
            # operator started reports one exit, it is recorded as exited (NotStarted) once that one has.
            self._pending = None
            self._cancelled = attempt
            log.info(
                "attempt %d will not start: stopped while attempt %d was stopping", attempt, self._attempt
            )
            return Reply(202, self.state())
        if attempt != self._attempt or not self._active:
            return Reply(200, self.state(), f"attempt {attempt} is not running")
        self._order_stop(grace_seconds, requested=True, why="stop requested")
        return Reply(202, self.state())

    def release(self, attempt: int) -> Reply:
        if self._ending:
            return self._refuse(f"the pod supervisor is already ending ({self._ending})")
        done = self._exits[-1] if self._exits else None
        if attempt != self._attempt or self._active or done is None or done.record.attempt != attempt:
            return self._refuse(f"attempt {attempt} is not the current incarnation, exited")
        self._ending = "released"
        log.info(
            "incarnation %d released: ending the container with its exit code %d",
            attempt,
            done.record.exit_code,
        )
        self._finish(done)
        return Reply(200, self.state())

    def terminate(self) -> None:
        """The pod is being deleted (SIGTERM): stop the incarnation, then end with its exit."""
        if self._ending:
            return
        self._ending = "terminating"
        self._pending = None
        if self._active:
            self._order_stop(None, requested=False, why="the pod is terminating")
        else:
            log.info("terminating with nothing running")
            self._finish(self._exits[-1] if self._exits else None)

    def _newest(self) -> int:
        """The newest attempt asked for: a start waiting for the current one to stop counts."""
        return max(self._attempt, self._pending or 0, self._cancelled or 0)

    def _refuse(self, message: str) -> Reply:
        return Reply(409, self.state(), message)

    # ----- stopping ----------------------------------------------------------------------------------

    def _order_stop(self, grace: float | None, requested: bool, why: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if grace is None else loop.time() + grace
        order = self._stop_order
        if order is None:
            order = self._stop_order = _StopOrder(requested, deadline, grace)
            self._phase = "Stopping"
            after = (
                "no deadline (the kubelet's grace period applies)"
                if grace is None
                else f"SIGKILL after {grace:g}s"
            )
            log.info(
                "stopping incarnation %d (%s): SIGTERM to its process group, %s", self._attempt, why, after
            )
            self._publish()
            if self._running is not None:
                self._signal_stop(order)
            return
        order.requested = order.requested or requested
        if deadline is not None and (order.deadline is None or deadline < order.deadline):
            order.deadline, order.grace = deadline, grace  # a shorter grace wins, as for a pod deletion
            if self._running is not None:
                self._arm_deadline(order)

    def _signal_stop(self, order: _StopOrder) -> None:
        assert self._running is not None
        if order.grace == 0:
            self._kill(order)
            return
        self._running.signal_group(signal.SIGTERM)
        self._arm_deadline(order)

    def _arm_deadline(self, order: _StopOrder) -> None:
        if order.timer is not None:
            order.timer.cancel()
        if order.deadline is not None:
            order.timer = asyncio.get_running_loop().call_at(order.deadline, self._kill, order)

    def _kill(self, order: _StopOrder) -> None:
        if self._running is not None and self._stop_order is order:
            order.killed_by_deadline = True
            log.info("incarnation %d: SIGKILL to its process group", self._attempt)
            self._running.signal_group(signal.SIGKILL)

    # ----- one incarnation's life --------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Task[None]") -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None and not self.ended.done():
            self.ended.set_exception(error)  # main() ends the container, naming the error

    async def _lifecycle(self, attempt: int, launch: Awaitable[ProcessHandle], requested_at: float) -> None:
        try:
            incarnation = Incarnation(attempt, await launch)
        except Exception as err:
            raise PodSupervisorFailedError(f"cannot start incarnation {attempt}: {err}") from err
        self._running, self._pid = incarnation, incarnation.pid
        log.info("incarnation %d started: pid %d", attempt, incarnation.pid)
        self._publish()
        if self._stop_order is not None:  # asked to stop while it was being forked
            self._signal_stop(self._stop_order)
        ready = asyncio.create_task(self._await_ready(incarnation, requested_at))
        try:
            status = await incarnation.wait()
        finally:
            ready.cancel()
        self._running = None  # from here on nothing signals its pid, which the system may reuse
        await self._clean_up_after(incarnation)
        self._record_exit(attempt, status)

    async def _await_ready(self, incarnation: Incarnation, requested_at: float) -> None:
        settings = self._settings
        while self._phase == "Starting" and self._running is incarnation:
            code = await http_status(
                settings.probe_host, settings.agent_port, READY_PROBE, PROBE_TIMEOUT_SECONDS
            )
            if code == 200 and self._phase == "Starting" and self._running is incarnation:
                self._phase, self._ready_at = "Ready", rfc3339()
                elapsed = (time.monotonic() - requested_at) * 1000
                log.info("incarnation %d ready %.0f ms after it was asked for", incarnation.attempt, elapsed)
                self._publish()
                return
            await asyncio.sleep(READY_POLL_SECONDS)

    async def _clean_up_after(self, incarnation: Incarnation) -> None:
        order = self._stop_order
        if order is not None and order.timer is not None:
            order.timer.cancel()
        # What is left in its group dies with it, as in a container; then the orphans from other sessions.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(incarnation.pid, signal.SIGKILL)
        await orphans.sweep(lambda: (), log.info)

    def _record_exit(self, attempt: int, status: ExitStatus) -> None:
        order = self._stop_order
        note = ""
        if order is not None and order.killed_by_deadline and order.grace:
            note = f" after the {order.grace:g}s grace period"
        done = ended(
            attempt,
            status,
            summary.read(),
            stopped=order is not None and order.requested,
            note=note,
            terminating=order is not None and self._ending == "terminating",
        )
        self._exits.append(done)
        self._running, self._pid, self._active, self._phase = None, None, False, "Exited"
        record = done.record
        stopped = " (stopped on request)" if record.stopped else ""
        log.info(
            "incarnation %d ended: exit %d (%s): %s%s",
            attempt,
            record.exit_code,
            record.reason,
            record.message,
            stopped,
        )
        self._publish()
        if self._ending == "terminating":
            self._finish(done)
            return
        if self._cancelled is not None:
            self._record_not_started(self._cancelled)
        if self._pending is not None:
            attempt, self._pending = self._pending, None
            self.begin(attempt)

    def _record_not_started(self, attempt: int) -> None:
        self._cancelled = None
        self._attempt, self._started_at, self._ready_at = attempt, rfc3339(), None
        status = ExitStatus(0)
        written = {"exitCode": 0, "reason": NOT_STARTED, "message": "stopped before it started"}
        done = ended(attempt, status, written, stopped=True)
        self._exits.append(done)
        self._publish()

    def _finish(self, done: Ended | None) -> None:
        if not self.ended.done():
            self.ended.set_result(done)

    # ----- health ------------------------------------------------------------------------------------

    async def healthy(self) -> tuple[bool, str]:
        """Healthy while nothing runs (waiting for the operator is fine) or its /healthz answers 200."""
        if self._running is None:
            return True, f"no incarnation running (attempt {self._attempt} {self._phase.lower()})"
        settings = self._settings
        code = await http_status(settings.probe_host, settings.agent_port, "/healthz", PROBE_TIMEOUT_SECONDS)
        if code == 200:
            return True, f"incarnation {self._attempt} is healthy"
        answer = f"HTTP {code}" if code else "no answer within 1 s"
        return False, f"incarnation {self._attempt} is not healthy: /healthz gave {answer}"
