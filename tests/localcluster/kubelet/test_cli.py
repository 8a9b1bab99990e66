"""`local up | status | down` as a user runs them: real processes, real kubectl, nothing left behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import psutil
import pytest

from localcluster.cli import PID_FILE, Instance

from .conftest import TOOLS_BIN

pytestmark = pytest.mark.cluster

SLEEP = ["--command", "--", "python", "-c", "import time; print('hi', flush=True); time.sleep(300)"]


def local(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localcluster", *args, "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=90,
    )


def kubectl(state: Path, *args: str) -> str:
    result = subprocess.run(
        [str(TOOLS_BIN / "kubectl"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(state / "kubeconfig"), "KUBECACHEDIR": str(state / "kubecache")},
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def daemon_of(state: Path) -> psutil.Process:
    instance = Instance.read(state)
    assert instance is not None, "no instance recorded"
    return psutil.Process(instance.pid)


def start_sleeper(state: Path, name: str) -> psutil.Process:
    """A running pod's process, found through the containerID the kubelet reports."""
    kubectl(state, "run", name, "--image=example/sleeper", "--restart=Never", *SLEEP)
    kubectl(state, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    container_id = kubectl(
        state, "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].containerID}"
    )
    return psutil.Process(int(container_id.rsplit("/", 1)[1]))


def test_up_status_down_leaves_no_process_behind(tmp_path):
    state = tmp_path / "state"
    up = local(state, "up", "--no-crds")
    assert up.returncode == 0, up.stderr
    assert f"export KUBECONFIG={state / 'kubeconfig'}" in up.stdout.splitlines()
    daemon = daemon_of(state)
    assert "Ready" in kubectl(state, "get", "nodes")
    pod = start_sleeper(state, "sleeper")

    again = local(state, "up", "--no-crds")
    assert again.returncode == 0 and "already runs" in again.stderr
    assert again.stdout == f"export KUBECONFIG={state / 'kubeconfig'}\n"

    status = local(state, "status")
    assert status.returncode == 0
    assert re.search(r"default/sleeper  Running  127\.\d+\.\d+\.\d+", status.stdout), status.stdout

    down = local(state, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not daemon.is_running()
    assert not pod.is_running()
    assert not (state / PID_FILE).exists()
    assert local(state, "status").returncode == 3

    # the store was kept, and `down` was a graceful node shutdown: the pod ended Failed and stays so
    assert local(state, "up", "--no-crds").returncode == 0
    try:
        shown = kubectl(state, "get", "pod", "sleeper", "-o", "jsonpath={.status.phase} {.status.reason}")
        assert shown == "Failed Terminated"
    finally:
        assert local(state, "down").returncode == 0


def forward_lines(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def test_foreground_stops_everything_on_ctrl_c(tmp_path):
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "localcluster", "up", "--foreground", "--no-crds", "--state-dir", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=forward_lines, args=(process.stdout, lines), daemon=True).start()
        line = ""
        while not line.startswith("export KUBECONFIG="):
            line = lines.get(timeout=60)
        pod = start_sleeper(state, "fg-sleeper")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert not pod.is_running()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_down_cleans_up_after_a_crashed_instance(tmp_path):
    state = tmp_path / "state"
    assert local(state, "up", "--no-crds").returncode == 0
    daemon = daemon_of(state)
    pod = start_sleeper(state, "orphan")
    daemon.kill()
    daemon.wait(timeout=10)
    assert pod.is_running()
    down = local(state, "down")
    assert "no local cluster was running" in down.stdout
    assert "killed 1 leftover pod process group(s)" in down.stdout
    pod.wait(timeout=5)
    assert not pod.is_running()


def test_down_stops_an_instance_whose_recorded_start_time_drifted(tmp_path):
    """An older pid file holds a float create time; the clock behind it may have moved by now."""
    state = tmp_path / "state"
    assert local(state, "up", "--no-crds").returncode == 0
    daemon = daemon_of(state)
    pod = start_sleeper(state, "drifted")
    record = json.loads((state / PID_FILE).read_text())
    del record["identity"]
    record["created"] = daemon.create_time() + 0.6  # what a re-read of /proc/stat's btime can give
    (state / PID_FILE).write_text(json.dumps(record))
    status = local(state, "status")
    assert status.returncode == 0, status.stdout
    down = local(state, "down")
    assert "local cluster stopped" in down.stdout, down.stdout
    assert not daemon.is_running()
    assert not pod.is_running()
    assert not (state / PID_FILE).exists()
