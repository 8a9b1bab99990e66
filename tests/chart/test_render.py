"""`helm template` over several value sets: valid Kubernetes objects, least-privilege RBAC in both modes, the
restricted security context, HA, and the optional NetworkPolicy and ServiceMonitor."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from agent_supervisor import api
from agent_supervisor.translate import agent_pod, labels
from agent_supervisor.translate.settings import OperatorSettings

NAMESPACE = "agent-supervisor-system"
KUBERNETES_VERSION = "1.35"

VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "replicas-3": {"replicas": 3},
    "policy-and-monitor": {
        "networkPolicy": {
            "enabled": True,
            "trees": ["team", "pipeline"],
            "modelEndpoints": [{"cidr": "10.20.0.0/16", "ports": [{"port": 443}]}],
            "apiServer": {"cidrs": ["10.0.0.1/32"]},
        },
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    },
    "everything-else": {
        "watchNamespaces": ["team-a"],
        "image": {"digest": "sha256:" + "a" * 64},
        "agentImage": {"repository": "registry.example/agents/runtime", "tag": "1.2.3"},
        "serviceAccount": {"create": False, "name": "ops"},
        "operator": {"verbose": True, "peersViaApiServer": True, "extraArgs": ["--workers=2"]},
        "metrics": {"port": 9090, "service": {"enabled": False}},
        "networkPolicy": {"enabled": True},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
    },
}
# Kinds from CRDs of other projects: kubernetes-validate bundles only the built-in Kubernetes schemas.
NOT_BUILT_IN = {"ServiceMonitor": "a Prometheus Operator CRD (monitoring.coreos.com/v1), not a built-in kind"}


def args_of(deployment: dict[str, Any]) -> list[str]:
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_manifest_is_a_valid_kubernetes_object(render, value_set):
    manifests = render(VALUE_SETS[value_set])
    checked = 0
    for manifest in manifests:
        if manifest["kind"] in NOT_BUILT_IN:
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']}: {error.message}")
        checked += 1
    assert checked >= 6


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rbac_has_no_wildcards(render, kinds, value_set):
    manifests = render(VALUE_SETS[value_set])
    for role in kinds(manifests, "Role") + kinds(manifests, "ClusterRole"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(field, []), f"{role['kind']} {role['metadata']['name']}: {rule}"


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_operator_runs_with_the_restricted_security_context(render, pick, value_set):
    pod = pick(render(VALUE_SETS[value_set]), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == 65532
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {v["name"]: "emptyDir" in v for v in pod["volumes"]} == {"tmp": True}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_by_default_the_operator_serves_every_namespace_with_a_cluster_role(render, pick, kinds):
    manifests = render({})
    args = args_of(pick(manifests, "Deployment"))
    assert "--all-namespaces" in args
    assert not [arg for arg in args if arg.startswith("--namespace")]
    role = pick(manifests, "ClusterRole", "agent-supervisor")
    binding = pick(manifests, "ClusterRoleBinding", "agent-supervisor")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "agent-supervisor", "namespace": NAMESPACE}
    ]
    account = pick(manifests, "ServiceAccount")["metadata"]
    assert (account["name"], account["namespace"]) == ("agent-supervisor", NAMESPACE)
    # The only namespaced Role is leader election, next to the operator.
    assert [(r["metadata"]["name"], r["metadata"]["namespace"]) for r in kinds(manifests, "Role")] == [
        ("agent-supervisor-leader-election", NAMESPACE)
    ]


def test_namespaced_mode_grants_the_same_rules_per_namespace_and_nothing_cluster_wide(render, pick, kinds):
    cluster_rules = pick(render({}), "ClusterRole")["rules"]
    manifests = render(VALUE_SETS["namespaced"])
    assert kinds(manifests, "ClusterRole") == []
    assert kinds(manifests, "ClusterRoleBinding") == []
    args = args_of(pick(manifests, "Deployment"))
    assert [arg for arg in args if arg.startswith("--namespace")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert "--all-namespaces" not in args
    for namespace in ("team-a", "team-b"):
        role = next(r for r in kinds(manifests, "Role") if r["metadata"]["namespace"] == namespace)
        assert role["rules"] == cluster_rules
        binding = next(b for b in kinds(manifests, "RoleBinding") if b["metadata"]["namespace"] == namespace)
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "agent-supervisor", "namespace": NAMESPACE}
        ]
    assert {r["metadata"]["namespace"] for r in kinds(manifests, "Role")} == {"team-a", "team-b", NAMESPACE}


def test_several_replicas_share_one_lease_and_a_disruption_budget(render, pick, kinds):
    assert kinds(render({}), "PodDisruptionBudget") == []
    manifests = render(VALUE_SETS["replicas-3"])
    deployment = pick(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    args = args_of(deployment)
    assert "--lease-namespace=$(POD_NAMESPACE)" in args
    assert "--id=$(POD_NAME)" in args
    budget = pick(manifests, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_the_metrics_service_selects_the_operator_pods_on_their_metrics_port(render, pick):
    manifests = render({})
    pod = pick(manifests, "Deployment")["spec"]["template"]
    service = pick(manifests, "Service")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}


def test_the_service_monitor_scrapes_the_metrics_service(render, pick):
    manifests = render(VALUE_SETS["policy-and-monitor"])
    monitor = pick(manifests, "ServiceMonitor")
    service = pick(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def selects(selector: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and Exists/DoesNotExist/In expressions) against a pod's labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if pod_labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if operator == "Exists" and key not in pod_labels:
            return False
        if operator == "DoesNotExist" and key in pod_labels:
            return False
        if operator == "In" and pod_labels.get(key) not in expression["values"]:
            return False
    return True


def agent_pod_labels(name: str, root_labels: dict[str, str] | None = None) -> dict[str, str]:
    """The labels the operator really puts on an agent's pod (agent_pod.pod)."""
    agent = api.Agent.model_validate(
        {
            "apiVersion": api.API_VERSION,
            "kind": "Agent",
            "metadata": {"name": name, "namespace": "team-a", "uid": f"uid-{name}", "labels": root_labels},
            "spec": {
                "model": {"endpoint": "http://models:8000/v1", "name": "m"},
                "systemPrompt": "You are a test agent.",
            },
        }
    )
    pod = agent_pod.pod(agent, 1, "hash", OperatorSettings(default_image="agent:1"))
    return dict(pod["metadata"]["labels"])


def test_the_network_policies_isolate_agent_pods_by_tree(render, pick, kinds):
    manifests = render(VALUE_SETS["policy-and-monitor"])
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds(manifests, "NetworkPolicy")}
    assert set(policies) == {
        "agent-supervisor-agents",
        "agent-supervisor-tree-team",
        "agent-supervisor-tree-pipeline",
    }
    team_worker = agent_pod_labels(
        "team-worker", {labels.SUPERVISOR: "team", labels.CHILD: "worker", labels.ROOT: "team"}
    )
    standalone = agent_pod_labels("solo")
    operator_pod = pick(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]

    base = policies["agent-supervisor-agents"]
    assert selects(base["podSelector"], team_worker) and selects(base["podSelector"], standalone)
    assert not selects(base["podSelector"], operator_pod)
    assert base["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = base["ingress"]
    (source,) = ingress["from"]
    assert source["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}}
    assert selects(source["podSelector"], operator_pod)
    assert not selects(source["podSelector"], team_worker)
    settings = OperatorSettings(default_image="agent:1")
    # The agent's API (config reloads) and the pod supervisor's control port (in-place restarts).
    assert ingress["ports"] == [
        {"port": settings.agent_port, "protocol": "TCP"},
        {"port": settings.control_port, "protocol": "TCP"},
    ]
    egress = base["egress"]
    kube_dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    dns_ports = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert egress[0] == {"to": [kube_dns], "ports": dns_ports}, "DNS goes to the cluster DNS, nowhere else"
    assert all(rule.get("to") for rule in egress), "no egress rule is open to every address"
    assert egress[1] == {
        "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
        "ports": [{"port": 443, "protocol": "TCP"}],
    }
    assert egress[2]["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]

    team = policies["agent-supervisor-tree-team"]
    assert selects(team["podSelector"], team_worker)
    assert not selects(team["podSelector"], standalone)
    (peer,) = team["ingress"][0]["from"]
    assert selects(peer["podSelector"], team_worker) and not selects(peer["podSelector"], standalone)
    assert team["egress"][0]["to"] == team["ingress"][0]["from"]
    # A standalone agent is the root of its own tree.
    assert standalone[labels.ROOT] == "solo"


def test_the_dns_egress_peers_can_be_set_for_a_cluster_whose_dns_differs(render, kinds):
    node_local = [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    values = {"networkPolicy": {"enabled": True, "dns": {"to": node_local}}}
    (base,) = [p for p in kinds(render(values), "NetworkPolicy") if p["metadata"]["name"].endswith("-agents")]
    assert base["spec"]["egress"][0]["to"] == node_local


def test_the_control_port_can_be_opened_to_the_api_servers_pod_proxy(render, kinds):
    def agents_policy(values: dict) -> dict:
        policies = kinds(render({"networkPolicy": {"enabled": True, **values}}), "NetworkPolicy")
        (base,) = [p for p in policies if p["metadata"]["name"].endswith("-agents")]
        return base["spec"]

    assert len(agents_policy({})["ingress"]) == 1, "by default only the operator gets in"
    api_server = [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    _operator_rule, proxy_rule = agents_policy({"controlPortFrom": api_server})["ingress"]
    control_port = OperatorSettings(default_image="agent:1").control_port
    assert proxy_rule == {"from": api_server, "ports": [{"port": control_port, "protocol": "TCP"}]}


def test_network_policies_go_to_the_watched_namespaces(render, kinds):
    manifests = render(VALUE_SETS["everything-else"])
    assert [p["metadata"]["namespace"] for p in kinds(manifests, "NetworkPolicy")] == ["team-a"]
    defaults = render({"networkPolicy": {"enabled": True}})
    assert [p["metadata"]["namespace"] for p in kinds(defaults, "NetworkPolicy")] == [NAMESPACE]


def test_optional_parts_are_off_by_default(render, kinds):
    manifests = render({})
    assert kinds(manifests, "NetworkPolicy") == []
    assert kinds(manifests, "ServiceMonitor") == []
    assert sorted(m["kind"] for m in manifests) == sorted(
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
        ]
    )


def test_every_object_carries_the_standard_labels(render):
    for value_set in VALUE_SETS.values():
        for manifest in render(value_set):
            found = manifest["metadata"]["labels"]
            assert found["app.kubernetes.io/name"] == "agent-supervisor"
            assert found["app.kubernetes.io/instance"] == "agent-supervisor"
            assert found["app.kubernetes.io/version"] == "0.1.0"
            assert found["app.kubernetes.io/managed-by"] == "Helm"
            assert found["helm.sh/chart"] == "agent-supervisor-0.1.0"


def test_image_settings_reach_the_deployment(render, pick, kinds):
    manifests = render(VALUE_SETS["everything-else"])
    pod = pick(manifests, "Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/agent-supervisor/agent-supervisor-operator@sha256:" + "a" * 64
    assert "--default-image=registry.example/agents/runtime:1.2.3" in container["args"]
    assert pod["serviceAccountName"] == "ops"
    assert kinds(manifests, "ServiceAccount") == []
    assert kinds(manifests, "Service") == []
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    assert container["args"][-1] == "--workers=2"
