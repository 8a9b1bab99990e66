"""The `kubernetes` Python client against the local API server: CRUD, concurrency, watch, paging."""

from __future__ import annotations

import base64
import json
import threading
import uuid

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from localcluster.apiserver import ApiServer, ServerThread


@pytest.fixture(scope="module")
def api(local_apiserver) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(local_apiserver.kubeconfig))


@pytest.fixture
def ns(api: client.ApiClient) -> str:
    name = f"py-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_crud_round_trip_keeps_server_fields(api, ns):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(ns, configmap("cm", a="1"))
    assert created.metadata.uid and created.metadata.creation_timestamp
    fetched = core.read_namespaced_config_map("cm", ns)
    assert fetched.data == {"a": "1"}
    assert fetched.metadata.resource_version == created.metadata.resource_version
    fetched.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("cm", ns, fetched)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("cm", ns, {"data": {"a": None}})
    assert patched.data == {"b": "2"}
    deleted = core.delete_namespaced_config_map("cm", ns)
    assert deleted is not None
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("cm", ns)
    assert missing.value.status == 404
    assert '"reason":"NotFound"' in missing.value.body.replace(" ", "")


def test_conflicts_on_existing_name_and_stale_update(api, ns):
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map(ns, configmap("cm"))
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(ns, configmap("cm"))
    assert exists.value.status == 409 and "AlreadyExists" in exists.value.body
    core.patch_namespaced_config_map("cm", ns, {"data": {"x": "1"}})
    first.data = {"stale": "yes"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("cm", ns, first)
    assert stale.value.status == 409
    assert "the object has been modified" in stale.value.body
    # A merge patch carrying a stale resourceVersion is refused the same way.
    with pytest.raises(ApiException) as stale_patch:
        core.patch_namespaced_config_map(
            "cm", ns, {"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"y": "1"}}
        )
    assert stale_patch.value.status == 409


def test_generate_name_and_no_op_writes(api, ns):
    core = client.CoreV1Api(api)
    made = core.create_namespaced_config_map(ns, {"metadata": {"generateName": "gen-"}, "data": {"k": "v"}})
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == len("gen-") + 5
    again = core.patch_namespaced_config_map(made.metadata.name, ns, {"data": {"k": "v"}})
    assert again.metadata.resource_version == made.metadata.resource_version


def test_secret_string_data_becomes_data(api, ns):
    core = client.CoreV1Api(api)
    secret = core.create_namespaced_secret(
        ns, {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}, "data": {"user": "YWRh"}}
    )
    assert secret.type == "Opaque"
    assert base64.b64decode(secret.data["password"]) == b"hunter2"
    assert secret.data["user"] == "YWRh"
    assert secret.string_data is None


def test_pod_is_scheduled_and_status_is_a_separate_subresource(api, ns):
    core = client.CoreV1Api(api)
    body = {
        "metadata": {"name": "p", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]},
        "status": {"phase": "Running"},
    }
    pod = core.create_namespaced_pod(ns, body)
    assert pod.spec.node_name == "local"
    assert pod.status.phase == "Pending"
    assert pod.metadata.generation == 1
    status = core.patch_namespaced_pod_status(
        "p", ns, {"status": {"phase": "Running"}, "spec": {"nodeName": "x"}}
    )
    assert status.status.phase == "Running" and status.spec.node_name == "local"
    assert status.metadata.generation == 1
    # Strategic merge patch (what the client sends for a dict) merges containers by name: env survives.
    patched = core.patch_namespaced_pod(
        "p", ns, {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}
    )
    container = patched.spec.containers[0]
    assert container.image == "busybox:2"
    assert [(e.name, e.value) for e in container.env] == [("A", "1")]
    assert patched.status.phase == "Running"
    assert patched.metadata.generation == 2
    with pytest.raises(ApiException) as immutable:
        core.patch_namespaced_pod(
            "p", ns, {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}}
        )
    assert immutable.value.status == 422 and "pod updates may not change fields" in immutable.value.body


def test_invalid_pod_names_the_field(api, ns):
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as bad:
        core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})
    status = json.loads(bad.value.body)
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["message"] == 'Pod "p" is invalid: spec.containers[0].image: Required value'
    assert status["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].image"}
    ]


def test_json_patch_failed_test_is_422(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, configmap("cm"))
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/data/x", "value": "1"},
    ]
    with pytest.raises(ApiException) as failed:
        core.patch_namespaced_config_map("cm", ns, ops)
    assert failed.value.status == 422


def test_list_paging_and_selectors(api, ns):
    core = client.CoreV1Api(api)
    for i in range(5):
        labels = {"app": "web" if i % 2 else "db", "idx": str(i)}
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm{i}", "labels": labels}})
    first = core.list_namespaced_config_map(ns, limit=2)
    assert [c.metadata.name for c in first.items] == ["cm0", "cm1"]
    assert first.metadata._continue and first.metadata.remaining_item_count == 3
    second = core.list_namespaced_config_map(ns, limit=2, _continue=first.metadata._continue)
    assert [c.metadata.name for c in second.items] == ["cm2", "cm3"]
    web = core.list_namespaced_config_map(ns, label_selector="app in (web),!missing")
    assert [c.metadata.name for c in web.items] == ["cm1", "cm3"]
    named = core.list_namespaced_config_map(ns, field_selector="metadata.name=cm4")
    assert [c.metadata.name for c in named.items] == ["cm4"]
    with pytest.raises(ApiException) as unsupported:
        core.list_namespaced_config_map(ns, field_selector="data.x=1")
    assert unsupported.value.status == 400 and "field label not supported" in unsupported.value.body
    core.delete_collection_namespaced_config_map(ns, label_selector="app=db")
    left = core.list_namespaced_config_map(ns)
    assert sorted(c.metadata.name for c in left.items) == ["cm1", "cm3"]


def test_pod_field_selector_on_phase(api, ns):
    core = client.CoreV1Api(api)
    for name in ("a", "b"):
        core.create_namespaced_pod(
            ns, {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
        )
    core.patch_namespaced_pod_status("b", ns, {"status": {"phase": "Failed"}})
    alive = core.list_namespaced_pod(ns, field_selector="status.phase!=Failed,spec.nodeName=local")
    assert [p.metadata.name for p in alive.items] == ["a"]


def test_watch_resumes_from_resource_version(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, configmap("w1"))
    listed = core.list_namespaced_config_map(ns)
    rv = listed.metadata.resource_version
    core.create_namespaced_config_map(ns, configmap("w2"))
    core.patch_namespaced_config_map("w2", ns, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w1", ns)
    seen = []
    stream = watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=2)
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            break
    assert seen == [("ADDED", "w2"), ("MODIFIED", "w2"), ("DELETED", "w1")]


def test_watch_without_resource_version_starts_with_current_state(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, configmap("existing"))
    w = watch.Watch()
    seen = []

    def write_later() -> None:
        core.create_namespaced_config_map(ns, configmap("later"))

    timer = threading.Timer(0.3, write_later)
    timer.start()
    for event in w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            w.stop()
    timer.join()
    assert seen == [("ADDED", "existing"), ("ADDED", "later")]


def test_too_old_resource_version_is_an_in_stream_410(tmp_path):
    with ServerThread(ApiServer(tmp_path / "state", history=3)) as server:
        api = config.new_client_from_config(config_file=str(server.write_kubeconfig(tmp_path / "kubeconfig")))
        core = client.CoreV1Api(api)
        first = core.create_namespaced_config_map("default", configmap("c0"))
        for i in range(1, 12):
            core.create_namespaced_config_map("default", configmap(f"c{i}"))
        response = core.list_namespaced_config_map(
            "default", watch=True, resource_version=first.metadata.resource_version, _preload_content=False
        )
        assert response.status == 200
        body = response.read().decode()
        assert '"type":"ERROR"' in body and '"code":410' in body and '"reason":"Expired"' in body
        # The client's Watch surfaces it as an ApiException(410); callers handle it by re-listing.
        with pytest.raises(ApiException) as expired:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=first.metadata.resource_version
            ):
                pass
        assert expired.value.status == 410
        # Watching from a fresh list's own resourceVersion is always valid.
        listed = core.list_namespaced_config_map("default")
        events = watch.Watch().stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
        assert list(events) == []
