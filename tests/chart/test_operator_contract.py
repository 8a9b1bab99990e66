"""The chart and the operator agree: the flags it passes parse, the probes hit served paths, the RBAC rules
name exactly the resources the operator's client touches, and the defaults are the operator's own."""

from __future__ import annotations

import re
import socket
from typing import Any

import aiohttp
import pytest

from agent_supervisor.controller import kube, main, metrics
from agent_supervisor.controller.leader import LEASE_NAME
from agent_supervisor.translate import labels, manifests, projection

NAMESPACE = "agent-supervisor-system"
POD_NAME = "agent-supervisor-5d9c7-x2x4q"
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "tuned": {
        "leaderElection": {"leaseDurationSeconds": 30, "renewPeriodSeconds": 10},
        "operator": {
            "workers": 3,
            "startDeadlineSeconds": 60,
            "peerTemplate": "{api}/api/v1/namespaces/{namespace}/services/{name}:8080/proxy",
            "peersViaApiServer": True,
            "podApiUrl": "https://kubernetes.default.svc",
            "verbose": True,
            "resyncPeriodSeconds": 0,
            "finishedPodTTLSeconds": 0,
        },
        "metrics": {"port": 9100},
        "agentImage": {"tag": "0.2.0"},
        "tracing": {"otlpEndpoint": "http://otel-collector.observability:4318"},
    },
}


def container(render, pick, values: dict[str, Any]) -> dict[str, Any]:
    containers = pick(render(values), "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    operator: dict[str, Any] = containers[0]
    return operator


def expanded_args(operator: dict[str, Any]) -> list[str]:
    """The arguments as the kubelet passes them: $(VAR) replaced by the container's (downward API) env."""
    values = {"POD_NAME": POD_NAME, "POD_NAMESPACE": NAMESPACE}
    defined = {env["name"] for env in operator["env"]}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in defined, f"argument refers to $({name}), which the container does not define"
        return values[name]

    return [re.sub(r"\$\(([A-Z_]+)\)", substitute, arg) for arg in operator["args"]]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_the_operator_accepts_the_command_line_the_chart_builds(render, pick, value_set):
    operator = container(render, pick, VALUE_SETS[value_set])
    assert operator["command"] == ["agent-supervisor", "operator"]
    args = main.parse_args(expanded_args(operator))
    values = VALUE_SETS[value_set]
    assert args.namespace == values.get("watchNamespaces", [])
    assert args.all_namespaces is not bool(values.get("watchNamespaces"))
    assert args.lease_namespace == NAMESPACE
    assert args.identity == POD_NAME
    assert args.metrics_port == {p["name"]: p["containerPort"] for p in operator["ports"]}["metrics"]
    if value_set != "tuned":
        assert args.otlp_endpoint is None  # no traces unless asked for
    if value_set == "tuned":
        assert (args.lease_duration, args.lease_renew) == (30, 10)
        assert (args.workers, args.start_deadline, args.verbose) == (3, 60, True)
        assert args.peer_template == VALUE_SETS["tuned"]["operator"]["peerTemplate"]
        assert args.peers_via_api_server is True
        assert args.pod_api_url == "https://kubernetes.default.svc"
        assert args.otlp_endpoint == "http://otel-collector.observability:4318"
        assert args.metrics_port == 9100
        assert args.default_image == "ghcr.io/agent-supervisor/agent-supervisor-agent:0.2.0"
        assert (args.resync_period, args.finished_pod_ttl) == (0, 0), "0 is a value, not a missing one"


def test_values_of_a_release_made_with_an_older_chart_still_give_a_working_command_line(render, pick):
    """`helm upgrade --reuse-values` reuses the old release's values, without the keys added since: the flags
    of missing keys are left out, so the operator's defaults apply instead of an empty, invalid flag."""
    older = {"operator": {"resyncPeriodSeconds": None, "finishedPodTTLSeconds": None}}
    args = expanded_args(container(render, pick, older))
    assert not [arg for arg in args if arg.startswith(("--resync-period", "--finished-pod-ttl"))]
    parsed = main.parse_args(args)
    assert (parsed.resync_period, parsed.finished_pod_ttl) == (60, 60)


def test_the_chart_defaults_are_the_operators_defaults(render, pick):
    chart = main.parse_args(expanded_args(container(render, pick, {})))
    operator = main.parse_args([])
    for setting in (
        "default_image",
        "metrics_port",
        "lease_duration",
        "lease_renew",
        "start_deadline",
        "workers",
        "resync_period",
        "finished_pod_ttl",
    ):
        assert getattr(chart, setting) == getattr(operator, setting), setting
    assert chart.peer_template == operator.peer_template


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_probes_ask_the_operator_for_paths_it_serves(render, pick):
    operator = container(render, pick, {})
    port = free_port()
    server = metrics.HealthServer("127.0.0.1", port, ready=lambda: True)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            for probe in ("livenessProbe", "readinessProbe"):
                http = operator[probe]["httpGet"]
                assert http["port"] == "metrics"
                async with session.get(f"http://127.0.0.1:{port}{http['path']}") as response:
                    assert response.status == 200, f"{probe} {http['path']}: {response.status}"
    finally:
        await server.stop()


def rule_resources(rules: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]
    }


def test_the_rbac_rules_name_exactly_the_resources_the_operator_uses(render, pick):
    """kube.py declares every resource the operator addresses; the rules must cover each (status subresources
    for the two kinds whose status it writes) and nothing more."""
    used = [value for value in vars(kube).values() if isinstance(value, kube.Resource)]
    manifests = render({})
    operator_rules = pick(manifests, "ClusterRole")["rules"]
    leader_rules = pick(manifests, "Role", "agent-supervisor-leader-election")["rules"]
    expected = {(r.group, r.plural) for r in used if r is not kube.LEASES}
    expected |= {(r.group, f"{r.plural}/status") for r in (kube.AGENTS, kube.AGENT_SUPERVISORS)}
    assert rule_resources(operator_rules) == expected
    assert rule_resources(leader_rules) == {
        (kube.LEASES.group, kube.LEASES.plural),
        (kube.SECRETS.group, kube.SECRETS.plural),
    }
    named = [rule for rule in leader_rules if "resourceNames" in rule]
    assert [rule["resourceNames"] for rule in named] == [[LEASE_NAME], [labels.CONTROL_SECRET]]
    leases = [rule for rule in leader_rules if rule["resources"] == [kube.LEASES.plural]]
    assert sorted(verb for rule in leases for verb in rule["verbs"]) == ["create", "get", "patch"]


def test_the_operator_may_watch_and_delete_services_for_worker_children(render, pick):
    """Worker children's Services are indexed (list, watch) and deleted once the child is no longer a worker
    with ports; agents' Services are only written. Nothing more: no get, update or deletecollection."""
    rules = [rule for rule in pick(render({}), "ClusterRole")["rules"] if "services" in rule["resources"]]
    assert [sorted(rule["verbs"]) for rule in rules] == [["create", "delete", "list", "patch", "watch"]]


def test_the_operator_can_grant_what_the_checkpoint_role_grants(render, pick):
    """RBAC's escalation rule: the operator may only create a Role granting permissions it holds itself."""
    agent = projection.parse_agent(
        {
            "apiVersion": "otp.agents.dev/v1alpha1",
            "kind": "Agent",
            "metadata": {"name": "solo", "namespace": "team-a", "uid": "uid-solo"},
            "spec": {"model": {"endpoint": "http://m:8000/v1", "name": "m"}, "systemPrompt": "Be brief."},
        }
    )
    held = {
        (group, resource, verb)
        for rule in pick(render({}), "ClusterRole")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    for rule in manifests.checkpoint_role(agent)["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert (group, resource, verb) in held, f"the operator cannot grant {verb} {resource}"


def test_kopf_needs_no_cluster_wide_access_in_namespaced_mode():
    """Namespaced mode grants nothing cluster-wide: that holds as long as kopf scans neither CRDs nor
    namespaces."""
    assert main.kopf_settings().scanning.disabled is True


def test_the_charts_policy_values_become_the_operators_policy(render, pick):
    values = {
        "policy": {
            "allowedModelEndpoints": ["https://api.openai.com/v1"],
            "allowedImages": ["registry.example.com/agents/*"],
            "allowedServiceAccounts": ["agents-*"],
            "secretLabels": {"otp.agents.dev/agent-readable": "true"},
        }
    }
    chosen = main.parse_args(expanded_args(container(render, pick, values))).policy
    assert chosen.model_endpoints == ("https://api.openai.com/v1",)
    assert chosen.images == ("registry.example.com/agents/*",)
    assert chosen.service_accounts == ("agents-*",)
    assert chosen.secret_labels == {"otp.agents.dev/agent-readable": "true"}
    assert not main.parse_args(expanded_args(container(render, pick, {}))).policy.restricts


def test_an_otlp_endpoint_that_is_not_an_http_url_is_refused_with_an_example(capsys):
    with pytest.raises(SystemExit):
        main.parse_args(["--otlp-endpoint", "otel-collector:4317"])
    assert "http://otel-collector.observability:4318" in capsys.readouterr().err
