"""The pod supervisor process: `agent-runtime` (or `run`) with AGENT_CONTROL_PORT set.

Order matters for a fresh pod's start-up, which should cost little more than a single-process runtime's:

1. the least that must come first (settings, the control socket), then the first incarnation is started at
   once, in a fresh interpreter (launcher.py says why not from the forkserver);
2. the pod supervisor waits (at most FIRST_READY_WAIT_SECONDS) until that incarnation is ready before it loads
   its own HTTP stack (pydantic, Starlette, uvicorn: about a fifth of a second of CPU), so the incarnation's
   start has the machine to itself; the forkserver starts after that (serve.py). Until the control API
   serves, its socket already listens: a request waits in the backlog instead of being refused.

SIGTERM and SIGINT stay blocked until their handlers are in place, so a pod deleted during start-up still ends
through the normal path (stop the incarnation, report its exit). Imports are placed where they are needed.
"""

import contextlib
import os
import signal
import sys
import time
from typing import Final

from agent_runtime import exitcodes, listening
from agent_runtime.pod_supervisor import summary
from agent_runtime.pod_supervisor.launcher import Launcher, ProcessHandle
from agent_runtime.pod_supervisor.settings import Settings, SettingsError, from_env

_SHUTDOWN_SIGNALS: Final = {signal.SIGTERM, signal.SIGINT}
FIRST_READY_WAIT_SECONDS: Final = 1.0
FAILED: Final = "PodSupervisorFailed"


def _fail(code: int, reason: str, message: str) -> int:
    import logging

    logging.getLogger("agent_runtime.pod_supervisor").error("%s", message)
    summary.write({"exitCode": code, "reason": reason, "message": message})
    return code


def _wait_until_ready(first: ProcessHandle, settings: Settings) -> None:
    """Block until the first incarnation answers /readyz, exits, or the wait is over."""
    from agent_runtime.pod_supervisor.probe import http_status_blocking

    deadline = time.monotonic() + FIRST_READY_WAIT_SECONDS
    while first.is_alive() and time.monotonic() < deadline:
        # Held by the agent until it is ready (api.py), so Ready is seen at once rather than at the next poll.
        if http_status_blocking(settings.probe_host, settings.agent_port, "/readyz?wait=0.1", 0.2) == 200:
            return
        time.sleep(0.01)


def _launch_first(launcher: Launcher, attempt: int) -> ProcessHandle:
    try:
        return launcher.launch_fresh(attempt)
    except OSError:  # no pidfds in this kernel: the slower way, through the forkserver, still works
        return launcher.launch(attempt)


def main() -> int:
    """Run the pod supervisor until the container ends; returns the container's exit code."""
    started_at = time.monotonic()
    signal.pthread_sigmask(signal.SIG_BLOCK, _SHUTDOWN_SIGNALS)
    try:
        settings = from_env()
        control = listening.listen(settings.host, settings.control_port)
    except (SettingsError, OSError) as err:
        from agent_runtime import logs

        logs.configure()
        text = str(err) if isinstance(err, SettingsError) else f"cannot listen on the control port: {err}"
        return _fail(exitcodes.EXIT_CONFIG_INVALID, exitcodes.reason_for(exitcodes.EXIT_CONFIG_INVALID), text)
    launcher = Launcher()
    summary.clear()
    try:
        first = _launch_first(launcher, settings.first_attempt)
    except Exception as err:  # nothing runs yet: nothing to clean up
        from agent_runtime import logs

        logs.configure()
        message = f"cannot start incarnation {settings.first_attempt}: {type(err).__name__}: {err}"
        return _fail(exitcodes.EXIT_CRASH, FAILED, message)

    from agent_runtime import logs
    from agent_runtime.pod_supervisor import linux

    logs.configure()
    import logging

    log = logging.getLogger("agent_runtime.pod_supervisor")
    if not linux.become_subreaper():
        log.warning(
            "could not become a child subreaper: processes orphaned by an incarnation are not cleaned up"
        )
    _wait_until_ready(first, settings)
    try:
        import asyncio

        from agent_runtime.pod_supervisor.serve import serve

        return asyncio.run(serve(settings, launcher, first, control, _SHUTDOWN_SIGNALS, started_at))
    except Exception as err:
        log.critical("the pod supervisor failed: %s: %s", type(err).__name__, err, exc_info=err)
        code = _fail(exitcodes.EXIT_CRASH, FAILED, f"the pod supervisor failed: {type(err).__name__}: {err}")
        if first.pid is not None and first.exitcode is None:  # serve() kills the incarnation it knew of
            with contextlib.suppress(OSError):
                os.killpg(first.pid, signal.SIGKILL)
        sys.stderr.flush()
        # os._exit: a launch thread stuck on a broken forkserver would otherwise hold the interpreter's exit.
        os._exit(code)
