"""Process identities: stable for one process whatever the clock does, different for another process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from localcluster import procid


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_identity_is_stable_when_the_boot_time_clock_drifts(child, monkeypatch):
    recorded = procid.identity(child.pid)
    assert recorded is not None and recorded.startswith("ticks:")
    drifted = psutil.Process(child.pid).create_time() + 1.0
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: drifted)
    assert procid.same_process(child.pid, recorded)


def test_legacy_create_time_records_allow_a_drift(child):
    created = psutil.Process(child.pid).create_time()
    assert procid.same_process(child.pid, f"{created + 0.9!r}")
    assert not procid.same_process(child.pid, f"{created - 3600!r}")


def test_another_process_with_the_pid_is_not_the_same(child):
    recorded = procid.identity(child.pid)
    assert recorded is not None
    child.kill()
    child.wait()
    assert not procid.same_process(child.pid, recorded)
    ticks = int(recorded.removeprefix("ticks:"))
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            assert not procid.same_process(other.pid, f"ticks:{ticks - 1}")
            assert procid.same_process(other.pid, procid.identity(other.pid) or "")
        finally:
            other.kill()
    assert not procid.same_process(child.pid, "garbage")


def test_recorded_exec_sessions_are_killed_with_the_containers(tmp_path):
    from localcluster.kubelet import orphans

    container_dir = tmp_path / "ns_pod_uid" / "containers" / "main"
    container_dir.mkdir(parents=True)
    with subprocess.Popen(["sleep", "60"], start_new_session=True) as session:
        orphans.record(orphans.exec_pid_file(container_dir, session.pid), session.pid)
        assert orphans.live_process_groups(tmp_path) == [session.pid]
        assert orphans.kill_recorded(tmp_path) == 1
        assert session.wait(timeout=10) == -9
    assert not list(container_dir.iterdir())
