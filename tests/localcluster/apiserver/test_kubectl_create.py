"""`kubectl create <kind>` and `kubectl run` send protobuf bodies: every built-in kind the server serves."""

from __future__ import annotations

import json

import pytest

from localcluster.apiserver import protobuf


def get(kubectl, namespace: str, *what: str) -> dict:
    return json.loads(kubectl("get", "-n", namespace, *what, "-o", "json").stdout)


def test_create_service_of_each_type(kubectl, namespace):
    kubectl("create", "service", "clusterip", "web", "-n", namespace, "--tcp=80:8080", "--tcp=443:https")
    kubectl("create", "service", "nodeport", "np", "-n", namespace, "--tcp=80:8080")
    kubectl("create", "service", "externalname", "ext", "-n", namespace, "--external-name=example.com")
    web = get(kubectl, namespace, "service", "web")
    assert web["spec"]["ports"] == [
        {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"name": "443-https", "port": 443, "protocol": "TCP", "targetPort": "https"},
    ]
    assert web["spec"]["selector"] == {"app": "web"} and web["spec"]["type"] == "ClusterIP"
    assert get(kubectl, namespace, "service", "np")["spec"]["ports"][0]["nodePort"] >= 30000
    assert get(kubectl, namespace, "service", "ext")["spec"]["externalName"] == "example.com"


def test_create_deployment_keeps_zero_replicas_and_the_pod_template(kubectl, namespace):
    kubectl(
        "create", "deployment", "web", "-n", namespace, "--image=nginx:1", "--replicas=0", "--port=80",
        "--", "sleep", "10",
    )  # fmt: skip
    spec = get(kubectl, namespace, "deployment", "web")["spec"]
    assert spec["replicas"] == 0  # a pointer field: its zero is meant
    assert spec["selector"] == {"matchLabels": {"app": "web"}}
    [container] = spec["template"]["spec"]["containers"]
    assert container["command"] == ["sleep", "10"] and container["ports"] == [{"containerPort": 80}]


def test_create_rbac_objects(kubectl, namespace):
    kubectl("create", "role", "r", "-n", namespace, "--verb=get,list", "--resource=pods", "--resource-name=x")
    kubectl(
        "create",
        "rolebinding",
        "rb",
        "-n",
        namespace,
        "--role=r",
        "--user=ada",
        f"--serviceaccount={namespace}:sa",
    )
    assert get(kubectl, namespace, "role", "r")["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"], "verbs": ["get", "list"]}
    ]
    binding = get(kubectl, namespace, "rolebinding", "rb")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}
    assert [s["kind"] for s in binding["subjects"]] == ["User", "ServiceAccount"]
    name = f"cr-{namespace}"
    kubectl("create", "clusterrole", name, "--verb=get", "--non-resource-url=/healthz")
    kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", "--group=devs")
    try:
        role = json.loads(kubectl("get", "clusterrole", name, "-o", "json").stdout)
        assert role["rules"] == [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", name)


def test_create_pod_disruption_budgets(kubectl, namespace):
    kubectl(
        "create", "poddisruptionbudget", "half", "-n", namespace, "--selector=app=web", "--min-available=50%"
    )
    kubectl("create", "pdb", "one", "-n", namespace, "--selector=app=web", "--max-unavailable=1")
    assert get(kubectl, namespace, "pdb", "half")["spec"]["minAvailable"] == "50%"
    assert get(kubectl, namespace, "pdb", "one")["spec"]["maxUnavailable"] == 1


def test_run_sends_a_pod(kubectl, namespace):
    kubectl("run", "runner", "-n", namespace, "--image=busybox", "--restart=Never", "--env=A=1", "--", "true")
    [container] = get(kubectl, namespace, "pod", "runner")["spec"]["containers"]
    assert container["args"] == ["true"] and container["env"] == [{"name": "A", "value": "1"}]


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_an_unknown_field_is_refused_not_dropped():
    type_meta = _field(1, b"v1") + _field(2, b"ConfigMap")
    config_map = _field(1, _field(1, b"cm")) + _field(15, b"?")
    body = protobuf.MAGIC + _field(1, type_meta) + _field(2, config_map)
    with pytest.raises(protobuf.ProtobufError, match="field 15 of ConfigMap is not known"):
        protobuf.decode(body)
    known = protobuf.MAGIC + _field(1, type_meta) + _field(2, _field(1, _field(1, b"cm")))
    assert protobuf.decode(known) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}
