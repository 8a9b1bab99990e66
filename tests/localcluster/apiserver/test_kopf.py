"""An unmodified `kopf run` operator against the local API server, with dropped watches and 500s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

OPERATOR = textwrap.dedent(
    """
    import kopf
    import kubernetes

    kubernetes.config.load_kube_config()


    @kopf.on.startup()
    def configure(settings, **_):
        settings.posting.level = 20  # INFO events, so kopf also posts Events through the API


    @kopf.on.create("test.example.com", "v1", "crews")
    def create_crew(spec, name, namespace, body, patch, logger, **_):
        core = kubernetes.client.CoreV1Api()
        for index in range(spec.get("size", 1)):
            pod = {
                "metadata": {"name": f"{name}-{index}", "labels": {"crew": name}},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            }
            kopf.adopt(pod, owner=body)
            core.create_namespaced_pod(namespace, pod)
        patch.status["members"] = spec.get("size", 1)
        kopf.info(body, reason="Staffed", message=f"created {spec.get('size', 1)} pods")
        return {"created": spec.get("size", 1)}
    """
)

CREW_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crews.test.example.com"},
    "spec": {
        "group": "test.example.com",
        "scope": "Namespaced",
        "names": {"kind": "Crew", "plural": "crews", "singular": "crew"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def api(local_apiserver) -> client.ApiClient:
    api_client = config.new_client_from_config(config_file=str(local_apiserver.kubeconfig))
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CREW_CRD)
    return api_client


@dataclass
class Operator:
    namespace: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"kopf exited with {self.process.returncode}:\n{self.log.read_text()}")


@pytest.fixture(scope="module")
def operator(local_apiserver, api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    """One `kopf run --standalone -n <ns>` process for the module, on a fresh namespace."""
    tmp_path = tmp_path_factory.mktemp("kopf")
    namespace = f"kopf-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    (tmp_path / "crew_operator.py").write_text(OPERATOR)
    log_path = tmp_path / "kopf.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--standalone", "-n", namespace, "crew_operator.py"],
            env={**local_apiserver.env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    running = Operator(namespace, process, log_path)
    try:
        yield running
        running.alive()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.environ.get("LOCALCLUSTER_SHOW_KOPF_LOG"):
            print(log_path.read_text())


def crew(name: str, size: int) -> dict:
    return {
        "apiVersion": "test.example.com/v1",
        "kind": "Crew",
        "metadata": {"name": name},
        "spec": {"size": size},
    }


def handled(api, operator: Operator, name: str):
    operator.alive()
    namespace = operator.namespace
    obj = client.CustomObjectsApi(api).get_namespaced_custom_object(
        "test.example.com", "v1", namespace, "crews", name
    )
    status = obj.get("status") or {}
    return obj if status.get("create_crew", {}).get("created") and status.get("members") else None


def pods_of(api, namespace: str, name: str) -> list:
    return client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=f"crew={name}").items


def test_operator_creates_owned_pods_and_patches_status(api, operator, wait_for):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "test.example.com", "v1", operator.namespace, "crews", crew("alpha", 2)
    )
    obj = wait_for(lambda: handled(api, operator, "alpha"), timeout=30, what="kopf handled alpha")
    assert obj["status"]["members"] == 2
    pods = pods_of(api, operator.namespace, "alpha")
    assert sorted(p.metadata.name for p in pods) == ["alpha-0", "alpha-1"]
    assert all(p.metadata.owner_references[0].uid == obj["metadata"]["uid"] for p in pods)
    events = client.CoreV1Api(api).list_namespaced_event(
        operator.namespace,
        field_selector=f"involvedObject.name=alpha,involvedObject.uid={obj['metadata']['uid']}",
    )
    assert any(e.reason == "Staffed" for e in events.items)
    # Deleting the owner lets the garbage collector remove its pods (kopf added no finalizer: no on.delete).
    custom.delete_namespaced_custom_object("test.example.com", "v1", operator.namespace, "crews", "alpha")
    wait_for(lambda: not pods_of(api, operator.namespace, "alpha"), timeout=15, what="owned pods collected")


def test_operator_survives_dropped_watches_and_injected_errors(api, operator, local_apiserver, wait_for):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "test.example.com", "v1", operator.namespace, "crews", crew("warmup", 1)
    )
    wait_for(lambda: handled(api, operator, "warmup"), timeout=30, what="kopf ready")
    faults = local_apiserver.server.faults
    assert local_apiserver.call(faults.drop_watches) >= 1
    local_apiserver.call(faults.fail_next, "PATCH", rf"/namespaces/{operator.namespace}/crews/beta", 500, 2)
    custom.create_namespaced_custom_object(
        "test.example.com", "v1", operator.namespace, "crews", crew("beta", 1)
    )
    obj = wait_for(lambda: handled(api, operator, "beta"), timeout=45, what="kopf handled beta after faults")
    assert obj["status"]["members"] == 1
    remaining = local_apiserver.call(faults.describe)["failures"]
    assert remaining == [], "the injected failures were consumed by kopf's retries"
    assert [p.metadata.name for p in pods_of(api, operator.namespace, "beta")] == ["beta-0"]
    annotations = obj["metadata"].get("annotations") or {}
    assert json.loads(annotations["kopf.zalando.org/last-handled-configuration"])["spec"] == {"size": 1}
