"""What runs inside each incarnation's process: a clean slate, then the ordinary runtime (`run_agent`).

The process is forked by multiprocessing's forkserver (see launcher.py), so it starts with the forkserver's
memory (the preloaded runtime), not the pod supervisor's: no event loop, no sockets, no threads of its own.
"""

import asyncio
import contextlib
import os
import signal
import sys
from multiprocessing import forkserver

from agent_runtime.incarnation_env import ATTEMPT_ENV
from agent_runtime.pod_supervisor import linux


def _clean_slate() -> None:
    # Its own session and process group: the pod supervisor signals the whole group, so whatever the agent
    # starts without a session of its own is stopped with it.
    os.setsid()
    parent = os.getppid()
    if linux.die_with_parent() and os.getppid() != parent:
        os._exit(1)  # the forkserver died between fork and prctl: nobody would ever report this process
    # The forkserver ignores SIGINT and the pod supervisor blocked SIGTERM/SIGINT while starting it: start
    # from the defaults every Python program expects. The runtime installs its own handlers once it runs.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    # Each forked process holds the forkserver's "alive" pipe, which keeps the forkserver (and so, through the
    # parent-death signal, this process) running after the pod supervisor is gone. An agent never starts
    # processes through the forkserver, so it drops the pipe. (A private attribute of multiprocessing, read
    # defensively: if it is ever renamed, only that clean-up after a killed pod supervisor is lost.)
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def run_incarnation(attempt: int) -> None:
    """The target of an incarnation's process; its exit code is the runtime's."""
    _clean_slate()
    os.environ[ATTEMPT_ENV] = str(attempt)
    # Imported here, not at the top: the pod supervisor imports this module to name the target, and must not
    # load the runtime itself. The forkserver has preloaded all of it (preload.py), so this costs nothing.
    from agent_runtime import logs
    from agent_runtime.runner import run_agent

    logs.configure()
    sys.exit(asyncio.run(run_agent()))
