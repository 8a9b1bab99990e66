"""The real kubectl (v1.35) against the local API server, with a test CRD carrying CEL rules and columns."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from localcluster.apiserver import ApiServer

REPO = Path(__file__).resolve().parents[3]
KUBECTL = REPO / ".tools" / "bin" / "kubectl"

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl not fetched (make tools)")

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.example.com
spec:
  group: test.example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [gadgets]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: Desired state of the widget.
            x-kubernetes-validations:
            - {rule: "self.size <= self.maxSize", message: "size must not exceed maxSize"}
            properties:
              size: {type: integer, minimum: 0, description: How many parts the widget has.}
              maxSize: {type: integer, default: 10, description: Upper bound for size.}
              color: {type: string, enum: [red, blue], description: Paint colour.}
          status:
            type: object
            properties:
              phase: {type: string}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
"""


def widget(name: str, **spec: object) -> str:
    return json.dumps(
        {"apiVersion": "test.example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}
    )


@pytest.fixture(scope="module")
def crd(local_apiserver) -> None:
    result = subprocess.run(
        [str(KUBECTL), "apply", "-f", "-"],
        input=WIDGET_CRD,
        capture_output=True,
        text=True,
        env=local_apiserver.env,
    )
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


class Lines:
    """Reads a subprocess's stdout lines on a thread so tests can wait for one with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def next(self, timeout: float = 10.0) -> str:
        return self._lines.get(timeout=timeout)


def test_apply_client_side_get_table_columns_and_yaml(crd, kubectl, namespace):
    created = kubectl("apply", "-n", namespace, "-f", "-", input=widget("w1", size=3, color="red"))
    assert "widget.test.example.com/w1 created" in created.stdout
    table = kubectl("get", "widgets", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "COLOR", "READY", "AGE"]
    assert table[1].split()[:3] == ["w1", "3", "red"]
    obj = yaml.safe_load(kubectl("get", "wd", "w1", "-n", namespace, "-o", "yaml").stdout)
    assert obj["spec"] == {"size": 3, "color": "red", "maxSize": 10}  # default applied by the server
    assert obj["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    unchanged = kubectl("apply", "-n", namespace, "-f", "-", input=widget("w1", size=3, color="red"))
    assert "unchanged" in unchanged.stdout


def test_apply_server_side_of_a_crd_and_objects(kubectl, namespace):
    gizmo_crd = WIDGET_CRD.replace("widgets", "gizmos").replace("Widget", "Gizmo").replace("widget", "gizmo")
    gizmo_crd = gizmo_crd.replace("shortNames: [wd]", "shortNames: [gz]")
    applied = kubectl("apply", "--server-side", "-f", "-", input=gizmo_crd)
    assert "gizmos.test.example.com serverside-applied" in applied.stdout
    body = json.dumps(
        {
            "apiVersion": "test.example.com/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g1"},
            "spec": {"size": 2},
        }
    )
    assert (
        "serverside-applied"
        in kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=body).stdout
    )
    obj = json.loads(
        kubectl("get", "gz", "g1", "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    )
    assert obj["spec"]["size"] == 2
    managers = {entry["manager"] for entry in obj["metadata"].get("managedFields", [])}
    assert "kubectl" in managers
    resized = body.replace('"size": 2', '"size": 5')
    clash = kubectl(
        "apply",
        "--server-side",
        "--field-manager=robot",
        "-n",
        namespace,
        "-f",
        "-",
        input=resized,
        check=False,
    )
    assert clash.returncode != 0
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl"' in clash.stderr
        and ".spec.size" in clash.stderr
    )
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=robot",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=resized,
    )
    assert kubectl("get", "gz", "g1", "-n", namespace, "-o", "jsonpath={.spec.size}").stdout == "5"


def test_invalid_object_is_rejected_like_kube_apiserver(crd, kubectl, namespace):
    result = kubectl(
        "apply", "-n", namespace, "-f", "-", input=widget("bad", size=30, color="green"), check=False
    )
    assert result.returncode != 0
    assert 'The Widget "bad" is invalid: ' in result.stderr
    assert '* spec.color: Unsupported value: "green": supported values: "red", "blue"' in result.stderr
    # As kube-apiserver: after an unsupported value, no CEL rule runs, and the answer says so.
    assert "size must not exceed maxSize" not in result.stderr
    assert (
        '* <nil>: Invalid value: "null": some validation rules were not checked because the object was '
        "invalid; correct the existing errors to complete validation"
    ) in result.stderr
    rule = kubectl("apply", "-n", namespace, "-f", "-", input=widget("bad", size=30), check=False)
    assert rule.returncode != 0
    assert "size must not exceed maxSize" in rule.stderr
    unknown = kubectl(
        "create", "-n", namespace, "-f", "-", input=widget("odd", size=1, shape="round"), check=False
    )
    assert unknown.returncode != 0
    assert 'unknown field "spec.shape"' in unknown.stderr


def test_explain_prints_crd_field_descriptions(crd, kubectl):
    explained = kubectl("explain", "widget.spec").stdout
    assert "Desired state of the widget." in explained
    assert "How many parts the widget has." in explained
    assert "enum: red, blue" in explained


def test_get_watch_sees_a_change(crd, kubectl, local_apiserver, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("watched", size=1, color="blue"))
    process = subprocess.Popen(
        [str(KUBECTL), "get", "wd", "-n", namespace, "-w"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=local_apiserver.env,
    )
    try:
        lines = Lines(process)
        assert lines.next().split()[:2] == ["NAME", "SIZE"]
        assert lines.next().split()[:3] == ["watched", "1", "blue"]
        kubectl("patch", "wd", "watched", "-n", namespace, "--type=merge", "-p", '{"spec":{"size":7}}')
        assert lines.next().split()[:3] == ["watched", "7", "blue"]
    finally:
        process.kill()
        process.wait()


def test_patch_types_and_status_subresource(crd, kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("p", size=1, color="red"))
    kubectl("patch", "wd", "p", "-n", namespace, "--type=merge", "-p", '{"spec":{"size":2}}')
    kubectl(
        "patch",
        "wd",
        "p",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/color","value":"blue"}]',
    )
    kubectl(
        "patch",
        "wd",
        "p",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Up"}}',
    )
    ignored = kubectl(
        "patch", "wd", "p", "-n", namespace, "--type=merge", "-p", '{"status":{"phase":"Ignored"}}'
    )
    assert "no change" in ignored.stdout
    obj = json.loads(kubectl("get", "wd", "p", "-n", namespace, "-o", "json").stdout)
    assert obj["spec"]["size"] == 2 and obj["spec"]["color"] == "blue"
    assert obj["status"] == {"phase": "Up"}
    assert obj["metadata"]["generation"] == 3
    strategic = kubectl("patch", "wd", "p", "-n", namespace, "-p", '{"spec":{"size":3}}', check=False)
    assert strategic.returncode != 0
    assert "the body of the request was in an unknown format" in strategic.stderr  # the server's 415
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pp"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "env": [{"name": "A", "value": "1"}]}]},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    kubectl(
        "patch",
        "pod",
        "pp",
        "-n",
        namespace,
        "-p",
        '{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}',
    )
    patched = json.loads(kubectl("get", "pod", "pp", "-n", namespace, "-o", "json").stdout)
    assert patched["spec"]["containers"][0]["image"] == "busybox:2"
    assert patched["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]


def test_wait_for_condition_on_status_patch(crd, kubectl, local_apiserver, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("ready", size=1, color="red"))
    waiter = subprocess.Popen(
        [str(KUBECTL), "wait", "-n", namespace, "--for=condition=Ready", "wd/ready", "--timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=local_apiserver.env,
    )
    try:
        status = '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}'
        kubectl("patch", "wd", "ready", "-n", namespace, "--subresource=status", "--type=merge", "-p", status)
        out, err = waiter.communicate(timeout=25)
    finally:
        waiter.kill()
    assert waiter.returncode == 0, err
    assert "condition met" in out
    table = kubectl("get", "wd", "ready", "-n", namespace).stdout.splitlines()
    assert table[1].split()[3] == "True"


def test_describe_shows_object_and_events(crd, kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", input=widget("d", size=4, color="blue"))
    uid = kubectl("get", "wd", "d", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "d-"},
        "involvedObject": {
            "apiVersion": "test.example.com/v1",
            "kind": "Widget",
            "name": "d",
            "namespace": namespace,
            "uid": uid,
        },
        "reason": "Painted",
        "message": "painted blue",
        "type": "Normal",
        "count": 1,
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:00:00Z",
        "source": {"component": "painter"},
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(event))
    described = kubectl("describe", "wd", "d", "-n", namespace).stdout
    assert "Size:" in described and "4" in described
    assert "Painted" in described and "painted blue" in described


def test_delete_with_cascade(kubectl, local_apiserver, namespace, wait_for):
    owner = json.loads(
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            "-o",
            "json",
            input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
        ).stdout
    )
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    for child in ("c1", "c2"):
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": child, "ownerReferences": [ref]},
        }
        kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))
    assert (
        'configmap "owner" deleted'
        in kubectl("delete", "cm", "owner", "-n", namespace, "--cascade=foreground").stdout
    )
    left = kubectl("get", "cm", "-n", namespace, "-o", "name").stdout.split()
    assert "configmap/c1" not in left and "configmap/owner" not in left
    orphan_owner = json.loads(
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            "-o",
            "json",
            input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner2"}}),
        ).stdout
    )
    ref2 = {**ref, "name": "owner2", "uid": orphan_owner["metadata"]["uid"]}
    kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept", "ownerReferences": [ref2]}}
        ),
    )
    kubectl("delete", "cm", "owner2", "-n", namespace, "--cascade=orphan")
    kept = json.loads(kubectl("get", "cm", "kept", "-n", namespace, "-o", "json").stdout)
    assert not kept["metadata"].get("ownerReferences")


def test_api_resources_lists_builtins_and_crds(crd, kubectl):
    rows = [line.split() for line in kubectl("api-resources").stdout.splitlines()]
    names = {row[0]: row for row in rows}
    assert names["widgets"][1:4] == ["wd", "test.example.com/v1", "true"]
    assert names["pods"][1:3] == ["po", "v1"]
    for expected in ("configmaps", "secrets", "leases", "customresourcedefinitions", "roles", "events"):
        assert expected in names
    assert kubectl("get", "gadgets", "-A").returncode == 0


def test_logs_of_a_pod_from_the_kubelet_log_file(kubectl, local_apiserver, namespace):
    from localcluster.apiserver import pod_log_path

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "talker"},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    created = json.loads(
        kubectl("create", "-n", namespace, "-o", "json", "-f", "-", input=json.dumps(pod)).stdout
    )
    server: ApiServer = local_apiserver.server
    path = pod_log_path(server.state_dir, namespace, "talker", created["metadata"]["uid"], "main")
    path.parent.mkdir(parents=True)
    path.write_text("one\ntwo\nthree\n")
    assert kubectl("logs", "talker", "-n", namespace).stdout == "one\ntwo\nthree\n"
    assert kubectl("logs", "talker", "-n", namespace, "--tail=1").stdout == "three\n"


def test_imperative_create_commands_send_protobuf_bodies(kubectl, namespace):
    kubectl("create", "secret", "generic", "s", "-n", namespace, "--from-literal=user=ada", "--type=Opaque")
    kubectl("create", "configmap", "c", "-n", namespace, "--from-literal=k=v")
    kubectl("create", "serviceaccount", "robot", "-n", namespace)
    secret = json.loads(kubectl("get", "secret", "s", "-n", namespace, "-o", "json").stdout)
    assert secret["data"] == {"user": "YWRh"} and secret["type"] == "Opaque"
    assert "generateName" not in secret["metadata"]
    assert json.loads(kubectl("get", "cm", "c", "-n", namespace, "-o", "json").stdout)["data"] == {"k": "v"}
    assert kubectl("get", "sa", "robot", "-n", namespace).returncode == 0
    assert 'secret "s" deleted' in kubectl("delete", "secret", "s", "-n", namespace).stdout


def test_project_crds_apply_and_get_by_category(kubectl):
    crd_files = sorted((REPO / "crds").glob("*.yaml"))
    if not crd_files:
        pytest.skip("no generated CRDs in crds/")
    for path in crd_files:
        kubectl("apply", "-f", str(path))
    kubectl("api-resources")  # refreshes kubectl's discovery cache, as after any CRD install
    result = kubectl("get", "otp", "-A")
    assert result.returncode == 0
    assert "No resources found" in result.stderr or result.stdout
