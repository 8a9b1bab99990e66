"""kube-apiserver's validation of ConfigMaps, Secrets, Services and Pods as the real kubectl shows it."""

from __future__ import annotations

import json

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException


def manifest(**obj: object) -> str:
    return json.dumps(obj)


def test_an_immutable_configmap_cannot_change_nor_become_mutable(kubectl, namespace):
    cm = manifest(
        apiVersion="v1", kind="ConfigMap", metadata={"name": "imm"}, data={"a": "1"}, immutable=True
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=cm)
    changed = kubectl("patch", "-n", namespace, "cm", "imm", "-p", '{"data":{"a":"2"}}', check=False)
    assert changed.returncode == 1
    assert changed.stderr.strip() == (
        'The ConfigMap "imm" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )
    unset = kubectl("patch", "-n", namespace, "cm", "imm", "-p", '{"immutable":false}', check=False)
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in unset.stderr
    # metadata stays writable
    kubectl("label", "-n", namespace, "cm", "imm", "team=a")
    shown = yaml.safe_load(kubectl("get", "-n", namespace, "cm", "imm", "-o", "yaml").stdout)
    assert shown["data"] == {"a": "1"} and shown["immutable"] is True


def test_an_immutable_secret_keeps_its_data(kubectl, namespace):
    kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=a=b")
    kubectl("patch", "-n", namespace, "secret", "s", "-p", '{"immutable":true}')
    changed = kubectl("patch", "-n", namespace, "secret", "s", "-p", '{"data":{"a":"Yw=="}}', check=False)
    assert "data: Forbidden: field is immutable when `immutable` is set" in changed.stderr


@pytest.mark.parametrize(("value", "byte"), [("abc!", 3), ("YWJj=", 4), ("YWJjZ", 4), ("a b", 1)])
def test_secret_data_must_be_base64(kubectl, namespace, value, byte):
    secret = manifest(apiVersion="v1", kind="Secret", metadata={"name": "s"}, data={"k": value})
    result = kubectl("apply", "-n", namespace, "-f", "-", input=secret, check=False)
    assert result.returncode == 1
    assert (
        'Error from server (BadRequest): error when creating "STDIN": Secret in version "v1" cannot be '
        f"handled as a Secret: illegal base64 data at input byte {byte}"
    ) in result.stderr
    assert kubectl("get", "-n", namespace, "secret", "s", check=False).returncode == 1


def test_a_tls_secret_needs_both_keys_and_no_secret_changes_type(kubectl, namespace):
    tls = manifest(
        apiVersion="v1",
        kind="Secret",
        metadata={"name": "t"},
        type="kubernetes.io/tls",
        data={"tls.crt": "YQ=="},
    )
    result = kubectl("apply", "-n", namespace, "-f", "-", input=tls, check=False)
    assert 'The Secret "t" is invalid: data[tls.key]: Required value' in result.stderr
    kubectl("create", "secret", "generic", "g", "-n", namespace, "--from-literal=a=b")
    retyped = kubectl(
        "patch", "-n", namespace, "secret", "g", "-p", '{"type":"kubernetes.io/basic-auth"}', check=False
    )
    assert 'type: Invalid value: "kubernetes.io/basic-auth": field is immutable' in retyped.stderr


def test_service_ports_type_and_protocol_are_validated(kubectl, namespace):
    service = manifest(
        apiVersion="v1",
        kind="Service",
        metadata={"name": "svc"},
        spec={"type": "Bogus", "ports": [{"port": 0}, {"port": 81, "protocol": "XYZ"}]},
    )
    result = kubectl("apply", "-n", namespace, "-f", "-", input=service, check=False)
    lines = set(result.stderr.splitlines())
    assert {
        '* spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
        "* spec.ports[0].name: Required value",
        "* spec.ports[1].name: Required value",
        "* spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        '* spec.ports[1].protocol: Unsupported value: "XYZ": supported values: "SCTP", "TCP", "UDP"',
    } <= lines, result.stderr
    assert kubectl("get", "-n", namespace, "svc", "svc", check=False).returncode == 1


def test_container_names_are_dns_labels_and_causes_reach_the_python_client(local_apiserver, namespace):
    pod = {
        "metadata": {"name": "bad"},
        "spec": {"containers": [{"name": "Bad_Name", "image": "x"}]},
    }
    with (
        config.new_client_from_config(config_file=str(local_apiserver.kubeconfig)) as api,
        pytest.raises(ApiException) as refused,
    ):
        client.CoreV1Api(api).create_namespaced_pod(namespace, pod)
    status = json.loads(refused.value.body)
    assert refused.value.status == 422 and status["reason"] == "Invalid"
    [cause] = status["details"]["causes"]
    assert cause["field"] == "spec.containers[0].name" and cause["reason"] == "FieldValueInvalid"
    assert cause["message"].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist')


def test_probes_get_kube_apiserver_defaults(kubectl, namespace):
    pod = manifest(
        apiVersion="v1",
        kind="Pod",
        metadata={"name": "probed"},
        spec={
            "containers": [
                {
                    "name": "c",
                    "image": "x",
                    "livenessProbe": {"httpGet": {"port": 80}},
                    "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                }
            ]
        },
    )
    created = json.loads(kubectl("create", "-n", namespace, "-f", "-", "-o", "json", input=pod).stdout)
    container = created["spec"]["containers"][0]
    assert container["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert container["readinessProbe"]["periodSeconds"] == 5
    assert container["readinessProbe"]["failureThreshold"] == 3
