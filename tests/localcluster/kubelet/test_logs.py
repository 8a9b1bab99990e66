"""`kubectl logs` of restarted containers: one run per log, --previous, --timestamps (real kubectl)."""

from __future__ import annotations

import re
import subprocess
import textwrap

import pytest

from localcluster import logformat

from .conftest import TOOLS_BIN, ClusterHarness, eventually

pytestmark = pytest.mark.cluster

# First run: prints and fails. Second run: prints and stays up. The count lives in an emptyDir.
TWO_RUNS = """
    import os, sys, time
    path = "/scratch/runs"
    runs = int(open(path).read()) + 1 if os.path.exists(path) else 1
    open(path, "w").write(str(runs))
    print(f"run {runs}", flush=True)
    if runs == 1:
        sys.exit(1)
    time.sleep(300)
"""


def pod(name: str, script: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-c", textwrap.dedent(script)],
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }


def kubectl(cluster: ClusterHarness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS_BIN / "kubectl"), *args], capture_output=True, text=True, env=cluster.env, timeout=30
    )


def second_run_started(p) -> bool:
    statuses = p.status.container_statuses or []
    return bool(statuses) and statuses[0].restart_count == 1 and statuses[0].state.running is not None


def test_previous_and_current_runs_have_their_own_logs(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod("twice", TWO_RUNS))
    cluster.wait_for_pod(ns, "twice", second_run_started)
    # the second run may not have printed yet when it is reported running: only the file tells
    current = eventually(lambda: cluster.kubectl("logs", "-n", ns, "twice").stdout)
    assert current == "run 2\n"
    assert cluster.kubectl("logs", "-n", ns, "twice", "--previous").stdout == "run 1\n"
    stamped = cluster.kubectl("logs", "-n", ns, "twice", "--previous", "--timestamps").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z run 1\n", stamped), stamped


def test_previous_of_a_container_that_never_restarted_is_refused(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(
        ns, pod("once", "import time; print('up', flush=True); time.sleep(300)")
    )
    cluster.wait_for_pod(ns, "once", lambda p: p.status.phase == "Running")
    result = kubectl(cluster, "logs", "-n", ns, "once", "--previous")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "main" in pod "once" not found'
    )


def test_the_log_format_keeps_times_and_partial_lines(tmp_path):
    path = tmp_path / "main.log"
    with path.open("ab") as handle:
        writer = logformat.LogWriter(handle)
        writer.write(b"one\ntw")
        writer.write(b"o\nthree")
    data = path.read_bytes()
    assert logformat.plain_text(data) == b"one\ntwo\nthree"
    lines = list(logformat.lines(data))
    assert [line.text for line in lines] == [b"one", b"two", b"three"]
    assert [line.complete for line in lines] == [True, True, False]
    assert lines[1].time is not None and lines[1].time == lines[0].time  # "tw" was written with "one"
    follower = logformat.Follower(timestamps=True)
    streamed = follower.feed(data[:10]) + follower.feed(data[10:])
    assert re.fullmatch(rb"(\S+Z one\n)(\S+Z two\n)(\S+Z three)", streamed), streamed
    assert logformat.plain_text(b"written by hand\n") == b"written by hand\n"


def test_follow_with_timestamps_and_since(cluster: ClusterHarness):
    ns = cluster.namespace()
    script = "import time; print('a', flush=True); time.sleep(0.5); print('b', end='', flush=True)"
    manifest = pod("talks", script)
    manifest["spec"]["restartPolicy"] = "Never"
    cluster.core.create_namespaced_pod(ns, manifest)
    cluster.wait_for_pod(ns, "talks", lambda p: p.status.phase in ("Running", "Succeeded"))
    followed = cluster.kubectl("logs", "-f", "--timestamps", "-n", ns, "talks").stdout
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"
    assert re.fullmatch(rf"{stamp} a\n{stamp} b", followed), followed
    assert cluster.kubectl("logs", "--since=1h", "-n", ns, "talks").stdout == "a\nb"
    assert cluster.kubectl("logs", "--since-time=2999-01-01T00:00:00Z", "-n", ns, "talks").stdout == ""
