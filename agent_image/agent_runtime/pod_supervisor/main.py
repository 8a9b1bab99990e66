"""The pod supervisor process: `agent-runtime` (or `run`) with AGENT_CONTROL_PORT set.

Order matters for a fresh pod's start-up: the first incarnation is asked for before this process imports
its own HTTP stack, so the forkserver preloads the runtime on one core while this process loads pydantic,
Starlette and uvicorn on the other. SIGTERM and SIGINT stay blocked until their handlers are in place, so a
pod deleted during start-up still ends through the normal path (stop the incarnation, report its exit).
"""

import os
import signal
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final

from agent_runtime import exitcodes, listening
from agent_runtime.pod_supervisor import linux, summary
from agent_runtime.pod_supervisor.launcher import Incarnation, Launcher
from agent_runtime.pod_supervisor.settings import SettingsError, from_env

_SHUTDOWN_SIGNALS: Final = {signal.SIGTERM, signal.SIGINT}
FAILED: Final = "PodSupervisorFailed"


def _log_to_stderr() -> None:
    from agent_runtime import logs

    logs.configure()


def _fail(code: int, reason: str, message: str) -> int:
    import logging

    logging.getLogger("agent_runtime.pod_supervisor").error("%s", message)
    summary.write({"exitCode": code, "reason": reason, "message": message})
    return code


def main() -> int:
    """Run the pod supervisor until the container ends; returns the container's exit code."""
    started_at = time.monotonic()
    signal.pthread_sigmask(signal.SIG_BLOCK, _SHUTDOWN_SIGNALS)
    try:
        settings = from_env()
        control = listening.listen(settings.host, settings.control_port)
    except (SettingsError, OSError) as err:
        _log_to_stderr()
        text = str(err) if isinstance(err, SettingsError) else f"cannot listen on the control port: {err}"
        return _fail(exitcodes.EXIT_CONFIG_INVALID, exitcodes.reason_for(exitcodes.EXIT_CONFIG_INVALID), text)
    subreaper = linux.become_subreaper()
    launcher = Launcher()
    summary.clear()
    launcher.start_server()
    launching = ThreadPoolExecutor(max_workers=1, thread_name_prefix="first-launch")
    first = launching.submit(launcher.launch, settings.first_attempt)
    launching.shutdown(wait=False)
    _log_to_stderr()
    import logging

    log = logging.getLogger("agent_runtime.pod_supervisor")
    if not subreaper:
        log.warning(
            "could not become a child subreaper: processes orphaned by an incarnation are not cleaned up"
        )
    try:
        import asyncio

        from agent_runtime.pod_supervisor.serve import serve

        return asyncio.run(serve(settings, launcher, first, control, _SHUTDOWN_SIGNALS, started_at))
    except Exception as err:
        log.critical("the pod supervisor failed: %s: %s", type(err).__name__, err, exc_info=err)
        code = _fail(exitcodes.EXIT_CRASH, FAILED, f"the pod supervisor failed: {type(err).__name__}: {err}")
        _kill_incarnation(first)
        sys.stderr.flush()
        # os._exit: a launch thread stuck on a broken forkserver would otherwise hold the interpreter's exit.
        os._exit(code)


def _kill_incarnation(first: "Future[Incarnation]") -> None:
    # Best effort: the incarnation the pod supervisor can still name. A later one, if any, dies through its
    # parent-death signal once the forkserver notices this process is gone.
    if first.done() and first.exception() is None:
        first.result().signal_group(signal.SIGKILL)
