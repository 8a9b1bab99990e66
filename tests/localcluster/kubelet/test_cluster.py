"""End to end: pods created through the API (kubernetes client, kubectl) run as local processes."""

from __future__ import annotations

import json
import signal
import textwrap
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from localcluster import logformat

from .conftest import ClusterHarness, eventually

pytestmark = pytest.mark.cluster

GATE = "/scratch/go"


def pod_manifest(name: str, script: str, **spec) -> dict:
    """A pod running a Python script, with an emptyDir at /scratch the test can reach from the host."""
    container = {
        "name": "main",
        "image": "python:3.11",
        "command": ["python", "-c", textwrap.dedent(script)],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        **spec.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **spec.pop("metadata", {})},
        "spec": {
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [{"name": "scratch", "emptyDir": {}}, *spec.pop("volumes", [])],
            **spec,
        },
    }


def scratch(cluster: ClusterHarness, pod) -> Path:
    """The host directory of a pod's /scratch volume."""
    directory = f"{pod.metadata.namespace}_{pod.metadata.name}_{pod.metadata.uid}"
    return cluster.cluster.state_dir / "pods" / directory / "volumes" / "scratch"


def main_state(pod):
    return pod.status.container_statuses[0].state if pod.status.container_statuses else None


def running(pod) -> bool:
    state = main_state(pod)
    return state is not None and state.running is not None


def terminated(pod) -> bool:
    state = main_state(pod)
    return state is not None and state.terminated is not None


def process_of(pod) -> psutil.Process:
    return psutil.Process(int(pod.status.container_statuses[0].container_id.rsplit("/", 1)[1]))


GATED = f"""
    import os, time
    while not os.path.exists("{GATE}"):
        time.sleep(0.05)
"""

SLEEPER = """
    import os, time
    print("up on", os.environ["POD_IP"], flush=True)
    time.sleep(120)
"""


def test_pod_reaches_running_exits_and_reports_exit_code_and_message(cluster: ClusterHarness):
    ns = cluster.namespace()
    script = (
        GATED
        + """
    open("/dev/termination-log", "w").write("finished: 42 items")
    raise SystemExit(3)
    """
    )
    cluster.core.create_namespaced_pod(ns, pod_manifest("worker", script))
    pod = cluster.wait_for_pod(ns, "worker", running)
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip.startswith("127.") and pod.status.pod_ip != "127.0.0.1"
    assert pod.status.start_time is not None
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    (scratch(cluster, pod) / "go").touch()
    pod = cluster.wait_for_pod(ns, "worker", lambda p: p.status.phase == "Failed")
    state = main_state(pod).terminated
    assert (state.exit_code, state.reason, state.message) == (3, "Error", "finished: 42 items")
    assert state.finished_at >= state.started_at
    events = cluster.core.list_namespaced_event(ns, field_selector="involvedObject.name=worker").items
    assert {"Scheduled", "Pulled", "Created", "Started"} <= {e.reason for e in events}


def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(cluster: ClusterHarness):
    ns = cluster.namespace()
    script = """
    import signal, time
    signal.signal(signal.SIGTERM, lambda *_: print("got SIGTERM, ignoring it", flush=True))
    print("started", flush=True)
    time.sleep(120)
    """
    cluster.core.create_namespaced_pod(ns, pod_manifest("stubborn", script, terminationGracePeriodSeconds=2))
    pod = cluster.wait_for_pod(ns, "stubborn", running)
    # Running means started, not yet past installing its SIGTERM handler: its log says when it is
    eventually(lambda: "started" in cluster.core.read_namespaced_pod_log("stubborn", ns))
    process = process_of(pod)
    begun = time.monotonic()
    cluster.core.delete_namespaced_pod("stubborn", ns)
    deleting = cluster.wait_for_pod(ns, "stubborn", lambda p: p.metadata.deletion_timestamp is not None)
    assert deleting.metadata.deletion_grace_period_seconds == 2
    final = cluster.wait_for_pod(ns, "stubborn", terminated)
    cluster.wait_for_deletion(ns, "stubborn")
    elapsed = time.monotonic() - begun
    state = main_state(final).terminated
    assert (state.exit_code, state.reason) == (137, "Error")
    assert 2 <= elapsed < 6
    assert not process.is_running()


def test_graceful_process_exits_on_sigterm_with_143(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_manifest("polite", SLEEPER))
    process = process_of(cluster.wait_for_pod(ns, "polite", running))
    begun = time.monotonic()
    cluster.core.delete_namespaced_pod("polite", ns)
    final = cluster.wait_for_pod(ns, "polite", terminated)
    assert main_state(final).terminated.exit_code == 143
    cluster.wait_for_deletion(ns, "polite")
    assert time.monotonic() - begun < 5
    assert not process.is_running()


def test_configmap_volume_update_reaches_the_file(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_config_map(
        ns, {"metadata": {"name": "settings"}, "data": {"level": "one"}}
    )
    script = """
    import sys, time
    path, seen = sys.argv[1], None
    while True:
        value = open(path).read()
        if value != seen:
            print(value, flush=True)
            seen = value
        time.sleep(0.05)
    """
    manifest = pod_manifest(
        "reader",
        script,
        container={
            "args": ["/etc/settings/level"],
            "volumeMounts": [{"name": "settings", "mountPath": "/etc/settings"}],
        },
        volumes=[{"name": "settings", "configMap": {"name": "settings"}}],
    )
    cluster.core.create_namespaced_pod(ns, manifest)
    pod = cluster.wait_for_pod(ns, "reader", running)
    log = scratch(cluster, pod).parent.parent / "main.log"

    def output() -> str:
        return logformat.plain_text(log.read_bytes()).decode() if log.exists() else ""

    eventually(lambda: "one" in output())
    changed = time.monotonic()
    cluster.core.patch_namespaced_config_map("settings", ns, {"data": {"level": "two"}})
    eventually(lambda: "two" in output(), seconds=5)
    assert time.monotonic() - changed < 1.5
    assert output().split() == ["one", "two"]


def test_readiness_probe_gates_the_ready_condition(cluster: ClusterHarness):
    ns = cluster.namespace()
    probe = {
        "exec": {"command": ["python", "-c", f"import os, sys; sys.exit(not os.path.exists('{GATE}'))"]},
        "periodSeconds": 1,
    }
    cluster.core.create_namespaced_pod(
        ns, pod_manifest("gated", SLEEPER, container={"readinessProbe": probe})
    )
    pod = cluster.wait_for_pod(ns, "gated", running)
    conditions = {c.type: c for c in pod.status.conditions}
    assert conditions["Ready"].status == "False"
    assert conditions["ContainersReady"].reason == "ContainersNotReady"
    (scratch(cluster, pod) / "go").touch()
    ready = cluster.wait_for_pod(
        ns, "gated", lambda p: any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
    )
    assert ready.status.container_statuses[0].ready is True


def test_garbage_collection_deletes_owned_pods_and_kills_their_processes(cluster: ClusterHarness):
    ns = cluster.namespace()
    owner = cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for name in ("owned-a", "owned-b"):
        cluster.core.create_namespaced_pod(
            ns, pod_manifest(name, SLEEPER, metadata={"ownerReferences": [reference]})
        )
    processes = [process_of(cluster.wait_for_pod(ns, name, running)) for name in ("owned-a", "owned-b")]
    cluster.core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")
    for name in ("owned-a", "owned-b"):
        cluster.wait_for_deletion(ns, name)
    assert not any(process.is_running() for process in processes)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, 137), (signal.SIGTERM, 143)])
def test_kill_pod_reports_exit_codes_like_a_kubelet(cluster: ClusterHarness, sig, code):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_manifest("victim", SLEEPER))
    cluster.wait_for_pod(ns, "victim", running)
    assert cluster.cluster.kill_pod(ns, "victim", sig) == ["main"]
    pod = cluster.wait_for_pod(ns, "victim", terminated)
    state = main_state(pod).terminated
    assert (state.exit_code, state.reason, state.signal) == (code, "Error", sig)
    assert pod.status.phase == "Failed"


def test_kill_over_the_admin_endpoint_restarts_per_policy(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_manifest("phoenix", SLEEPER, restartPolicy="Always"))
    cluster.wait_for_pod(ns, "phoenix", running)
    request = urllib.request.Request(
        f"{cluster.cluster.url}/localcluster/v1/kubelet/kill",
        data=json.dumps({"namespace": ns, "name": "phoenix", "signal": "KILL"}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response) == {"signal": 9, "containers": ["main"]}
    pod = cluster.wait_for_pod(
        ns, "phoenix", lambda p: running(p) and p.status.container_statuses[0].restart_count == 1
    )
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 137
    missing = urllib.request.Request(
        f"{cluster.cluster.url}/localcluster/v1/kubelet/kill",
        data=json.dumps({"namespace": ns, "name": "nobody"}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(missing)
    assert error.value.code == 404


def test_kubectl_logs_of_a_running_pod(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_manifest("chatty", SLEEPER))
    pod = cluster.wait_for_pod(ns, "chatty", running)
    output = eventually(lambda: cluster.kubectl("logs", "-n", ns, "chatty").stdout)
    assert output == f"up on {pod.status.pod_ip}\n"


def test_paused_kubelet_stops_reporting_until_resumed(cluster: ClusterHarness):
    ns = cluster.namespace()
    cluster.core.create_namespaced_pod(ns, pod_manifest("quiet", SLEEPER))
    cluster.wait_for_pod(ns, "quiet", running)
    cluster.cluster.pause_kubelet()
    try:
        cluster.cluster.kill_pod(ns, "quiet", signal.SIGKILL)
        kubelet = cluster.cluster.cluster.kubelet

        def failed_locally() -> bool:
            pods = cluster.cluster.call(kubelet.describe)["pods"]
            return any(p["name"] == "quiet" and p["phase"] == "Failed" for p in pods)

        eventually(failed_locally)
        assert cluster.core.read_namespaced_pod("quiet", ns).status.phase == "Running"
    finally:
        cluster.cluster.resume_kubelet()
    pod = cluster.wait_for_pod(ns, "quiet", lambda p: p.status.phase == "Failed")
    assert main_state(pod).terminated.exit_code == 137


def test_pods_reach_each_other_on_their_own_addresses_with_the_same_port(cluster: ClusterHarness):
    ns = cluster.namespace()
    server = """
    import http.server, os
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(os.environ["HOSTNAME"].encode())
        def log_message(self, *args):
            pass
    http.server.HTTPServer((os.environ["POD_IP"], 8080), Hello).serve_forever()
    """
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    for name in ("web-a", "web-b"):
        cluster.core.create_namespaced_pod(
            ns, pod_manifest(name, server, container={"readinessProbe": probe})
        )
    for name in ("web-a", "web-b"):
        pod = cluster.wait_for_pod(
            ns, name, lambda p: p.status.container_statuses and p.status.container_statuses[0].ready
        )
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/") as response:
            assert response.read().decode() == name


def test_kubelet_keeps_working_after_dropped_watches_and_failed_status_writes(cluster: ClusterHarness):
    ns = cluster.namespace()
    assert cluster.cluster.drop_watches() >= 3  # at least the kubelet's pods, configmaps and secrets watches
    cluster.cluster.fail_next("PATCH", rf"/namespaces/{ns}/pods/[^/]+/status", 500, count=3)
    cluster.core.create_namespaced_pod(ns, pod_manifest("survivor", SLEEPER))
    pod = cluster.wait_for_pod(ns, "survivor", running)
    assert pod.status.pod_ip.startswith("127.") and pod.status.pod_ip != "127.0.0.1"
    assert cluster.cluster.call(cluster.cluster.cluster.faults.describe)["failures"] == []


def test_install_crds_serves_them(cluster: ClusterHarness, tmp_path):
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.dev"},
        "spec": {
            "group": "example.dev",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    (tmp_path / "widgets.yaml").write_text(json.dumps(crd))
    assert cluster.cluster.install_crds([tmp_path]) == ["widgets.example.dev"]
    assert cluster.cluster.install_crds([tmp_path / "widgets.yaml"]) == ["widgets.example.dev"]
    assert "widgets" in cluster.kubectl("api-resources", "--api-group=example.dev").stdout
    # installed as `kubectl apply` would have: applying the same file changes nothing
    assert "unchanged" in cluster.kubectl("apply", "-f", str(tmp_path / "widgets.yaml")).stdout


def test_a_pod_reaches_the_api_through_its_kubeconfig(cluster: ClusterHarness):
    ns = cluster.namespace()
    script = """
    import os
    from kubernetes import client, config
    config.load_kube_config()  # KUBECONFIG, set by the kubelet; its default namespace is the pod's
    namespace = open("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read()
    me = client.CoreV1Api().read_namespaced_pod(os.environ["HOSTNAME"], namespace)
    open("/dev/termination-log", "w").write(f"{me.metadata.namespace}/{me.metadata.name} {me.status.pod_ip}")
    """
    cluster.core.create_namespaced_pod(ns, pod_manifest("client", script))
    pod = cluster.wait_for_pod(ns, "client", terminated)
    state = main_state(pod).terminated
    assert (state.exit_code, state.message) == (0, f"{ns}/client {pod.status.pod_ip}")
