"""/openapi/v2 through the real kubectl: `kind: List` input is validated against it, then applied."""

from __future__ import annotations

import json
import subprocess
import urllib.request

import pytest
import yaml

from tests.localcluster.conftest import TOOLS_BIN

GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gizmos.v2test.example.com"},
    "spec": {
        "group": "v2test.example.com",
        "scope": "Namespaced",
        "names": {"kind": "Gizmo", "plural": "gizmos", "singular": "gizmo"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def gizmos(local_apiserver) -> None:
    subprocess.run(
        [str(TOOLS_BIN / "kubectl"), "apply", "-f", "-"],
        input=json.dumps(GADGET_CRD),
        env=local_apiserver.env,
        check=True,
        capture_output=True,
        text=True,
    )


def test_get_yaml_then_apply_round_trips(kubectl, namespace, tmp_path):
    kubectl("create", "configmap", "x", "-n", namespace, "--from-literal=a=b")
    saved = tmp_path / "x.yaml"
    saved.write_text(kubectl("get", "cm", "x", "-n", namespace, "-o", "yaml").stdout)
    assert "configmap/x configured" in kubectl("apply", "-f", str(saved)).stdout
    listed = tmp_path / "list.yaml"
    listed.write_text(kubectl("get", "cm", "-n", namespace, "-o", "yaml").stdout)
    assert yaml.safe_load(listed.read_text())["kind"] == "List"
    assert "configmap/x" in kubectl("apply", "-f", str(listed)).stdout


def test_a_list_is_validated_on_the_client_against_the_v2_definitions(kubectl, namespace, gizmos):
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good"}, "data": {"a": "1"}},
        {
            "apiVersion": "v2test.example.com/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g"},
            "spec": {"size": 1},
        },
    ]
    good = {"apiVersion": "v1", "kind": "List", "items": items}
    applied = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(good)).stdout
    assert "configmap/good created" in applied and "gizmo.v2test.example.com/g created" in applied
    bad = {"apiVersion": "v1", "kind": "List", "items": [{**items[0], "bogus": 1}]}
    refused = kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode == 1
    assert 'unknown field "bogus" in io.k8s.api.core.v1.ConfigMap' in refused.stderr


def test_explain_reads_v2_too(kubectl):
    explained = kubectl("explain", "pods.spec.containers.name", "--output=plaintext-openapiv2").stdout
    assert "FIELD:    name <string>" in explained


def test_other_clients_get_json(local_apiserver):
    with urllib.request.urlopen(f"{local_apiserver.url}/openapi/v2") as response:
        document = json.load(response)
    assert document["swagger"] == "2.0"
    pod = document["definitions"]["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    int_or_string = document["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string == {"type": "string", "format": "int-or-string"}
