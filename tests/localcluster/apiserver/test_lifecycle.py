"""Deletion lifecycle: finalizers, garbage collection by ownerReferences, namespace termination."""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from localcluster.apiserver import ApiServer, ServerThread


@pytest.fixture(scope="module")
def api(local_apiserver) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(local_apiserver.kubeconfig))


@pytest.fixture
def core(api) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def ns(core) -> str:
    name = f"lc-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def exists(read, *args) -> bool:
    try:
        read(*args)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def owned_configmap(name: str, owner, block: bool = False) -> dict:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
        "blockOwnerDeletion": block,
    }
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


def test_finalizers_hold_deletion_until_removed(core, ns):
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/keep"]}})
    deleted = core.delete_namespaced_config_map("f", ns)
    assert deleted is not None
    held = core.read_namespaced_config_map("f", ns)
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as adding:
        core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": ["example.com/keep", "more"]}})
    assert adding.value.status == 422
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}})
    assert not exists(core.read_namespaced_config_map, "f", ns)


def test_background_propagation_deletes_dependents(core, ns, wait_for):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(ns, owned_configmap("child", owner))
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Background")
    wait_for(lambda: not exists(core.read_namespaced_config_map, "child", ns), what="child collected")


def test_orphan_propagation_keeps_dependents_without_the_reference(core, ns, wait_for):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(ns, owned_configmap("child", owner))
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Orphan")
    wait_for(lambda: not exists(core.read_namespaced_config_map, "owner", ns), what="owner gone")
    child = core.read_namespaced_config_map("child", ns)
    assert not child.metadata.owner_references


def test_foreground_propagation_waits_for_blocking_dependents(core, ns, wait_for):
    owner = core.create_namespaced_config_map(ns, {"metadata": {"name": "owner"}})
    child = owned_configmap("child", owner, block=True)
    child["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map(ns, child)
    core.delete_namespaced_config_map("owner", ns, propagation_policy="Foreground")
    held = core.read_namespaced_config_map("owner", ns)
    assert held.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in held.metadata.finalizers
    wait_for(
        lambda: core.read_namespaced_config_map("child", ns).metadata.deletion_timestamp,
        what="child deleting",
    )
    assert exists(core.read_namespaced_config_map, "owner", ns)
    core.patch_namespaced_config_map("child", ns, {"metadata": {"finalizers": None}})
    wait_for(lambda: not exists(core.read_namespaced_config_map, "owner", ns), what="owner deleted last")


def test_dependent_with_a_missing_owner_is_collected(core, ns, wait_for):
    ghost = client.V1ObjectMeta(name="ghost", uid=str(uuid.uuid4()))
    core.create_namespaced_config_map(ns, owned_configmap("orphan", client.V1ConfigMap(metadata=ghost)))
    wait_for(
        lambda: not exists(core.read_namespaced_config_map, "orphan", ns), what="dangling dependent gone"
    )


def test_namespace_deletion_terminates_then_removes_contents(core, wait_for):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(lambda: exists(core.read_namespaced_service_account, "default", name), what="default SA")
    core.create_namespaced_config_map(
        name, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    core.delete_namespace(name)
    terminating = core.read_namespace(name)
    assert terminating.status.phase == "Terminating"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    assert refused.value.status == 403
    wait_for(
        lambda: core.read_namespaced_config_map("held", name).metadata.deletion_timestamp, what="held marked"
    )
    assert exists(core.read_namespace, name)
    core.patch_namespaced_config_map("held", name, {"metadata": {"finalizers": None}})
    wait_for(lambda: not exists(core.read_namespace, name), what="namespace removed")
    with pytest.raises(ApiException) as protected:
        core.delete_namespace("default")
    assert protected.value.status == 403


def test_creating_in_a_missing_namespace_is_404(core):
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == 'namespaces "no-such-ns" not found'


def test_graceful_pod_deletion_waits_for_the_kubelet(tmp_path):
    with ServerThread(ApiServer(tmp_path / "state", graceful_pod_deletion=True)) as server:
        core = client.CoreV1Api(
            config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kc")))
        )
        pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        core.create_namespaced_pod("default", pod)
        core.delete_namespaced_pod("p", "default", grace_period_seconds=7)
        marked = core.read_namespaced_pod("p", "default")
        assert marked.metadata.deletion_timestamp is not None
        assert marked.metadata.deletion_grace_period_seconds == 7
        core.delete_namespaced_pod("p", "default", grace_period_seconds=0)
        assert not exists(core.read_namespaced_pod, "p", "default")
