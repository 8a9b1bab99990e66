"""Server-side apply and managedFields: create, re-apply, removal, conflicts, force, Update ownership."""

import copy

import pytest

from localcluster.patching import (
    ApplyConflict,
    PatchError,
    merge_keys_from_openapi_schema,
    record_update,
    server_side_apply,
)

T0, T1, T2, T3 = (f"2025-01-01T00:0{i}:00Z" for i in range(4))


def pod_config(containers, labels=None, **spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {"containers": containers, **spec},
    }


def entries(obj):
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


def fields(obj, manager, operation="Apply"):
    return entries(obj)[(manager, operation)]["fieldsV1"]


def server_write(before, after, manager, now):
    """What the API server does on a non-apply write: record the writer's ownership."""
    result = copy.deepcopy(after)
    result["metadata"]["managedFields"] = record_update(before, after, manager, now)
    return result


def test_create_records_an_apply_entry_in_fieldsv1_form():
    config = pod_config([{"name": "app", "image": "web:1", "ports": [{"containerPort": 80}]}])
    original = copy.deepcopy(config)
    created = server_side_apply(None, config, "kubectl", False, T0)
    assert config == original
    assert created["spec"] == config["spec"]
    [entry] = created["metadata"]["managedFields"]
    assert entry == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"app"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
                        },
                    }
                }
            },
        },
    }


def test_reapplying_the_same_configuration_changes_nothing():
    config = pod_config([{"name": "app", "image": "web:1"}])
    created = server_side_apply(None, config, "kubectl", False, T0)
    again = server_side_apply(created, config, "kubectl", False, T1)
    assert again == created  # same fields, same time: nothing changed


def test_fields_omitted_from_a_later_apply_are_removed():
    created = server_side_apply(
        None,
        pod_config([{"name": "app", "image": "web:1", "args": ["-v"]}], labels={"app": "web", "tier": "x"}),
        "kubectl",
        False,
        T0,
    )
    updated = server_side_apply(
        created, pod_config([{"name": "app", "image": "web:2"}]), "kubectl", False, T1
    )
    assert updated["metadata"]["labels"] == {"app": "web"}
    assert updated["spec"]["containers"] == [{"name": "app", "image": "web:2"}]
    assert entries(updated)[("kubectl", "Apply")]["time"] == T1


def test_omitted_fields_another_manager_also_owns_stay():
    created = server_side_apply(
        None,
        pod_config([{"name": "app", "image": "web:1"}], labels={"app": "web", "tier": "x"}),
        "kubectl",
        False,
        T0,
    )
    shared = server_side_apply(
        created, pod_config([{"name": "app", "image": "web:1"}], labels={"tier": "x"}), "helm", False, T1
    )
    assert "f:tier" in fields(shared, "helm")["f:metadata"]["f:labels"]
    dropped = server_side_apply(shared, pod_config([{"name": "app", "image": "web:1"}]), "kubectl", False, T2)
    assert dropped["metadata"]["labels"] == {"app": "web", "tier": "x"}
    assert "f:tier" not in fields(dropped, "kubectl")["f:metadata"]["f:labels"]


def test_removed_list_item_stays_while_someone_else_owns_part_of_it():
    created = server_side_apply(
        None,
        pod_config([{"name": "app", "image": "a"}, {"name": "side", "image": "s"}]),
        "kubectl",
        False,
        T0,
    )
    touched = copy.deepcopy(created)
    touched["spec"]["containers"][1]["env"] = [{"name": "X", "value": "1"}]
    touched = server_write(created, touched, "injector", T1)
    applied = server_side_apply(touched, pod_config([{"name": "app", "image": "a"}]), "kubectl", False, T2)
    assert [c["name"] for c in applied["spec"]["containers"]] == ["app", "side"]
    assert applied["spec"]["containers"][1] == {"name": "side", "env": [{"name": "X", "value": "1"}]}
    alone = server_side_apply(created, pod_config([{"name": "app", "image": "a"}]), "kubectl", False, T2)
    assert [c["name"] for c in alone["spec"]["containers"]] == ["app"]


def test_update_by_another_manager_takes_ownership_and_apply_then_conflicts():
    created = server_side_apply(None, pod_config([{"name": "app", "image": "web:1"}]), "kubectl", False, T0)
    edited = copy.deepcopy(created)
    edited["spec"]["containers"][0]["image"] = "web:debug"
    edited = server_write(created, edited, "kubectl-edit", T1)
    assert fields(edited, "kubectl-edit", "Update") == {
        "f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}
    }
    assert "f:image" not in fields(edited, "kubectl")["f:spec"]["f:containers"]['k:{"name":"app"}']

    with pytest.raises(ApplyConflict) as caught:
        server_side_apply(edited, pod_config([{"name": "app", "image": "web:2"}]), "kubectl", False, T2)
    error = caught.value
    assert (error.status, error.reason) == (409, "Conflict")
    assert error.message == (
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: '
        '.spec.containers[name="app"].image'
    )
    assert [c.to_dict() for c in error.causes] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl-edit" using v1',
            "field": '.spec.containers[name="app"].image',
        }
    ]
    assert isinstance(error, PatchError)


def test_force_takes_the_fields_over():
    created = server_side_apply(None, pod_config([{"name": "app", "image": "web:1"}]), "kubectl", False, T0)
    edited = copy.deepcopy(created)
    edited["spec"]["containers"][0]["image"] = "web:debug"
    edited["metadata"]["labels"]["owner"] = "edit"
    edited = server_write(created, edited, "kubectl-edit", T1)
    forced = server_side_apply(edited, pod_config([{"name": "app", "image": "web:2"}]), "kubectl", True, T2)
    assert forced["spec"]["containers"][0]["image"] == "web:2"
    assert forced["metadata"]["labels"] == {"app": "web", "owner": "edit"}
    assert fields(forced, "kubectl-edit", "Update") == {"f:metadata": {"f:labels": {"f:owner": {}}}}
    assert "f:image" in fields(forced, "kubectl")["f:spec"]["f:containers"]['k:{"name":"app"}']


def test_applying_the_value_already_there_shares_ownership_without_conflict():
    created = server_side_apply(None, pod_config([{"name": "app", "image": "web:1"}]), "kubectl", False, T0)
    also = server_side_apply(created, pod_config([{"name": "app", "image": "web:1"}]), "other", False, T1)
    assert fields(also, "kubectl") == fields(also, "other")


def test_conflicts_with_several_managers_are_listed_per_manager():
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1", "b": "1"},
    }
    created = server_side_apply(None, config, "one", False, T0)
    second = server_side_apply(created, {**config, "data": {"b": "1"}}, "two", False, T1)
    with pytest.raises(ApplyConflict) as caught:
        server_side_apply(second, {**config, "data": {"a": "2", "b": "2"}}, "three", False, T2)
    assert caught.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "one":\n- .data.a\n- .data.b\n'
        'conflicts with "two":\n- .data.b'
    )


def test_associative_list_keeps_live_only_items_in_place():
    created = server_side_apply(None, pod_config([{"name": "a"}, {"name": "c"}]), "kubectl", False, T0)
    injected = copy.deepcopy(created)
    injected["spec"]["containers"].insert(1, {"name": "b"})
    injected = server_write(created, injected, "injector", T1)
    applied = server_side_apply(
        injected, pod_config([{"name": "a"}, {"name": "c"}, {"name": "d"}]), "kubectl", False, T2
    )
    assert [c["name"] for c in applied["spec"]["containers"]] == ["a", "b", "c", "d"]


def test_sets_merge_by_value_and_atomic_lists_replace():
    live = pod_config([{"name": "app", "args": ["a", "b"]}])
    live["metadata"]["finalizers"] = ["x"]
    live = server_write(None, live, "controller", T0)
    config = pod_config([{"name": "app", "args": ["c"]}])
    config["metadata"]["finalizers"] = ["y"]
    applied = server_side_apply(live, config, "kubectl", True, T1)
    assert applied["metadata"]["finalizers"] == ["x", "y"]
    assert applied["spec"]["containers"][0]["args"] == ["c"]
    assert fields(applied, "kubectl")["f:metadata"]["f:finalizers"] == {'v:"y"': {}}


def test_atomic_maps_are_owned_whole():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": "d"}}, "replicas": 2},
    }
    created = server_side_apply(None, deployment, "kubectl", False, T0)
    assert fields(created, "kubectl") == {"f:spec": {"f:replicas": {}, "f:selector": {}}}


def test_custom_resource_lists_follow_the_crd_schema():
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
                        "items": {"type": "object"},
                    }
                },
            }
        },
    }
    keys = merge_keys_from_openapi_schema(schema)
    agent = {"apiVersion": "otp.example.com/v1", "kind": "Agent", "metadata": {"name": "a"}}
    created = server_side_apply(
        None, {**agent, "spec": {"children": [{"name": "p", "image": "1"}]}}, "kubectl", False, T0, keys
    )
    other = server_side_apply(
        created, {**agent, "spec": {"children": [{"name": "q", "image": "1"}]}}, "ctl", False, T1, keys
    )
    assert [c["name"] for c in other["spec"]["children"]] == ["p", "q"]
    # Without the schema the list is atomic: applying another list conflicts on the whole list.
    atomic = server_side_apply(None, {**agent, "spec": {"children": [{"name": "p"}]}}, "kubectl", False, T0)
    assert fields(atomic, "kubectl") == {"f:spec": {"f:children": {}}}
    with pytest.raises(ApplyConflict, match=r"\.spec\.children$"):
        server_side_apply(atomic, {**agent, "spec": {"children": [{"name": "q"}]}}, "ctl", False, T1)


def test_ignored_fields_are_neither_written_nor_owned():
    live = server_side_apply(None, pod_config([{"name": "app"}]), "kubectl", False, T0)
    config = {**pod_config([{"name": "app"}]), "status": {"phase": "Failed"}}
    applied = server_side_apply(live, config, "kubectl", False, T1, ignored_fields={"status"})
    assert "status" not in applied and "f:status" not in fields(applied, "kubectl")


@pytest.mark.parametrize(
    ("config", "manager", "message"),
    [
        (
            {"metadata": {"name": "x", "managedFields": [{"manager": "m"}]}},
            "kubectl",
            "metadata.managedFields must be nil",
        ),
        ({"metadata": {"name": "x"}}, "", "requires fieldManager to be set"),
    ],
)
def test_bad_apply_requests_are_400(config, manager, message):
    with pytest.raises(PatchError, match=message) as caught:
        server_side_apply(None, config, manager, False, T0)
    assert caught.value.status == 400


def test_record_update_on_create_owns_everything_the_writer_set():
    pod = pod_config([{"name": "app", "image": "web:1"}])
    managed = record_update(None, pod, "kubectl-create", T0)
    assert managed == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}},
            },
        }
    ]


def test_record_update_accumulates_and_drops_removed_fields():
    created = server_write(None, pod_config([{"name": "app"}], labels={"a": "1", "b": "1"}), "ctl", T0)
    changed = copy.deepcopy(created)
    del changed["metadata"]["labels"]["a"]
    changed["metadata"]["labels"]["c"] = "1"
    changed = server_write(created, changed, "ctl", T1)
    assert fields(changed, "ctl", "Update")["f:metadata"]["f:labels"] == {".": {}, "f:b": {}, "f:c": {}}
    assert entries(changed)[("ctl", "Update")]["time"] == T1
    untouched = server_write(changed, copy.deepcopy(changed), "ctl", T2)
    assert entries(untouched)[("ctl", "Update")]["time"] == T1


def test_record_update_respects_managed_fields_written_by_the_client_and_the_reset_form():
    created = server_write(None, pod_config([{"name": "app"}]), "ctl", T0)
    rewritten = copy.deepcopy(created)
    rewritten["metadata"]["managedFields"] = [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}},
        }
    ]
    assert record_update(created, rewritten, "kubectl", T1) == rewritten["metadata"]["managedFields"]
    reset = copy.deepcopy(created)
    reset["metadata"]["managedFields"] = [{}]
    assert record_update(created, reset, "kubectl", T1) == []
    status_write = copy.deepcopy(created)
    status_write["metadata"]["managedFields"] = [{}]
    status_write["status"] = {"phase": "Running"}
    managed = record_update(created, status_write, "kubelet", T1, subresource="status")
    assert [(e["manager"], e.get("subresource")) for e in managed] == [("ctl", None), ("kubelet", "status")]
    assert managed[1]["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_managed_fields_are_sorted_apply_first_then_by_time():
    created = server_write(None, pod_config([{"name": "app"}]), "zeta", T0)
    applied = server_side_apply(created, pod_config([{"name": "app", "image": "x"}]), "alpha", False, T1)
    assert [(e["manager"], e["operation"]) for e in applied["metadata"]["managedFields"]] == [
        ("alpha", "Apply"),
        ("zeta", "Update"),
    ]
