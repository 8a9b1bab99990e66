"""Two Linux process controls (prctl) the pod supervisor and its incarnations rely on.

- The pod supervisor is a *child subreaper*: a process orphaned below it (a tool's subprocess whose
  incarnation died) is re-parented to it rather than to the host's init, so it can find and kill it. In a
  container it is PID 1 and gets orphans anyway; on the local cluster and in tests it is not.
- An incarnation asks for SIGKILL when its parent dies (the forkserver, which exits when the pod supervisor
  does), so no agent outlives a pod supervisor that was killed, where no PID namespace ends it.

Both are best effort outside Linux: the calls report failure and the caller logs it.
"""

import ctypes
import signal
from typing import Final

PR_SET_PDEATHSIG: Final = 1
PR_SET_CHILD_SUBREAPER: Final = 36


def _prctl(option: int, value: int) -> bool:
    try:
        # The process's own symbols include the C library's: no library search (find_library runs ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent() -> bool:
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
