"""What runs inside each incarnation's process: a clean slate, then the ordinary runtime (`run_agent`).

Two ways in. A pod's first incarnation is a fresh interpreter, `python -m agent_runtime.pod_supervisor.child
ATTEMPT PARENT_PID`, started by the pod supervisor in a session of its own. Every later one is forked by the
forkserver (launcher.py) and calls `run_incarnation` with the forkserver's memory (the preloaded runtime), not
the pod supervisor's: no event loop, no sockets, no threads of its own. Light on imports either way: the
runtime is imported once the slate is clean (preloaded in the forkserver, so free there).
"""

import contextlib
import os
import signal
import sys

from agent_runtime.incarnation_env import ATTEMPT_ENV
from agent_runtime.pod_supervisor import linux


def _clean_slate(parent: int) -> None:
    # Its own session and process group: the pod supervisor signals the whole group, so whatever the agent
    # starts without a session of its own is stopped with it. (A spawned one already leads its session.)
    with contextlib.suppress(PermissionError):
        os.setsid()
    if linux.die_with_parent() and os.getppid() != parent:
        os._exit(1)  # the parent died before prctl: nobody would ever report this process
    # The forkserver ignores SIGINT and the pod supervisor blocks SIGTERM/SIGINT while starting processes:
    # start from the defaults every Python program expects. The runtime installs its handlers once it runs.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})


def _drop_the_forkserver_pipe() -> None:
    # Each forked process holds the forkserver's "alive" pipe, which keeps the forkserver (and so, through the
    # parent-death signal, this process) running after the pod supervisor is gone. An agent never starts
    # processes through the forkserver, so it drops the pipe. (A private attribute of multiprocessing, read
    # defensively: if it is ever renamed, only that clean-up after a killed pod supervisor is lost.)
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def run_incarnation(attempt: int, parent: int | None = None) -> None:
    """Run incarnation `attempt`; exits with the runtime's exit code. `parent`: the pod supervisor's pid when
    it started this interpreter itself; None in a process forked by the forkserver."""
    if parent is None:
        _clean_slate(os.getppid())
        _drop_the_forkserver_pipe()
    else:
        _clean_slate(parent)
    os.environ[ATTEMPT_ENV] = str(attempt)
    import asyncio

    from agent_runtime import logs
    from agent_runtime.runner import run_agent

    logs.configure()
    sys.exit(asyncio.run(run_agent()))


if __name__ == "__main__":
    run_incarnation(int(sys.argv[1]), int(sys.argv[2]))
