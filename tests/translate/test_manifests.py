"""The manifests the operator creates: pod hardening, probes, env, labels and owner references."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from agent_runtime.config import parse_config
from agent_supervisor import api, supervision
from agent_supervisor.translate import agent_pod, labels, manifests, projection
from agent_supervisor.translate.runtime_config import RenderContext, render
from agent_supervisor.translate.settings import OperatorSettings
from tests import rbac
from tests.translate.conftest import agent_body

SETTINGS = OperatorSettings(default_image="agent-runtime:dev")


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def env_by_name(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in container(pod)["env"]}


def owner(manifest: dict[str, Any]) -> dict[str, Any]:
    (ref,) = manifest["metadata"]["ownerReferences"]
    assert isinstance(ref, dict)
    return ref


def test_pod_is_one_incarnation_with_restricted_security(make_agent):
    pod = agent_pod.pod(make_agent("solo"), 3, "abc123", SETTINGS)
    assert pod["metadata"]["name"] == "solo-3"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(pod)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True and security["privileged"] is False
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # A read-only root needs a writable /tmp.
    assert {"name": "tmp", "emptyDir": {}} in spec["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container(pod)["volumeMounts"]


def test_pod_probes_ports_config_and_termination_message(make_agent):
    c = container(agent_pod.pod(make_agent("solo"), 1, "h", SETTINGS))
    assert c["image"] == "agent-runtime:dev"
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "config", "mountPath": "/etc/agent", "readOnly": True} in c["volumeMounts"]


def test_pod_labels_for_a_standalone_agent(make_agent):
    pod = agent_pod.pod(make_agent("solo"), 7, "hash7", SETTINGS)
    assert pod["metadata"]["labels"] == {
        labels.AGENT: "solo",
        labels.SUPERVISOR: "",
        labels.CHILD: "solo",
        labels.ROOT: "solo",
        labels.ATTEMPT: "7",
        labels.TEMPLATE_HASH: "hash7",
        labels.POD: "solo-7",
        labels.MANAGED_BY: "agent-supervisor",
    }
    assert owner(pod) == {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "Agent",
        "name": "solo",
        "uid": "uid-solo",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_pod_labels_for_a_supervised_agent(make_agent):
    agent = make_agent("team-a", labels_={labels.SUPERVISOR: "team", labels.CHILD: "a", labels.ROOT: "root"})
    pod_labels = agent_pod.pod(agent, 2, "h", SETTINGS)["metadata"]["labels"]
    assert (pod_labels[labels.SUPERVISOR], pod_labels[labels.CHILD], pod_labels[labels.ROOT]) == (
        "team",
        "a",
        "root",
    )
    assert pod_labels[labels.AGENT] == "team-a"


def test_secrets_reach_the_pod_only_through_secret_key_refs(make_agent):
    agent = make_agent(
        model={"endpoint": "http://m:1/v1", "name": "m", "apiKeySecretRef": {"name": "mk", "key": "k"}}
    )
    env = env_by_name(agent_pod.pod(agent, 1, "h", SETTINGS))
    assert env["AGENT_MESSAGE_TOKEN"] == {
        "name": "AGENT_MESSAGE_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "solo-messaging", "key": "token"}},
    }
    assert env["AGENT_MODEL_API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "mk", "key": "k"}}
    for name, var in env.items():
        if "TOKEN" in name or "KEY" in name:
            assert "value" not in var, name


def test_downward_api_and_runtime_env(make_agent):
    env = env_by_name(agent_pod.pod(make_agent(), 1, "h", SETTINGS))
    fields = {
        name: var["valueFrom"]["fieldRef"]["fieldPath"]
        for name, var in env.items()
        if "fieldRef" in var.get("valueFrom", {})
    }
    assert fields == {
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "POD_UID": "metadata.uid",
        "POD_IP": "status.podIP",
        "AGENT_HOST": "status.podIP",
    }
    assert env["AGENT_CONFIG"]["value"] == "/etc/agent/config.yaml"
    assert env["AGENT_PORT"]["value"] == "8080"
    assert "AGENT_KUBE_API_URL" not in env
    assert "AGENT_MODEL_API_KEY" not in env


def test_the_operators_otlp_endpoint_reaches_agent_pods_unless_an_agent_names_its_own(make_agent):
    settings = OperatorSettings(default_image="agent-runtime:dev", otlp_endpoint="http://otel.obs:4318")
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in env_by_name(agent_pod.pod(make_agent(), 1, "h", SETTINGS))
    env = env_by_name(agent_pod.pod(make_agent(), 1, "h", settings))
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == {
        "name": "OTEL_EXPORTER_OTLP_ENDPOINT",
        "value": "http://otel.obs:4318",
    }
    for own in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        agent = make_agent(env=[{"name": own, "value": "http://mine:4318"}])
        pod = agent_pod.pod(agent, 1, "h", settings)
        names = [var["name"] for var in container(pod)["env"]]
        assert "http://otel.obs:4318" not in str(pod) and names.count(own) == 1


def test_messaging_token_of_a_supervised_agent_is_its_roots(make_agent):
    agent = make_agent("team-a", labels_={labels.SUPERVISOR: "team", labels.CHILD: "a", labels.ROOT: "root"})
    ref = env_by_name(agent_pod.pod(agent, 1, "h", SETTINGS))["AGENT_MESSAGE_TOKEN"]["valueFrom"][
        "secretKeyRef"
    ]
    assert ref["name"] == "root-messaging"


def test_spec_pod_settings_are_applied(make_agent):
    agent = make_agent(
        image="custom:1",
        resources={"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
        env=[{"name": "MODE", "value": "fast"}],
        serviceAccountName="robot",
        nodeSelector={"zone": "a"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    )
    settings = OperatorSettings(
        default_image="unused", api_url_for_pods="http://10.0.0.1:6443", image_pull_policy="IfNotPresent"
    )
    pod = agent_pod.pod(agent, 1, "h", settings)
    c = container(pod)
    assert c["image"] == "custom:1" and c["imagePullPolicy"] == "IfNotPresent"
    assert c["resources"] == {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}}
    assert c["env"][-1] == {"name": "MODE", "value": "fast"}  # user env last
    assert env_by_name(pod)["AGENT_KUBE_API_URL"]["value"] == "http://10.0.0.1:6443"
    assert pod["spec"]["serviceAccountName"] == "robot"
    assert pod["spec"]["nodeSelector"] == {"zone": "a"}
    assert pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("policy", "grace"),
    [
        # Not 0: the API server would forget the pod before its process is dead (a force deletion).
        (supervision.ShutdownPolicy.brutal_kill(), 1),
        (supervision.ShutdownPolicy.timeout(17), 17),
        (supervision.ShutdownPolicy.infinity(), None),
    ],
)
def test_grace_period_follows_the_shutdown_policy_the_child_was_started_with(make_agent, policy, grace):
    pod = agent_pod.pod(make_agent(shutdown={"graceSeconds": 99}), 1, "h", SETTINGS, shutdown=policy)
    assert pod["spec"].get("terminationGracePeriodSeconds") == grace


def test_standalone_grace_period_comes_from_the_agent(make_agent):
    assert agent_pod.pod(make_agent(), 1, "h", SETTINGS)["spec"]["terminationGracePeriodSeconds"] == 5
    brutal = make_agent(shutdown={"brutalKill": True})
    assert agent_pod.pod(brutal, 1, "h", SETTINGS)["spec"]["terminationGracePeriodSeconds"] == 1


def test_config_map_holds_the_rendered_config(make_agent):
    agent = make_agent()
    rendered = render(agent, RenderContext(namespace="team-ns"))
    cm = manifests.config_map(agent, rendered)
    assert cm["metadata"]["name"] == "solo-config"
    assert cm["metadata"]["annotations"] == {labels.CONFIG_REVISION: rendered.revision}
    assert parse_config(yaml.safe_load(cm["data"]["config.yaml"])).revision == rendered.revision
    assert owner(cm)["kind"] == "Agent"


def test_service_selects_the_agents_pods_by_name(make_agent):
    svc = manifests.service(make_agent("solo"), SETTINGS)
    assert svc["metadata"]["name"] == "solo"
    assert svc["spec"]["selector"] == {labels.AGENT: "solo"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = agent_pod.pod(make_agent("solo"), 1, "h", SETTINGS)["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()


def test_checkpoint_objects_grant_access_to_one_config_map_only(make_agent):
    agent = make_agent("solo")
    cm = manifests.checkpoint_config_map(agent)
    role = manifests.checkpoint_role(agent)
    binding = manifests.checkpoint_role_binding(agent)
    assert (
        cm["metadata"]["name"] == role["metadata"]["name"] == binding["metadata"]["name"] == "solo-checkpoint"
    )
    assert "data" not in cm  # the runtime writes it; the operator only creates it
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["solo-checkpoint"],
            "verbs": ["get", "update"],
        }
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "solo-checkpoint",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "solo-agent", "namespace": "team-ns"}]


def test_each_agent_runs_as_its_own_service_account_owned_by_it(make_agent):
    agent = make_agent("solo")
    account = manifests.service_account(agent)
    assert account["kind"] == "ServiceAccount"
    assert account["metadata"]["name"] == "solo-agent"
    assert owner(account)["uid"] == "uid-solo"  # garbage-collected with the Agent
    assert agent_pod.pod(agent, 1, "h", SETTINGS)["spec"]["serviceAccountName"] == "solo-agent"


def test_an_agent_naming_its_service_account_runs_as_it_and_gets_no_binding(make_agent):
    agent = make_agent("solo", serviceAccountName="robot")
    assert agent_pod.pod(agent, 1, "h", SETTINGS)["spec"]["serviceAccountName"] == "robot"
    # Its Role still exists for the user to bind; the operator binds no account it did not create.
    assert manifests.checkpoint_role(agent)["rules"][0]["resourceNames"] == ["solo-checkpoint"]
    with pytest.raises(ValueError, match="names its own ServiceAccount"):
        manifests.checkpoint_role_binding(agent)


def _identity_objects(agent: api.Agent) -> list[dict[str, Any]]:
    return [manifests.checkpoint_role(agent), manifests.checkpoint_role_binding(agent)]


@given(
    first=st.from_regex(r"[a-z][a-z0-9]{0,20}", fullmatch=True),
    second=st.from_regex(r"[a-z][a-z0-9]{0,20}", fullmatch=True),
)
def test_an_agents_identity_can_write_its_own_checkpoint_and_no_other(first: str, second: str) -> None:
    assume(first != second)
    a, b = (projection.parse_agent(agent_body(name)) for name in (first, second))
    objects = _identity_objects(a) + _identity_objects(b)
    for agent, other in ((a, b), (b, a)):
        mine = agent_pod.pod(agent, 1, "h", SETTINGS)["spec"]["serviceAccountName"]
        subject = ("team-ns", mine)
        own, theirs = (
            labels.checkpoint_name(agent.metadata.name or ""),
            labels.checkpoint_name(other.metadata.name or ""),
        )
        assert all(rbac.allowed(objects, subject, verb, "configmaps", own) for verb in ("get", "update"))
        assert not any(
            rbac.allowed(objects, subject, verb, "configmaps", theirs)
            for verb in ("get", "update", "patch", "delete")
        )
        # The namespace's shared account, which every other workload runs as, can write no checkpoint.
        assert not rbac.allowed(objects, ("team-ns", "default"), "update", "configmaps", own)


def test_messaging_secret_belongs_to_the_root(make_supervisor):
    secret = manifests.messaging_secret(make_supervisor("team"), "s3cret")
    assert secret["metadata"]["name"] == "team-messaging"
    assert secret["stringData"] == {"token": "s3cret"}
    assert owner(secret)["kind"] == "AgentSupervisor"
    with pytest.raises(ValueError, match="token"):
        manifests.messaging_secret(make_supervisor("team"), "")


def test_child_agent_is_the_template_with_the_childs_policy(make_supervisor, bodies):
    sup = make_supervisor(
        "team",
        children=[{"name": "w", "agent": bodies.template(task="t"), "shutdown": {"brutalKill": True}}],
    )
    child = manifests.child_agent(sup, "w")
    assert child["kind"] == "Agent"
    assert child["metadata"]["name"] == "team-w"
    assert child["metadata"]["labels"] == {
        labels.MANAGED_BY: "agent-supervisor",
        labels.SUPERVISOR: "team",
        labels.CHILD: "w",
        labels.ROOT: "team",
    }
    assert child["metadata"]["annotations"] == {labels.SUPERVISOR_PATH: "team"}
    assert owner(child) == {**owner(child), "kind": "AgentSupervisor", "name": "team", "uid": "uid-team"}
    assert child["spec"]["task"] == "t"
    assert child["spec"]["restart"] == "transient"
    assert child["spec"]["shutdown"] == {"brutalKill": True}
    assert child["spec"]["systemPrompt"] == "You are a test agent."


def test_child_supervisor_carries_its_incarnation_and_path(bodies):
    from agent_supervisor.translate.projection import parse_supervisor

    body = bodies.supervisor(
        "team-sub",
        children=[{"name": "inner", "supervisor": {"children": [{"name": "x", "agent": bodies.template()}]}}],
        strategy="one_for_all",
    )
    body["metadata"]["labels"] = {labels.SUPERVISOR: "team", labels.CHILD: "sub", labels.ROOT: "team"}
    body["metadata"]["annotations"] = {labels.SUPERVISOR_PATH: "team"}
    child = manifests.child_supervisor(parse_supervisor(body), "inner", 5)
    assert child["metadata"]["name"] == "team-sub-inner"
    assert child["metadata"]["annotations"] == {
        labels.SUPERVISOR_PATH: "team/team-sub",
        labels.INCARNATION: "5",
    }
    assert child["metadata"]["labels"][labels.ROOT] == "team"
    assert child["spec"]["children"][0]["name"] == "x"
    assert manifests.incarnation_patch(6) == {"metadata": {"annotations": {labels.INCARNATION: "6"}}}
    assert manifests.stop_patch(6) == {"metadata": {"annotations": {labels.STOP: "6"}}}


def test_child_builders_refuse_the_wrong_kind_or_name(make_supervisor, bodies):
    sup = make_supervisor(
        children=[
            {"name": "a", "agent": bodies.template()},
            {"name": "s", "supervisor": {"children": [{"name": "x", "agent": bodies.template()}]}},
        ]
    )
    with pytest.raises(ValueError, match="is a supervisor"):
        manifests.child_agent(sup, "s")
    with pytest.raises(ValueError, match="is an agent"):
        manifests.child_supervisor(sup, "a", 1)
    with pytest.raises(KeyError, match="no child 'zz'"):
        manifests.child_agent(sup, "zz")


def test_owned_objects_need_the_owners_uid(bodies):
    from agent_supervisor.translate.projection import parse_agent

    body = bodies.agent()
    del body["metadata"]["uid"]
    with pytest.raises(ValueError, match=r"metadata\.uid"):
        agent_pod.pod(parse_agent(body), 1, "h", SETTINGS)
    body = bodies.agent()
    del body["metadata"]["namespace"]
    with pytest.raises(ValueError, match=r"metadata\.namespace"):
        manifests.service(parse_agent(body), SETTINGS)


def test_in_place_pods_run_a_pod_supervisor_that_only_knows_the_tokens_hash(make_agent):
    digest = "ab" * 32
    settings = OperatorSettings(default_image="agent-runtime:dev", control_token_sha256=digest)
    pod = agent_pod.pod(make_agent("solo"), 4, "h", settings)
    env = env_by_name(pod)
    assert env["AGENT_CONTROL_PORT"] == {"name": "AGENT_CONTROL_PORT", "value": "8081"}
    assert env["AGENT_CONTROL_TOKEN_SHA256"]["value"] == digest
    assert env["AGENT_FIRST_ATTEMPT"]["value"] == "4"
    c = container(pod)
    assert {"name": "control", "containerPort": 8081, "protocol": "TCP"} in c["ports"]
    # Liveness asks the pod supervisor, healthy between two incarnations; readiness is the agent's.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "control"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["metadata"]["annotations"] == {"otp.agents.dev/control-port": "8081"}
    # Without in-place restarts the pod is exactly the one-process pod.
    plain = agent_pod.pod(make_agent("solo"), 4, "h", SETTINGS)
    assert "annotations" not in plain["metadata"]
    assert not {"AGENT_CONTROL_PORT", "AGENT_CONTROL_TOKEN_SHA256"} & env_by_name(plain).keys()


def test_control_secret_holds_a_token_and_refuses_an_empty_one():
    secret = manifests.control_secret("ops", "t0k3n")
    assert secret["metadata"]["name"] == "agent-supervisor-control"
    assert secret["stringData"] == {"token": "t0k3n"}
    with pytest.raises(ValueError, match="non-empty"):
        manifests.control_secret("ops", "")
