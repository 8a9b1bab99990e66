"""Server-side apply with two managers through the real kubectl: shared ownership keeps a field alive."""

from __future__ import annotations

import json


def configmap(name: str, **data: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def apply(kubectl, namespace: str, manager: str, body: str) -> None:
    kubectl("apply", "--server-side", f"--field-manager={manager}", "-n", namespace, "-f", "-", input=body)


def shown(kubectl, namespace: str, name: str) -> dict:
    return json.loads(
        kubectl("get", "-n", namespace, "cm", name, "-o", "json", "--show-managed-fields").stdout
    )


def test_a_second_manager_applying_the_same_value_shares_it(kubectl, namespace):
    apply(kubectl, namespace, "first", configmap("shared", a="1", b="2"))
    version = shown(kubectl, namespace, "shared")["metadata"]["resourceVersion"]
    apply(kubectl, namespace, "second", configmap("shared", a="1"))
    after = shown(kubectl, namespace, "shared")
    owners = {e["manager"]: e["fieldsV1"]["f:data"] for e in after["metadata"]["managedFields"]}
    assert owners == {"first": {"f:a": {}, "f:b": {}}, "second": {"f:a": {}}}
    assert after["metadata"]["resourceVersion"] != version  # ownership changed: a real write

    apply(kubectl, namespace, "first", configmap("shared", b="2"))
    assert shown(kubectl, namespace, "shared")["data"] == {"a": "1", "b": "2"}

    apply(kubectl, namespace, "second", configmap("shared"))
    assert shown(kubectl, namespace, "shared")["data"] == {"b": "2"}


def test_reapplying_unchanged_configuration_is_a_no_op(kubectl, namespace):
    apply(kubectl, namespace, "first", configmap("same", a="1"))
    before = shown(kubectl, namespace, "same")["metadata"]["resourceVersion"]
    apply(kubectl, namespace, "first", configmap("same", a="1"))
    assert shown(kubectl, namespace, "same")["metadata"]["resourceVersion"] == before
