"""kubectl exec (-i, -it), attach, port-forward and cp against the process kubelet (real kubectl 1.35)."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import psutil
import pytest
from kubernetes import stream as k8s_stream

from .conftest import TOOLS_BIN, ClusterHarness

pytestmark = pytest.mark.cluster

HTTP_SERVER = """
    import http.server, os
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hello = f"hello from {os.environ['HOSTNAME']}".encode()
            body = (b"x" * 1_000_000) if self.path == "/big" else hello
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    http.server.HTTPServer((os.environ["POD_IP"], 8080), Hello).serve_forever()
"""
ECHO = """
    import sys
    for line in sys.stdin:
        print("got", line.strip(), flush=True)
        if line.strip() == "bye":
            break
"""


def kubectl(
    cluster: ClusterHarness, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS_BIN / "kubectl"), *args],
        input=input,
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=30,
    )


def start(cluster: ClusterHarness, name: str, script: str, **container: object) -> str:
    ns = cluster.namespace()
    pod = {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-u", "-c", textwrap.dedent(script)],
                    "env": [{"name": "GREETING", "value": "hello"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    **container,
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }
    cluster.core.create_namespaced_pod(ns, pod)
    cluster.wait_for_pod(
        ns, name, lambda p: bool(p.status.container_statuses) and p.status.container_statuses[0].ready
    )
    return ns


@pytest.fixture(scope="module")
def server_pod(cluster: ClusterHarness) -> str:
    # ready once it listens, so port-forward finds the port open
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    return start(cluster, "web", HTTP_SERVER, readinessProbe=probe)


def test_exec_runs_in_the_containers_process_environment(cluster: ClusterHarness, server_pod: str):
    script = 'echo "$GREETING $HOSTNAME"; pwd; cat /data/note 2>/dev/null || echo none; echo oops >&2; exit 3'
    result = kubectl(cluster, "exec", "-n", server_pod, "web", "--", "sh", "-c", script)
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "hello web"
    assert lines[1].endswith("/containers/main/root")  # the container's root is its working directory
    assert lines[2] == "none"
    assert "oops" in result.stderr and "command terminated with exit code 3" in result.stderr
    written = kubectl(cluster, "exec", "-n", server_pod, "web", "--", "sh", "-c", "echo kept > /data/note")
    assert written.returncode == 0  # /data is the pod's emptyDir, mapped as for the container's own paths
    assert kubectl(cluster, "exec", "-n", server_pod, "web", "--", "cat", "/data/note").stdout == "kept\n"


def test_exec_passes_stdin_and_reports_a_missing_program(cluster: ClusterHarness, server_pod: str):
    echoed = kubectl(cluster, "exec", "-i", "-n", server_pod, "web", "--", "cat", input="line 1\nline 2\n")
    assert echoed.returncode == 0 and echoed.stdout == "line 1\nline 2\n"
    missing = kubectl(cluster, "exec", "-n", server_pod, "web", "--", "no-such-program")
    assert missing.returncode == 1
    assert 'exec: "no-such-program": executable file not found in $PATH' in missing.stderr


def test_exec_with_a_terminal(cluster: ClusterHarness, server_pod: str):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            str(TOOLS_BIN / "kubectl"),
            "exec",
            "-it",
            "-n",
            server_pod,
            "web",
            "--",
            "sh",
            "-c",
            "tty; echo $TERM",
        ],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=cluster.env,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal is gone: kubectl exited
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=30) == 0
    assert re.match(rb"/dev/pts/\d+\r\nxterm\r\n", output), output


def test_port_forward_reaches_the_pod_port(cluster: ClusterHarness, server_pod: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(TOOLS_BIN / "kubectl"), "port-forward", "-n", server_pod, "pod/web", f"{local_port}:8080"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local_port} -> 8080")
        with urllib.request.urlopen(f"http://127.0.0.1:{local_port}/", timeout=10) as response:
            assert response.read() == b"hello from web"
        with urllib.request.urlopen(f"http://127.0.0.1:{local_port}/big", timeout=10) as response:
            assert response.read() == b"x" * 1_000_000
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_port_forward_to_a_closed_port_says_why(cluster: ClusterHarness, server_pod: str):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(TOOLS_BIN / "kubectl"), "port-forward", "-n", server_pod, "pod/web", f"{local_port}:9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{local_port}/", timeout=10)
        _, errors = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"an error occurred forwarding {local_port} -> 9: error forwarding port 9" in errors
    assert "connection refused" in errors


def test_cp_both_ways(cluster: ClusterHarness, server_pod: str, tmp_path: Path):
    source = tmp_path / "in.bin"
    source.write_bytes(os.urandom(200_000))
    assert kubectl(cluster, "cp", str(source), f"{server_pod}/web:copied.bin").returncode == 0
    back = tmp_path / "back.bin"
    assert kubectl(cluster, "cp", f"{server_pod}/web:copied.bin", str(back)).returncode == 0
    assert back.read_bytes() == source.read_bytes()


def test_attach_streams_output_and_stdin(cluster: ClusterHarness):
    ns = start(cluster, "echo", ECHO, stdin=True)
    attached = kubectl(cluster, "attach", "-i", "-n", ns, "echo", input="one\ntwo\nbye\n")
    assert attached.returncode == 0, attached.stderr
    assert attached.stdout == "got one\ngot two\ngot bye\n"


def test_attach_to_a_terminal_container_is_refused_with_the_reason(cluster: ClusterHarness):
    ns = start(cluster, "tty", "import time; time.sleep(300)", tty=True)
    refused = kubectl(cluster, "attach", "-n", ns, "tty")
    assert refused.returncode == 1
    assert "the process kubelet gives containers no terminal" in refused.stderr


def test_an_exec_session_ends_with_its_container_and_is_recorded_meanwhile(cluster: ClusterHarness):
    ns = start(cluster, "short", "import time; time.sleep(300)")
    session = subprocess.Popen(
        [str(TOOLS_BIN / "kubectl"), "exec", "-n", ns, "short", "--", "sh", "-c", "echo in; exec sleep 300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    try:
        assert session.stdout is not None and session.stdout.readline() == "in\n"
        pod = cluster.core.read_namespaced_pod("short", ns)
        container_dir = (
            cluster.cluster.state_dir / "pods" / f"{ns}_short_{pod.metadata.uid}" / "containers" / "main"
        )
        [recorded] = container_dir.glob("exec-*.pid")
        sleeper = psutil.Process(int(recorded.read_text().split()[0]))
        assert sleeper.cmdline()[:2] == ["sleep", "300"]
        cluster.cluster.kill_pod(ns, "short", "SIGKILL")
        assert session.wait(timeout=20) != 0  # the command died with its container
        sleeper.wait(timeout=10)
        assert not list(container_dir.glob("exec-*.pid"))
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()


def test_the_kubernetes_client_execs_over_v4(cluster: ClusterHarness, server_pod: str):
    session = k8s_stream.stream(
        cluster.core.connect_get_namespaced_pod_exec,
        "web",
        server_pod,
        command=["sh", "-c", "echo $GREETING; echo e >&2; exit 2"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    session.run_forever(timeout=20)
    assert (session.read_stdout(), session.read_stderr(), session.returncode) == ("hello\n", "e\n", 2)
