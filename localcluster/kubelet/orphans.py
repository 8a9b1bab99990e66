"""Records of running container processes, so a kubelet that died without cleaning up can be cleaned up after.

Each running container's process group is recorded as ``<pid> <identity>`` in a file next to its root (see
procid.py). The identity guards against killing an unrelated process that happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from localcluster import procid
from localcluster.kubelet.podfs import PID_FILE


def record(pid_file: Path, pid: int) -> None:
    recorded = procid.identity(pid)
    if recorded is None:
        return
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid} {recorded}\n")


def forget(pid_file: Path) -> None:
    pid_file.unlink(missing_ok=True)


def _recorded(pid_file: Path) -> tuple[int, str] | None:
    try:
        pid_text, recorded = pid_file.read_text().split()
        return int(pid_text), recorded
    except (OSError, ValueError):
        return None


def _pid_files(pods_dir: Path) -> list[Path]:
    """Containers' own processes, and the commands `kubectl exec` runs in them (``exec-<pid>.pid``)."""
    return [*pods_dir.glob(f"*/containers/*/{PID_FILE}"), *pods_dir.glob("*/containers/*/exec-*.pid")]


def exec_pid_file(container_dir: Path, pid: int) -> Path:
    return container_dir / f"exec-{pid}.pid"


def live_process_groups(pods_dir: Path) -> list[int]:
    """Process groups recorded under ``pods_dir`` whose leader is still the process that was recorded."""
    groups: list[int] = []
    for pid_file in _pid_files(pods_dir):
        recorded = _recorded(pid_file)
        if recorded is None:
            continue
        pid, identity = recorded
        if procid.same_process(pid, identity):
            groups.append(pid)
    return groups


def kill_recorded(pods_dir: Path) -> int:
    """SIGKILL every recorded container process group that is still alive; returns how many were killed."""
    killed = 0
    for pgid in live_process_groups(pods_dir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
    for pid_file in _pid_files(pods_dir):
        forget(pid_file)
    return killed
