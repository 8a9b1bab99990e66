"""Pods run as real local processes by the kubelet's runtime, without an API server."""

from __future__ import annotations

import contextlib
import signal
import textwrap
from pathlib import Path

import psutil

from localcluster import logformat
from localcluster.kubelet.pod import PodWorker

from .conftest import PodHarness, condition, container_status


def python(script: str) -> list[str]:
    return ["python", "-c", textwrap.dedent(script)]


def terminal(status) -> bool:
    return status["phase"] in ("Succeeded", "Failed")


def read(path: str) -> str:
    return Path(path).read_text()


def log_text(worker: PodWorker, container: str = "main") -> str:
    """The container's output in its current run, as the process wrote it."""
    path = worker.paths.log_path(container)
    return logformat.plain_text(path.read_bytes()).decode() if path.exists() else ""


async def test_pod_runs_to_completion_with_logs_and_termination_message(pods: PodHarness):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": python("""
                    import os
                    print("hello from", os.environ["HOSTNAME"], os.environ["POD_IP"], flush=True)
                    open("/dev/termination-log", "w").write("all done")
                """),
            }
        ]
    )
    status = await pods.until(worker, terminal)
    assert status["phase"] == "Succeeded"
    terminated = container_status(status)["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert terminated["reason"] == "Completed"
    assert terminated["message"] == "all done"
    assert status["podIP"] == worker.pod_ip
    assert status["hostIP"] == "127.0.0.1"
    assert condition(status, "Ready") == "False"
    assert condition(status, "PodScheduled") == "True"
    assert log_text(worker) == f"hello from {worker.name} {worker.pod_ip}\n"
    assert [r for r in pods.events.reasons() if r != "Killing"] == ["Pulled", "Created", "Started"]


async def test_failure_message_falls_back_to_the_log_tail(pods: PodHarness):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": python(
                    "import sys; print('first', flush=True); print('boom', file=sys.stderr); sys.exit(3)"
                ),
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ]
    )
    status = await pods.until(worker, terminal)
    assert status["phase"] == "Failed"
    terminated = container_status(status)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    assert terminated["message"] == "first\nboom"


async def test_a_child_holding_the_output_does_not_keep_the_container_alive(pods: PodHarness):
    """The container ends when its main process does; what it left in its group is killed with it."""
    script = """
        import subprocess, sys
        child = subprocess.Popen(["sleep", "300"])  # inherits the output pipe
        open("child.pid", "w").write(str(child.pid))
        print("left a child", flush=True)
        sys.exit(4)
    """
    worker = pods.start([{"name": "main", "image": "none", "command": python(script)}])
    status = await pods.until(worker, terminal)
    assert container_status(status)["state"]["terminated"]["exitCode"] == 4
    child = int((worker.paths.container_root("main") / "child.pid").read_text())
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(child).wait(timeout=10)  # killed with the group (raises TimeoutExpired if not)
    assert log_text(worker) == "left a child\n"


async def test_on_failure_restarts_until_success(pods: PodHarness):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": python("""
                    import pathlib, sys
                    marker = pathlib.Path("/scratch/ran")
                    if not marker.exists():
                        marker.write_text("1")
                        sys.exit(7)
                """),
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        restartPolicy="OnFailure",
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    status = await pods.until(worker, terminal)
    main = container_status(status)
    assert status["phase"] == "Succeeded"
    assert main["restartCount"] == 1
    assert main["lastState"]["terminated"]["exitCode"] == 7


async def test_crash_loop_backs_off_and_keeps_the_pod_running(pods: PodHarness):
    worker = pods.start(
        [{"name": "main", "image": "none", "command": ["python", "-c", "raise SystemExit(1)"]}],
        restartPolicy="Always",
    )
    status = await pods.until(worker, lambda s: container_status(s)["lastState"] != {})
    main = container_status(status)
    assert main["state"].get("waiting", {}).get("reason") in ("CrashLoopBackOff", None)
    assert main["lastState"]["terminated"]["exitCode"] == 1
    assert status["phase"] == "Running"
    status = await pods.until(worker, lambda s: container_status(s)["restartCount"] >= 3)
    assert "BackOff" in pods.events.reasons()


async def test_termination_sends_sigterm_then_sigkill_after_the_grace_period(pods: PodHarness):
    stubborn = python("""
        import signal, time
        signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
        print("ready", flush=True)
        time.sleep(60)
    """)
    polite = python("""
        import time
        print("ready", flush=True)
        time.sleep(60)
    """)
    worker = pods.start(
        [
            {"name": "stubborn", "image": "none", "command": stubborn},
            {"name": "polite", "image": "none", "command": polite},
        ],
        terminationGracePeriodSeconds=1,
    )
    await pods.until(worker, lambda s: all("running" in c["state"] for c in s["containerStatuses"]))
    await pods.until(worker, lambda s: "ready" in log_text(worker, "stubborn"))
    pids = [
        psutil.Process(int(c["containerID"].rsplit("/", 1)[1])) for c in worker.status()["containerStatuses"]
    ]
    await worker.terminate(1.0)
    status = worker.status()
    stubborn_state = container_status(status, "stubborn")["state"]["terminated"]
    polite_state = container_status(status, "polite")["state"]["terminated"]
    assert (stubborn_state["exitCode"], stubborn_state["signal"]) == (137, signal.SIGKILL)
    assert (polite_state["exitCode"], polite_state["reason"]) == (143, "Error")
    assert "ignoring SIGTERM" in log_text(worker, "stubborn")
    assert status["phase"] == "Failed"
    assert not any(p.is_running() for p in pids)


async def test_killing_with_a_signal_reports_like_a_kubelet(pods: PodHarness):
    worker = pods.start(
        [{"name": "main", "image": "none", "command": ["python", "-c", "import time; time.sleep(60)"]}]
    )
    await pods.until(worker, lambda s: "running" in container_status(s)["state"])
    assert worker.kill(signal.SIGKILL) == ["main"]
    status = await pods.until(worker, terminal)
    terminated = container_status(status)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"], terminated["signal"]) == (137, "Error", 9)
    assert status["phase"] == "Failed"


async def test_readiness_probe_gates_ready(pods: PodHarness):
    server = python("""
        import http.server, os, pathlib
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ready = pathlib.Path("/scratch/ready").exists()
                self.send_response(200 if ready else 503)
                self.end_headers()
            def log_message(self, *args):
                pass
        http.server.HTTPServer((os.environ["POD_IP"], 8080), Handler).serve_forever()
    """)
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": server,
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1},
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    status = await pods.until(worker, lambda s: "running" in container_status(s)["state"])
    assert condition(status, "Ready") == "False"
    await pods.until(worker, lambda s: any("statuscode: 503" in e[2] for e in pods.events.events))
    assert condition(worker.status(), "ContainersReady") == "False"
    (worker.paths.volume_dir("scratch") / "ready").write_text("yes")
    status = await pods.until(worker, lambda s: condition(s, "Ready") == "True", seconds=5)
    assert container_status(status)["ready"] is True
    assert condition(status, "ContainersReady") == "True"
    probe_failures = [message for _, reason, message, _ in pods.events.events if reason == "Unhealthy"]
    assert "Readiness probe failed: HTTP probe failed with statuscode: 503" in probe_failures


async def test_liveness_failure_restarts_the_container(pods: PodHarness):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": ["python", "-c", "import time; time.sleep(60)"],
                "livenessProbe": {
                    "exec": {"command": ["python", "-c", "raise SystemExit(1)"]},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                },
            }
        ],
        restartPolicy="Always",
        terminationGracePeriodSeconds=1,
    )
    status = await pods.until(worker, lambda s: container_status(s)["restartCount"] >= 1)
    assert container_status(status)["lastState"]["terminated"]["exitCode"] == 143
    assert any("failed liveness probe, will be restarted" in e[2] for e in pods.events.events)


async def test_configmap_volume_follows_updates_and_env_sees_objects(pods: PodHarness):
    pods.objects.configmaps[("ns1", "app-config")] = {"data": {"greeting": "hello"}}
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": python("""
                    import os, time
                    print(os.environ["GREETING"], os.environ["CONFIG"], flush=True)
                    time.sleep(60)
                """),
                "env": [
                    {
                        "name": "GREETING",
                        "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "greeting"}},
                    },
                    {"name": "CONFIG", "value": "/etc/app/greeting"},
                ],
                "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
            }
        ],
        volumes=[{"name": "config", "configMap": {"name": "app-config"}}],
    )
    await pods.until(worker, lambda s: "running" in container_status(s)["state"])
    await pods.until(worker, lambda s: log_text(worker) != "")
    greeting, config_path = log_text(worker).split()
    assert greeting == "hello"
    assert read(config_path) == "hello"
    pods.objects.configmaps[("ns1", "app-config")] = {"data": {"greeting": "bonjour"}}
    worker.inputs_changed()
    assert read(config_path) == "bonjour"


async def test_missing_secret_blocks_start_until_it_appears(pods: PodHarness):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": ["python", "-c", "import os; print(os.environ['TOKEN'])"],
                "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
            }
        ]
    )
    status = await pods.until(
        worker, lambda s: "waiting" in container_status(s)["state"] and s["phase"] == "Pending"
    )
    waiting = container_status(status)["state"]["waiting"]
    await pods.until(
        worker, lambda s: container_status(s)["state"]["waiting"]["reason"] == "CreateContainerConfigError"
    )
    assert waiting["reason"] in ("ContainerCreating", "CreateContainerConfigError")
    pods.objects.secrets[("ns1", "api")] = {"data": {"token": "czNjcmV0"}}
    worker.inputs_changed()
    await pods.until(worker, terminal)
    assert log_text(worker) == "s3cret\n"


async def test_unknown_image_without_command_cannot_be_pulled(pods: PodHarness):
    worker = pods.start([{"name": "main", "image": "nginx:1.27"}])
    status = await pods.until(
        worker, lambda s: container_status(s)["state"].get("waiting", {}).get("reason") == "ImagePullBackOff"
    )
    assert status["phase"] == "Pending"
    assert any(reason == "Failed" and "nginx:1.27" in message for _, reason, message, _ in pods.events.events)


async def test_missing_program_cannot_run(pods: PodHarness):
    worker = pods.start([{"name": "main", "image": "none", "command": ["definitely-not-a-program"]}])
    status = await pods.until(worker, terminal)
    terminated = container_status(status)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (128, "ContainerCannotRun")
    assert "executable file not found" in terminated["message"]


async def test_init_containers_run_first_and_in_order(pods: PodHarness):
    append = "import sys; open('/shared/order', 'a').write(sys.argv[1])"
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": ["python", "-c", append, "main"],
                "volumeMounts": mounts,
            }
        ],
        initContainers=[
            {
                "name": f"init{i}",
                "image": "none",
                "command": ["python", "-c", append, f"init{i}"],
                "volumeMounts": mounts,
            }
            for i in (1, 2)
        ],
        volumes=[{"name": "shared", "emptyDir": {}}],
    )
    status = await pods.until(worker, terminal)
    assert status["phase"] == "Succeeded"
    assert (worker.paths.volume_dir("shared") / "order").read_text() == "init1init2main"
    assert [c["state"]["terminated"]["reason"] for c in status["initContainerStatuses"]] == ["Completed"] * 2
    assert condition(status, "Initialized") == "True"


async def test_service_account_files_and_working_dir(pods: PodHarness, tmp_path):
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "workingDir": "/work/here",
                "command": python("""
                    import os
                    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
                    print(open(sa + "/namespace").read(), flush=True)
                    in_root = os.getcwd().startswith(os.environ["LOCALCLUSTER_ROOT"])
                    print(in_root, os.path.isdir("/work/here"))
                """),
            }
        ]
    )
    await pods.until(worker, terminal)
    # the working dir was created under the container root, not on the host
    assert log_text(worker).split() == ["ns1", "True", "False"]


async def test_startup_probe_holds_started_and_ready_until_it_passes(pods: PodHarness):
    exists = "import os, sys; sys.exit(not os.path.exists('/scratch/warm'))"
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": ["python", "-c", "import time; time.sleep(60)"],
                "startupProbe": {"exec": {"command": ["python", "-c", exists]}, "periodSeconds": 1},
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    status = await pods.until(worker, lambda s: "running" in container_status(s)["state"])
    assert (container_status(status)["started"], container_status(status)["ready"]) == (False, False)
    (worker.paths.volume_dir("scratch") / "warm").touch()
    status = await pods.until(worker, lambda s: container_status(s)["started"], seconds=5)
    assert container_status(status)["ready"] is True
    assert condition(status, "Ready") == "True"


async def test_pre_stop_hook_runs_before_sigterm(pods: PodHarness):
    hook = "open('/scratch/hook', 'w').write('ran')"
    worker = pods.start(
        [
            {
                "name": "main",
                "image": "none",
                "command": ["python", "-c", "import time; time.sleep(60)"],
                "lifecycle": {"preStop": {"exec": {"command": ["python", "-c", hook]}}},
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
            }
        ],
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    await pods.until(worker, lambda s: "running" in container_status(s)["state"])
    await worker.terminate(5)
    assert (worker.paths.volume_dir("scratch") / "hook").exists()
    assert container_status(worker.status())["state"]["terminated"]["exitCode"] == 143
