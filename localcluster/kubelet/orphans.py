"""Records of running container processes, so a kubelet that died without cleaning up can be cleaned up after.

Each running container's process group is recorded as ``<pid> <create time>`` in a file next to its root.
The create time guards against killing an unrelated process that happens to reuse the pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil

from localcluster.kubelet.podfs import PID_FILE


def record(pid_file: Path, pid: int) -> None:
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid} {created!r}\n")


def forget(pid_file: Path) -> None:
    pid_file.unlink(missing_ok=True)


def _recorded(pid_file: Path) -> tuple[int, float] | None:
    try:
        pid_text, created_text = pid_file.read_text().split()
        return int(pid_text), float(created_text)
    except (OSError, ValueError):
        return None


def live_process_groups(pods_dir: Path) -> list[int]:
    """Process groups recorded under ``pods_dir`` whose leader is still the process that was recorded."""
    groups: list[int] = []
    for pid_file in pods_dir.glob(f"*/containers/*/{PID_FILE}"):
        recorded = _recorded(pid_file)
        if recorded is None:
            continue
        pid, created = recorded
        with contextlib.suppress(psutil.Error):
            if psutil.Process(pid).create_time() == created:
                groups.append(pid)
    return groups


def kill_recorded(pods_dir: Path) -> int:
    """SIGKILL every recorded container process group that is still alive; returns how many were killed."""
    killed = 0
    for pgid in live_process_groups(pods_dir):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
            killed += 1
    for pid_file in pods_dir.glob(f"*/containers/*/{PID_FILE}"):
        forget(pid_file)
    return killed
