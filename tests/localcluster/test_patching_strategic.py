"""Strategic merge patch in the shapes kubectl and the Python client send, and its merge metadata."""

import copy

import pytest

from localcluster.patching import (
    BUILTIN_MERGE_KEYS,
    BUILTIN_MERGE_KEYS_DEFAULT,
    PatchError,
    merge_keys_for,
    merge_keys_from_openapi_schema,
    strategic_merge_patch,
)

POD = BUILTIN_MERGE_KEYS["Pod"]


def pod(containers=None, **spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": containers or [], **spec},
    }


def env(*names, **values):
    return [{"name": n, "value": values.get(n, n.lower())} for n in names]


def test_containers_merge_by_name_and_input_is_untouched():
    live = pod([{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}])
    before = copy.deepcopy(live)
    patch = {"spec": {"containers": [{"name": "side", "image": "s:2"}]}}
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"] == [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:2"}]
    assert live == before
    assert patch == {"spec": {"containers": [{"name": "side", "image": "s:2"}]}}


def test_new_items_without_an_order_directive_come_first_as_in_kube_apiserver():
    live = pod([{"name": "app", "image": "a:1", "env": env("A", "B")}])
    patch = {"spec": {"containers": [{"name": "app", "env": [{"name": "C", "value": "c"}]}]}}
    result = strategic_merge_patch(live, patch, POD)
    # apimachinery puts patch items the live order does not know before the live ones.
    assert [e["name"] for e in result["spec"]["containers"][0]["env"]] == ["C", "A", "B"]


def test_kubectl_client_side_apply_shape_with_set_element_order():
    """kubectl apply of a pod whose config reorders env and changes one value (merge key `name`)."""
    live = pod([{"name": "app", "image": "a:1", "env": env("A", "B", "C")}])
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [
                {
                    "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}],
                    "env": [{"name": "B", "value": "new"}],
                    "name": "app",
                }
            ],
        },
    }
    result = strategic_merge_patch(live, patch, POD)
    container = result["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "C", "value": "c"},
        {"name": "A", "value": "a"},
        {"name": "B", "value": "new"},
    ]
    assert container["image"] == "a:1"
    assert "kubectl.kubernetes.io/last-applied-configuration" in result["metadata"]["annotations"]
    assert not any(k.startswith("$") for k in result["spec"]) and not any(
        k.startswith("$") for k in container
    )


def test_set_element_order_keeps_server_only_items_where_they_were():
    live = pod([{"name": "app", "env": env("A", "X", "B")}])  # X was added by someone else
    patch = {
        "spec": {"containers": [{"name": "app", "$setElementOrder/env": [{"name": "B"}, {"name": "A"}]}]}
    }
    result = strategic_merge_patch(live, patch, POD)
    assert [e["name"] for e in result["spec"]["containers"][0]["env"]] == ["X", "B", "A"]


def test_set_element_order_for_a_new_container_and_a_removed_one():
    live = pod([{"name": "old", "image": "o"}, {"name": "app", "image": "a"}])
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "new"}, {"name": "app"}],
            "containers": [
                {"$patch": "delete", "name": "old"},
                {
                    "name": "new",
                    "image": "n",
                    "$setElementOrder/env": [{"name": "A"}],
                    "env": [{"name": "A"}],
                },
            ],
        }
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"] == [
        {"name": "new", "image": "n", "env": [{"name": "A"}]},
        {"name": "app", "image": "a"},
    ]


def test_patch_items_follow_the_patch_order_when_no_order_directive_is_sent():
    live = pod([{"name": "a"}, {"name": "b"}, {"name": "c"}])
    result = strategic_merge_patch(
        live, {"spec": {"containers": [{"name": "b", "x": 1}, {"name": "a"}]}}, POD
    )
    assert [c["name"] for c in result["spec"]["containers"]] == ["b", "a", "c"]


def test_delete_directive_removes_a_list_item_by_merge_key():
    live = pod([{"name": "app", "env": env("A", "B")}])
    patch = {"spec": {"containers": [{"name": "app", "env": [{"$patch": "delete", "name": "A"}]}]}}
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"][0]["env"] == [{"name": "B", "value": "b"}]


def test_replace_directive_in_a_list_replaces_it():
    live = pod([{"name": "app", "env": env("A", "B")}])
    patch = {
        "spec": {"containers": [{"name": "app", "env": [{"name": "Z", "value": "z"}, {"$patch": "replace"}]}]}
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"][0]["env"] == [{"name": "Z", "value": "z"}]


def test_map_directives_replace_and_delete():
    live = pod([{"name": "app"}])
    replaced = strategic_merge_patch(live, {"metadata": {"labels": {"$patch": "replace", "only": "me"}}}, POD)
    assert replaced["metadata"]["labels"] == {"only": "me"}
    emptied = strategic_merge_patch(live, {"metadata": {"labels": {"$patch": "delete"}}}, POD)
    assert emptied["metadata"]["labels"] == {}


def test_null_deletes_a_key_and_plain_maps_merge():
    live = pod([{"name": "app"}])
    result = strategic_merge_patch(live, {"metadata": {"labels": {"tier": None, "new": "1"}}}, POD)
    assert result["metadata"]["labels"] == {"app": "web", "new": "1"}


def test_retain_keys_switches_a_volume_source():
    live = pod(
        [{"name": "app"}],
        volumes=[{"name": "cfg", "configMap": {"name": "c"}}, {"name": "tmp", "emptyDir": {}}],
    )
    patch = {
        "spec": {
            "volumes": [{"$retainKeys": ["name", "secret"], "name": "cfg", "secret": {"secretName": "s"}}]
        }
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["volumes"] == [
        {"name": "cfg", "secret": {"secretName": "s"}},
        {"name": "tmp", "emptyDir": {}},
    ]


def test_retain_keys_must_cover_the_patch():
    live = pod([{"name": "app"}], volumes=[{"name": "cfg", "configMap": {"name": "c"}}])
    patch = {"spec": {"volumes": [{"$retainKeys": ["name"], "name": "cfg", "secret": {"secretName": "s"}}]}}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys") as caught:
        strategic_merge_patch(live, patch, POD)
    assert caught.value.status == 400


def test_primitive_merge_list_unions_and_delete_from_primitive_list():
    live = pod([{"name": "app"}])
    live["metadata"]["finalizers"] = ["a", "b", "c"]
    added = strategic_merge_patch(live, {"metadata": {"finalizers": ["c", "d"]}}, POD)
    assert added["metadata"]["finalizers"] == ["a", "b", "c", "d"]
    removed = strategic_merge_patch(live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}, POD)
    assert removed["metadata"]["finalizers"] == ["a", "c"]
    ordered = strategic_merge_patch(live, {"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}, POD)
    assert ordered["metadata"]["finalizers"] == ["c", "a", "b"]


def test_lists_without_merge_strategy_are_replaced():
    live = pod([{"name": "app", "args": ["a", "b"]}], tolerations=[{"key": "x", "operator": "Exists"}])
    patch = {
        "spec": {
            "tolerations": [{"key": "y", "operator": "Exists"}],
            "containers": [{"name": "app", "args": ["c"]}],
        }
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["tolerations"] == [{"key": "y", "operator": "Exists"}]
    assert result["spec"]["containers"][0]["args"] == ["c"]


def test_container_ports_merge_by_container_port_and_owner_references_by_uid():
    live = pod([{"name": "app", "ports": [{"containerPort": 80}, {"containerPort": 443}]}])
    live["metadata"]["ownerReferences"] = [{"uid": "u1", "name": "a", "kind": "Agent"}]
    patch = {
        "metadata": {"ownerReferences": [{"uid": "u2", "name": "b", "kind": "Agent"}]},
        "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443, "name": "https"}]}]},
    }
    result = strategic_merge_patch(live, patch, POD)
    assert result["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80},
        {"containerPort": 443, "name": "https"},
    ]
    assert [r["uid"] for r in result["metadata"]["ownerReferences"]] == ["u2", "u1"]


def test_service_ports_merge_by_port():
    live = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443, "targetPort": 8443}]}}
    result = strategic_merge_patch(
        live, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, BUILTIN_MERGE_KEYS["Service"]
    )
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]


def test_deployment_pod_template_merges_containers():
    live = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
        }
    }
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "2"}]}}}}
    result = strategic_merge_patch(live, patch, BUILTIN_MERGE_KEYS["Deployment"])
    assert [c["image"] for c in result["spec"]["template"]["spec"]["containers"]] == ["1", "2"]


def test_kinds_without_merge_metadata_replace_lists():
    live = {"data": {"a": "1"}, "items": [{"name": "x"}]}
    result = strategic_merge_patch(
        live, {"data": {"b": "2"}, "items": [{"name": "y"}]}, BUILTIN_MERGE_KEYS_DEFAULT
    )
    assert result == {"data": {"a": "1", "b": "2"}, "items": [{"name": "y"}]}


def test_type_changes_replace_the_value():
    live = pod([{"name": "app", "command": ["x"]}])
    result = strategic_merge_patch(live, {"spec": {"containers": [{"name": "app", "command": "sh"}]}}, POD)
    assert result["spec"]["containers"][0]["command"] == "sh"


@pytest.mark.parametrize(
    ("patch", "status", "message"),
    [
        ({"spec": {"containers": [{"image": "x"}]}}, 400, "does not contain declared merge key: name"),
        ({"spec": {"containers": [{"$patch": "delete"}]}}, 400, "does not contain declared merge key: name"),
        ({"spec": {"containers": [{"$patch": "merge"}]}}, 400, "merging lists cannot yet be specified"),
        ({"metadata": {"labels": {"$patch": "shuffle"}}}, 400, "unknown patch type: shuffle"),
        ({"spec": {"$retainKeys": "name"}}, 400, "invalid patch format of retainKeys"),
        (
            {"spec": {"$setElementOrder/containers": "app"}},
            400,
            "invalid patch format of setElementOrder list",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            400,
            "invalid patch format of primitive list",
        ),
        ({"spec": {"containers": [[1]]}}, 422, "lists of lists are not supported"),
    ],
)
def test_malformed_patches_are_rejected(patch, status, message):
    live = pod([{"name": "app"}])
    live["metadata"]["finalizers"] = ["a"]
    with pytest.raises(PatchError, match=message) as caught:
        strategic_merge_patch(live, patch, POD)
    assert caught.value.status == status


def test_body_must_be_an_object():
    with pytest.raises(PatchError) as caught:
        strategic_merge_patch({}, [{"op": "add"}], POD)  # type: ignore[arg-type]
    assert caught.value.status == 400


def test_builtin_metadata_comes_from_the_bundled_openapi_annotations():
    containers = POD.list_meta("spec.containers")
    assert (containers.merge_key, containers.merges, containers.list_type) == ("name", True, "map")
    assert POD.list_meta("spec.containers[].env").merge_key == "name"
    assert POD.list_meta("spec.containers[].volumeMounts").merge_key == "mountPath"
    assert POD.list_meta("spec.volumes").strategies == {"merge", "retainKeys"}
    assert not POD.list_meta("spec.tolerations").merges
    ports = POD.list_meta("spec.containers[].ports")
    assert (ports.map_keys, dict(ports.key_defaults)) == (("containerPort", "protocol"), {"protocol": "TCP"})
    assert POD.list_meta("metadata.finalizers").list_type == "set"
    assert BUILTIN_MERGE_KEYS["Service"].list_meta("spec.ports").merge_key == "port"
    assert BUILTIN_MERGE_KEYS["ConfigMap"].lists.keys() <= {"metadata.finalizers", "metadata.ownerReferences"}
    assert BUILTIN_MERGE_KEYS["Deployment"].is_atomic_map("spec.selector")
    assert "Pod" in BUILTIN_MERGE_KEYS and len(BUILTIN_MERGE_KEYS) > 50
    assert merge_keys_for("", "v1", "Event") is BUILTIN_MERGE_KEYS["Event"]
    assert merge_keys_for("example.com", "v1", "Agent") is BUILTIN_MERGE_KEYS_DEFAULT


def test_metadata_from_a_crd_schema():
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "children": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "properties": {
                                "tags": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "set",
                                    "items": {"type": "string"},
                                }
                            },
                        },
                    },
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
                    "byName": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "properties": {
                                "ports": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["port"],
                                    "items": {"type": "object"},
                                }
                            },
                        },
                    },
                },
            }
        },
    }
    keys = merge_keys_from_openapi_schema(schema)
    assert keys.list_meta("spec.children").map_keys == ("name",)
    assert keys.list_meta("spec.children[].tags").list_type == "set"
    assert keys.is_atomic_map("spec.selector")
    assert keys.field_path("spec.byName", "anything") == "spec.byName.*"
    assert keys.list_meta("spec.byName.*.ports").map_keys == ("port",)
    assert keys.field_path("spec", "children") == "spec.children"
    assert keys.list_meta("spec.other").list_type == "atomic"


def test_kubectl_switching_a_deployment_strategy_uses_retain_keys():
    live = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, "replicas": 2}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic_merge_patch(live, patch, BUILTIN_MERGE_KEYS["Deployment"])
    assert result == {"spec": {"strategy": {"type": "Recreate"}, "replicas": 2}}
