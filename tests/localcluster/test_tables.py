"""Table rendering: age formatting, CRD printer columns and the built-in kinds' columns."""

from datetime import UTC, datetime, timedelta

import pytest

from localcluster.apiserver.jsonpath import JSONPathError
from localcluster.apiserver.tables import (
    BUILTIN_COLUMNS,
    columns_for_kind,
    columns_from_crd,
    human_duration,
    render_table,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (4, "4s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (5 * 3600 + 30 * 60, "5h30m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (2 * 86400, "2d"),
        (2 * 86400 + 3 * 3600, "2d3h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds, text):
    assert human_duration(seconds) == text


def agent(name: str, created: str, **status) -> dict:
    return {
        "apiVersion": "otp.example.com/v1",
        "kind": "Agent",
        "metadata": {"name": name, "namespace": "default", "creationTimestamp": created, "uid": "u-" + name},
        "spec": {"children": [{"name": "planner"}, {"name": "coder"}], "replicas": 2},
        "status": status,
    }


CRD_VERSION = {
    "name": "v1",
    "additionalPrinterColumns": [
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Children", "type": "string", "jsonPath": ".spec.children[*].name", "priority": 1},
        {"name": "Healthy", "type": "boolean", "jsonPath": ".status.healthy"},
        {"name": "Score", "type": "number", "jsonPath": ".status.score", "description": "How well it does."},
        {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ],
}


def test_crd_printer_columns_render_like_kube_apiserver():
    objects = [
        agent(
            "a1",
            ago(seconds=4),
            phase="Running",
            conditions=[{"type": "Ready", "status": "True"}],
            healthy=True,
            score=3,
            startedAt=ago(minutes=3, seconds=2),
        ),
        agent("a2", ago(days=2, hours=3), healthy="yes"),
    ]
    table = render_table(objects, columns_from_crd(CRD_VERSION), NOW, list_metadata={"resourceVersion": "42"})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    definitions = table["columnDefinitions"]
    assert [(d["name"], d["type"], d["format"], d["priority"]) for d in definitions] == [
        ("Name", "string", "name", 0),
        ("Phase", "string", "", 0),
        ("Ready", "string", "", 0),
        ("Replicas", "integer", "", 0),
        ("Children", "string", "", 1),
        ("Healthy", "boolean", "", 0),
        ("Score", "number", "", 0),
        ("Started", "date", "", 0),
        ("Age", "date", "", 0),
    ]
    assert (
        definitions[1]["description"]
        == "Custom resource definition column (in JSONPath format): .status.phase"
    )
    assert definitions[6]["description"] == "How well it does."
    first, second = (row["cells"] for row in table["rows"])
    # A multi-valued path shows its first value, as kube-apiserver does.
    assert first == ["a1", "Running", "True", 2, "planner", True, 3.0, "3m2s", "4s"]
    # Missing values and values of the wrong type are empty cells.
    assert second == ["a2", None, None, 2, "planner", None, None, None, "2d3h"]
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": objects[0]["metadata"],
    }


def test_crd_without_printer_columns_gets_age_only():
    table = render_table([agent("a1", ago(hours=5))], columns_from_crd({"name": "v1"}), NOW)
    assert [d["name"] for d in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["a1", "5h"]


def test_string_columns_print_non_strings_as_kubectl_does():
    version = {"additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.replicas"}]}
    columns = columns_from_crd(version)
    obj = agent("a", ago(seconds=1))
    assert render_table([obj], columns, NOW)["rows"][0]["cells"][1] == "2"
    obj["spec"]["replicas"] = {"min": 1}
    assert render_table([obj], columns, NOW)["rows"][0]["cells"][1] == '{"min":1}'


def test_invalid_printer_column_path_is_reported():
    with pytest.raises(JSONPathError):
        columns_from_crd({"additionalPrinterColumns": [{"name": "X", "type": "string", "jsonPath": ".a["}]})


def test_include_object_choices_and_validation():
    obj = agent("a1", ago(seconds=1))
    columns = columns_from_crd({})
    assert render_table([obj], columns, NOW, include_object="None")["rows"][0]["object"] is None
    assert render_table([obj], columns, NOW, include_object="Object")["rows"][0]["object"] == obj
    with pytest.raises(ValueError, match="includeObject must be one of None, Metadata, Object"):
        render_table([obj], columns, NOW, include_object="Everything")
    with pytest.raises(ValueError, match="timezone-aware"):
        render_table([obj], columns, datetime(2025, 1, 1))  # a naive time: the mistake under test


def pod(phase="Running", containers=None, statuses=None, **extra):
    return {
        "kind": "Pod",
        "metadata": {"name": "web", "creationTimestamp": ago(minutes=5), **extra.pop("metadata", {})},
        "spec": {"containers": containers or [{"name": "app"}], "nodeName": "local", **extra.pop("spec", {})},
        "status": {"phase": phase, "podIP": "127.0.1.5", **extra},
    }


def running(name="app", ready=True, restarts=0, last_finished=None):
    status = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": ago(minutes=4)}},
    }
    if last_finished:
        status["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_finished}}
    return status


def pod_cells(obj):
    return render_table([obj], BUILTIN_COLUMNS["Pod"], NOW)["rows"][0]["cells"]


def test_pod_columns_and_wide_columns():
    table = render_table([pod(containerStatuses=[running()])], BUILTIN_COLUMNS["Pod"], NOW)
    names = [(d["name"], d["priority"]) for d in table["columnDefinitions"]]
    assert names == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    assert table["rows"][0]["cells"] == [
        "web",
        "1/1",
        "Running",
        "0",
        "5m",
        "127.0.1.5",
        "local",
        "<none>",
        "<none>",
    ]


@pytest.mark.parametrize(
    ("obj", "ready", "status"),
    [
        (pod("Pending"), "0/1", "Pending"),
        (
            pod(
                "Pending",
                containerStatuses=[{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}],
            ),
            "0/1",
            "ContainerCreating",
        ),
        (pod("Running", containerStatuses=[running(ready=False)]), "0/1", "Running"),
        (
            pod(
                "Succeeded",
                containerStatuses=[
                    {"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
                ],
            ),
            "0/1",
            "Completed",
        ),
        (
            pod(
                "Failed",
                containerStatuses=[
                    {"name": "app", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
                ],
            ),
            "0/1",
            "Error",
        ),
        (
            pod("Failed", containerStatuses=[{"name": "app", "state": {"terminated": {"exitCode": 3}}}]),
            "0/1",
            "ExitCode:3",
        ),
        (
            pod(
                "Failed",
                containerStatuses=[{"name": "app", "state": {"terminated": {"exitCode": 137, "signal": 9}}}],
            ),
            "0/1",
            "Signal:9",
        ),
        (
            pod(
                "Running",
                containerStatuses=[running(), running("side", ready=False)],
                containers=[{"name": "app"}, {"name": "side"}],
            ),
            "1/2",
            "Running",
        ),
        (
            pod("Running", metadata={"deletionTimestamp": ago(seconds=1)}, containerStatuses=[running()]),
            "1/1",
            "Terminating",
        ),
        (pod("Succeeded", metadata={"deletionTimestamp": ago(seconds=1)}), "0/1", "Succeeded"),
        (pod("Failed", reason="Evicted"), "0/1", "Evicted"),
    ],
)
def test_pod_status_column(obj, ready, status):
    cells = pod_cells(obj)
    assert (cells[1], cells[2]) == (ready, status)


def test_completed_container_next_to_a_running_one_shows_running_or_not_ready():
    statuses = [
        {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        running("app"),
    ]
    containers = [{"name": "app"}, {"name": "job"}]
    ready_pod = pod(
        "Running",
        containers=containers,
        containerStatuses=statuses,
        conditions=[{"type": "Ready", "status": "True"}],
    )
    assert pod_cells(ready_pod)[2] == "Running"
    assert pod_cells(pod("Running", containers=containers, containerStatuses=statuses))[2] == "NotReady"


def test_init_container_states():
    spec = {"initContainers": [{"name": "migrate"}, {"name": "seed"}]}
    waiting = pod("Pending", spec=spec, initContainerStatuses=[{"name": "migrate", "state": {"running": {}}}])
    assert pod_cells(waiting)[2] == "Init:0/2"
    failed = pod(
        "Pending",
        spec=spec,
        initContainerStatuses=[
            {"name": "migrate", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
        ],
    )
    assert pod_cells(failed)[2] == "Init:Error"
    crash = pod(
        "Pending",
        spec=spec,
        initContainerStatuses=[
            {"name": "migrate", "state": {"terminated": {"exitCode": 0}}},
            {"name": "seed", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
        ],
    )
    assert pod_cells(crash)[2] == "Init:CrashLoopBackOff"
    sidecar_spec = {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}
    sidecar = pod(
        "Running",
        spec=sidecar_spec,
        initContainerStatuses=[{"name": "proxy", "started": True, "ready": True, "state": {"running": {}}}],
        containerStatuses=[running()],
        conditions=[{"type": "Initialized", "status": "True"}],
    )
    # A restartable init container (sidecar) counts towards Ready like an ordinary container.
    assert pod_cells(sidecar)[1:3] == ["2/2", "Running"]


def test_restarts_show_when_the_last_one_happened():
    obj = pod(containerStatuses=[running(restarts=3, last_finished=ago(minutes=2, seconds=5))])
    assert pod_cells(obj)[3] == "3 (2m5s ago)"
    assert pod_cells(pod(containerStatuses=[running(restarts=1)]))[3] == "1"


def test_readiness_gates_and_pod_ips():
    obj = pod(
        containerStatuses=[running()],
        spec={"readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]},
        conditions=[{"type": "a", "status": "True"}, {"type": "b", "status": "False"}],
        podIPs=[{"ip": "127.0.1.9"}],
    )
    cells = pod_cells(obj)
    assert cells[5] == "127.0.1.9"
    assert cells[8] == "1/2"


def rows(kind, *objects):
    table = render_table(list(objects), columns_for_kind(kind), NOW)
    return [d["name"] for d in table["columnDefinitions"]], [r["cells"] for r in table["rows"]]


def meta(name, **extra):
    return {"name": name, "creationTimestamp": ago(hours=1), **extra}


def test_namespace_configmap_secret_service_account_lease():
    assert rows("Namespace", {"metadata": meta("default"), "status": {"phase": "Active"}}) == (
        ["Name", "Status", "Age"],
        [["default", "Active", "60m"]],
    )
    assert rows(
        "ConfigMap", {"metadata": meta("c"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    ) == (
        ["Name", "Data", "Age"],
        [["c", 3, "60m"]],
    )
    assert rows("Secret", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}}) == (
        ["Name", "Type", "Data", "Age"],
        [["s", "Opaque", 1, "60m"]],
    )
    assert rows("ServiceAccount", {"metadata": meta("default")})[1] == [["default", 0, "60m"]]
    assert rows("Lease", {"metadata": meta("l"), "spec": {"holderIdentity": "kopf-1"}})[1] == [
        ["l", "kopf-1", "60m"]
    ]


def test_service_columns():
    svc = {
        "metadata": meta("web"),
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.0.0.7",
            "clusterIPs": ["10.0.0.7"],
            "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}, {"port": 53, "protocol": "UDP"}],
            "selector": {"app": "web", "a": "b"},
        },
    }
    names, cells = rows("Service", svc)
    assert names == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"]
    assert cells == [["web", "NodePort", "10.0.0.7", "<none>", "80:30080/TCP,53/UDP", "60m", "a=b,app=web"]]
    balancer = {"metadata": meta("lb"), "spec": {"type": "LoadBalancer", "ports": []}}
    assert rows("Service", balancer)[1][0][2:5] == ["<none>", "<pending>", "<none>"]
    external = {"metadata": meta("x"), "spec": {"type": "ExternalName", "externalName": "example.com"}}
    assert rows("Service", external)[1][0][3] == "example.com"


def test_event_columns_core_and_events_k8s_io():
    core = {
        "apiVersion": "v1",
        "metadata": meta("web.1"),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "Started",
        "type": "Normal",
        "message": " Started container app \n",
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(seconds=30),
        "count": 4,
        "source": {"component": "kubelet", "host": "local"},
    }
    names, cells = rows("Event", core)
    assert names == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ]
    assert cells == [
        [
            "30s",
            "Normal",
            "Started",
            "pod/web",
            "spec.containers{app}",
            "kubelet, local",
            "Started container app",
            "10m",
            4,
            "web.1",
        ]
    ]
    modern = {
        "apiVersion": "events.k8s.io/v1",
        "metadata": meta("kopf-event-x"),
        "regarding": {"kind": "Agent", "name": "a1"},
        "note": "Handler succeeded",
        "reason": "Logging",
        "type": "Normal",
        "eventTime": ago(seconds=7),
        "reportingController": "kopf",
    }
    assert rows("Event", modern)[1] == [
        ["7s", "Normal", "Logging", "agent/a1", "", "kopf", "Handler succeeded", "7s", 1, "kopf-event-x"]
    ]
    series = {**modern, "series": {"count": 5, "lastObservedTime": ago(seconds=2)}}
    assert rows("Event", series)[1][0][0] == "2s" and rows("Event", series)[1][0][8] == 5


def test_node_columns():
    node = {
        "metadata": meta("local", labels={"node-role.kubernetes.io/control-plane": ""}),
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "nodeInfo": {"kubeletVersion": "v1.35.0-local"},
        },
    }
    names, cells = rows("Node", node)
    assert names[:5] == ["Name", "Status", "Roles", "Age", "Version"]
    assert cells == [
        [
            "local",
            "Ready,SchedulingDisabled",
            "control-plane",
            "60m",
            "v1.35.0-local",
            "127.0.0.1",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>",
        ]
    ]


def test_rbac_crd_and_unknown_kinds():
    binding = {
        "metadata": meta("b"),
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "ann"},
            {"kind": "ServiceAccount", "name": "op", "namespace": "sys"},
            {"kind": "Group", "name": "devs"},
        ],
    }
    assert rows("RoleBinding", binding) == (
        ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"],
        [["b", "ClusterRole/view", "60m", "ann", "devs", "sys/op"]],
    )
    created = {"metadata": {"name": "agents.otp.example.com", "creationTimestamp": "2025-05-01T08:09:10Z"}}
    assert rows("CustomResourceDefinition", created) == (
        ["Name", "Created At"],
        [["agents.otp.example.com", "2025-05-01T08:09:10Z"]],
    )
    assert rows("Role", created)[0] == ["Name", "Created At"]
    assert rows("SomethingElse", created)[0] == ["Name", "Created At"]


def test_deployment_and_endpoints_columns():
    deployment = {
        "metadata": meta("d"),
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "d"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "template": {
                "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log:2"}]}
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert rows("Deployment", deployment)[1] == [
        ["d", "2/3", 3, 2, "60m", "app,log", "app:1,log:2", "app=d,tier in (a,b)"]
    ]
    endpoints = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": f"127.0.1.{i}"} for i in range(1, 6)], "ports": [{"port": 8080}]}],
    }
    assert rows("Endpoints", endpoints)[1] == [
        ["web", "127.0.1.1:8080,127.0.1.2:8080,127.0.1.3:8080 + 2 more...", "60m"]
    ]
    assert rows("Endpoints", {"metadata": meta("none")})[1] == [["none", "<none>", "60m"]]


def test_missing_creation_timestamp_is_unknown_age():
    assert rows("ConfigMap", {"metadata": {"name": "c"}})[1] == [["c", 0, "<unknown>"]]
    assert rows("ConfigMap", {"metadata": {"name": "c", "creationTimestamp": "yesterday"}})[1] == [
        ["c", 0, "<invalid>"]
    ]
