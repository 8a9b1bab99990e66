"""Worker children: their pod and Service manifests, their projection onto the core, and how their pods are
observed (never as pods that restart in place)."""

from __future__ import annotations

from typing import Any

import pytest

from agent_supervisor import api, supervision
from agent_supervisor.supervision import ChildKind, ChildLifecycle, ChildState, StartChild, SupervisorState
from agent_supervisor.translate import in_place, incarnations, labels, observe, projection, worker_pod
from agent_supervisor.translate.projection import InvalidResourceError
from agent_supervisor.translate.settings import OperatorSettings

SETTINGS = OperatorSettings(default_image="agent-runtime:dev", image_pull_policy="IfNotPresent")
GRACE = supervision.ShutdownPolicy.timeout(7)


def worker(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": "ghcr.io/example/tools:1.2",
        "command": ["python", "-m", "tools"],
        "args": ["--port", "8000"],
        "env": [
            {"name": "MODE", "value": "fast"},
            # Named like a secret, but a plain value: that is the user's choice, and allowed.
            {"name": "API_TOKEN_HINT", "value": "see the vault"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tools", "key": "token"}}},
        ],
        "envFrom": [
            {"secretRef": {"name": "tools-secrets"}, "prefix": "T_"},
            {"configMapRef": {"name": "cfg"}},
        ],
        "ports": [{"name": "http", "containerPort": 8000}, {"name": "metrics", "containerPort": 9000}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2},
        "resources": {"limits": {"memory": "128Mi"}},
    }
    body.update(overrides)
    return body


def children(**overrides: Any) -> list[dict[str, Any]]:
    return [
        {"name": "tools", "worker": worker(**overrides), "shutdown": {"graceSeconds": 7}},
        {"name": "a", "agent": {"model": {"endpoint": "http://m:8000/v1", "name": "m"}, "systemPrompt": "x"}},
    ]


@pytest.fixture
def team(make_supervisor) -> api.AgentSupervisor:
    return make_supervisor("team", children())


def the_container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    assert isinstance(only, dict)
    return only


# --- the pod -----------------------------------------------------------------------------------------------


def test_the_worker_pod_is_one_incarnation_owned_by_the_supervisor_with_restricted_security(team):
    pod = worker_pod.pod(team, "tools", 4, "h1", GRACE, SETTINGS)
    meta = pod["metadata"]
    assert meta["name"] == "team-tools-4"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": api.API_VERSION,
            "kind": "AgentSupervisor",
            "name": "team",
            "uid": "uid-team",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["automountServiceAccountToken"] is False
    assert spec["terminationGracePeriodSeconds"] == 7
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": SETTINGS.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = the_container(pod)
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": SETTINGS.run_as_user,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # A read-only root needs a writable /tmp.
    assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_the_worker_pod_runs_the_given_program_with_its_ports_probe_and_resources(team):
    container = the_container(worker_pod.pod(team, "tools", 4, "h1", GRACE, SETTINGS))
    assert container["image"] == "ghcr.io/example/tools:1.2"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert (container["command"], container["args"]) == (["python", "-m", "tools"], ["--port", "8000"])
    assert container["ports"] == [
        {"name": "http", "containerPort": 8000, "protocol": "TCP"},
        {"name": "metrics", "containerPort": 9000, "protocol": "TCP"},
    ]
    assert container["readinessProbe"] == {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2}
    assert "livenessProbe" not in container
    assert container["resources"] == {"limits": {"memory": "128Mi"}}


def test_secrets_reach_the_worker_only_by_reference_and_the_downward_api_comes_first(team):
    container = the_container(worker_pod.pod(team, "tools", 4, "h1", GRACE, SETTINGS))
    assert container["env"] == [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "MODE", "value": "fast"},
        {"name": "API_TOKEN_HINT", "value": "see the vault"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "tools", "key": "token"}}},
    ]
    assert container["envFrom"] == [
        {"secretRef": {"name": "tools-secrets"}, "prefix": "T_"},
        {"configMapRef": {"name": "cfg"}},
    ]


def test_the_worker_pod_is_labelled_for_the_index_and_the_service_but_not_as_an_agent(team):
    pod = worker_pod.pod(team, "tools", 4, "h1", GRACE, SETTINGS)
    assert pod["metadata"]["labels"] == {
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.SUPERVISOR: "team",
        labels.CHILD: "tools",
        labels.ROOT: "team",
        labels.WORKER: "team-tools",
        labels.ATTEMPT: "4",
        labels.TEMPLATE_HASH: "h1",
        labels.POD: "team-tools-4",
    }
    # No pod supervisor runs in it, whatever the operator's in-place setting.
    assert "annotations" not in pod["metadata"]


def test_the_security_context_may_change_only_the_user_group_and_root_filesystem(make_supervisor):
    context = {"runAsUser": 1001, "runAsGroup": 1002, "readOnlyRootFilesystem": False}
    sup = make_supervisor("team", children(securityContext=context))
    pod = worker_pod.pod(sup, "tools", 1, "h", supervision.ShutdownPolicy.brutal_kill(), SETTINGS)
    security = the_container(pod)["securityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["readOnlyRootFilesystem"]) == (
        1001,
        1002,
        False,
    )
    assert (security["runAsNonRoot"], security["allowPrivilegeEscalation"], security["privileged"]) == (
        True,
        False,
        False,
    )
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["spec"]["terminationGracePeriodSeconds"] == 1  # never 0: a force deletion
    for forbidden in ({"runAsUser": 0}, {"privileged": True}, {"capabilities": {"add": ["NET_ADMIN"]}}):
        with pytest.raises(InvalidResourceError) as refused:
            make_supervisor("team", children(securityContext=forbidden))
        assert refused.value.problems[0].field.startswith("spec.children[0].worker.securityContext")


# --- the Service -------------------------------------------------------------------------------------------


def test_the_service_is_named_after_the_child_and_selects_the_worker_by_its_label(team):
    service = worker_pod.service(team, "tools")
    assert service is not None
    assert service["metadata"]["name"] == "team-tools"
    assert service["metadata"]["ownerReferences"][0]["uid"] == "uid-team"
    assert service["metadata"]["labels"][labels.SUPERVISOR] == "team"
    assert service["spec"] == {
        "selector": {labels.WORKER: "team-tools"},
        "ports": [
            {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"},
            {"name": "metrics", "port": 9000, "targetPort": "metrics", "protocol": "TCP"},
        ],
    }
    pod = worker_pod.pod(team, "tools", 9, "h", GRACE, SETTINGS)
    selector = service["spec"]["selector"]
    assert selector.items() <= pod["metadata"]["labels"].items(), "every incarnation's pod is selected"


def test_a_worker_without_ports_gets_no_service(make_supervisor):
    sup = make_supervisor("team", children(ports=None, readinessProbe=None))
    assert worker_pod.service(sup, "tools") is None


def test_only_workers_have_worker_manifests(team):
    with pytest.raises(ValueError, match="not a worker"):
        worker_pod.pod(team, "a", 1, "h", GRACE, SETTINGS)


# --- projection and semantic checks ------------------------------------------------------------------------


def test_a_worker_is_a_permanent_worker_kind_child_with_a_5s_grace_by_default(make_supervisor):
    sup = make_supervisor("team", [{"name": "tools", "worker": worker()}])
    (child,) = projection.supervisor_spec(sup).children
    assert child.kind is ChildKind.WORKER
    assert child.restart is supervision.RestartType.PERMANENT
    assert child.shutdown == supervision.ShutdownPolicy.timeout(5)
    assert child.template_hash == projection.worker_hash(sup.spec.children[0].worker)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "change",
    [
        {"image": "ghcr.io/example/tools:1.3"},
        {"args": ["--port", "8001"]},
        {"env": [{"name": "A", "value": "1"}]},
    ],
)
def test_any_change_to_a_worker_changes_its_hash(make_supervisor, change):
    before = projection.supervisor_spec(make_supervisor("team", children())).children[0].template_hash
    after = projection.supervisor_spec(make_supervisor("team", children(**change))).children[0].template_hash
    assert before != after


def test_env_names_the_operator_sets_on_workers_are_refused(make_supervisor):
    sup = make_supervisor("team", children(env=[{"name": "POD_IP", "value": "1.2.3.4"}]))
    problems = projection.semantic_problems(sup)
    assert [problem.field for problem in problems] == ["spec.children[0].worker.env[0].name"]
    assert "use another name" in problems[0].message


def test_the_secrets_a_worker_reads_are_checked_and_named_by_field(make_supervisor):
    sup = make_supervisor("team", children())
    assert projection.referenced_secrets(sup) == {"tools", "tools-secrets"}
    problems = projection.semantic_problems(sup, secrets={"tools": ["other"]})
    assert [(p.field, p.message) for p in problems] == [
        (
            "spec.children[0].worker.env[2].valueFrom.secretKeyRef.key",
            "Secret 'tools' has no key 'token': add it or fix the key",
        ),
        (
            "spec.children[0].worker.envFrom[0].secretRef.name",
            "Secret 'tools-secrets' does not exist: create it or fix the name",
        ),
    ]
    assert projection.semantic_problems(sup, secrets={"tools": ["token"], "tools-secrets": []}) == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"image": None}, "spec.children[0].worker.image", "Field required"),
        ({"image": "tools:1\n"}, "spec.children[0].worker.image", "no whitespace"),
        ({"image": "tools :1"}, "spec.children[0].worker.image", "no whitespace"),
        (
            {"ports": [{"name": "http", "containerPort": 0}]},
            "spec.children[0].worker.ports[0].containerPort",
            "greater than or equal to 1",
        ),
        ({"ports": [{"name": "80", "containerPort": 80}]}, "spec.children[0].worker.ports[0].name", "letter"),
        (
            {"ports": [{"name": "a", "containerPort": 80}, {"name": "b", "containerPort": 80}]},
            "spec.children[0].worker.ports[1].containerPort",
            "must be unique",
        ),
        (
            {"readinessProbe": {"tcpSocket": {"port": "grpc"}}},
            "spec.children[0].worker.readinessProbe.tcpSocket.port",
            "names no port of this worker",
        ),
        (
            {"envFrom": [{"secret": {"TOKEN": "inline"}}]},
            "spec.children[0].worker.envFrom[0].secret",
            "Extra inputs are not permitted",
        ),
    ],
    ids=[
        "no-image",
        "image-newline",
        "image-space",
        "port-zero",
        "port-name",
        "same-port",
        "probe-port",
        "inline",
    ],
)
def test_bad_workers_are_refused_naming_the_field(make_supervisor, overrides, field, message):
    body = worker(**overrides)
    body = {key: value for key, value in body.items() if value is not None}
    with pytest.raises(InvalidResourceError) as refused:
        make_supervisor("team", [{"name": "tools", "worker": body}])
    assert any(p.field == field and message in p.message for p in refused.value.problems), (
        refused.value.problems
    )


def test_a_child_with_two_kinds_is_refused(make_supervisor):
    agent = {"model": {"endpoint": "http://m:8000/v1", "name": "m"}, "systemPrompt": "x"}
    with pytest.raises(InvalidResourceError) as refused:
        make_supervisor("team", [{"name": "both", "worker": worker(), "agent": agent}])
    (problem,) = refused.value.problems
    assert problem.field.startswith("spec.children[0]")
    assert problem.message == "set exactly one of agent, pool, supervisor or worker"


# --- observation -------------------------------------------------------------------------------------------


def running_worker_state(
    attempt: int = 4, lifecycle: ChildLifecycle = ChildLifecycle.RUNNING
) -> SupervisorState:
    return SupervisorState(
        children=[ChildState(name="tools", kind=ChildKind.WORKER, lifecycle=lifecycle, attempt=attempt)]
    )


def observed_pod(team: api.AgentSupervisor, **status: Any) -> dict[str, Any]:
    pod = worker_pod.pod(team, "tools", 4, "h1", GRACE, SETTINGS)
    pod["metadata"].update(uid="uid-pod", creationTimestamp="2026-01-01T00:00:00Z")
    pod["status"] = status
    return pod


def test_a_worker_is_ready_by_its_pod_and_its_exit_code_is_only_a_number(team):
    ready = observed_pod(team, phase="Running", conditions=[{"type": "Ready", "status": "True"}])
    starting = running_worker_state(lifecycle=ChildLifecycle.STARTING)
    events = observe.events_from_observation(starting, observe.observe([ready]), 1, start_deadline_seconds=60)
    assert events == [supervision.ChildReady("tools", 4)]
    # 75 is the agent runtime's "model unavailable"; from a worker it is an ordinary error.
    terminated = {
        "terminated": {"exitCode": 75, "reason": "Error", "message": '{"reason": "ModelUnavailable"}'}
    }
    ended = observed_pod(team, phase="Failed", containerStatuses=[{"name": "worker", "state": terminated}])
    (event,) = observe.events_from_observation(
        running_worker_state(), observe.observe([ended]), 1, start_deadline_seconds=60
    )
    assert isinstance(event, supervision.ChildExited)
    assert (event.reason, event.exit_code) == (supervision.ExitReason.ABNORMAL, 75)
    assert event.detail.startswith("Error: ")


def test_a_worker_pod_is_never_taken_for_one_that_restarts_in_place(team):
    pod = observed_pod(team, phase="Running", podIP="10.0.0.9")
    # Even with the annotation a pod supervisor's pod carries, a worker pod has no control port...
    pod["metadata"]["annotations"] = {incarnations.CONTROL_PORT: "8081"}
    assert incarnations.control_port(pod) is None
    seen = observe.observe([pod])
    assert not seen["tools"].pods[4].awaiting_report
    # ...and neither a start nor a stop of a worker lands in an existing pod.
    assert in_place.start_host(seen, StartChild("tools", 5, "h1"), ChildKind.WORKER) is None
    stop = supervision.StopChild("tools", 4, GRACE)
    assert in_place.stop_host(running_worker_state(), seen, stop) is None
    assert in_place.releases(running_worker_state(), seen) == []
