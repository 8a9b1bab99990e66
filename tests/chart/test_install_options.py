"""`helm install` of the chart's optional objects on the local cluster: the PodDisruptionBudget of an HA
install and the NetworkPolicies for agent pods, created as rendered, pruned by an upgrade, removed by
uninstall.

The local cluster stores both kinds without acting on them (docs/local-cluster.md), which is all helm needs.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from localcluster.cluster import LocalCluster
from tests.chart.conftest import CHART, NAMESPACE, RELEASE, TOOLS_BIN, Helm

pytestmark = pytest.mark.cluster

WATCHED = ("team-a", "team-b")
HA_WITH_POLICIES: dict[str, Any] = {
    "replicas": 2,
    "watchNamespaces": list(WATCHED),
    "networkPolicy": {
        "enabled": True,
        "trees": ["team", "pipeline"],
        "modelEndpoints": [
            {"cidr": "10.0.0.0/8", "except": ["10.0.5.0/24"], "ports": [{"port": 443}, {"port": 8000}]}
        ],
        "apiServer": {"cidrs": ["172.18.0.2/32"]},
        "extraEgress": [{"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}], "ports": [{"port": 9000}]}],
    },
}
AGENTS_POLICY = f"{RELEASE}-agents"
TREE_POLICIES = (f"{RELEASE}-tree-team", f"{RELEASE}-tree-pipeline")

Manifest = dict[str, Any]


@dataclasses.dataclass
class Cluster:
    helm: Helm

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), *args],
            capture_output=True,
            text=True,
            env=self.helm.env,
            timeout=30,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result

    def get(self, kind: str, name: str, namespace: str) -> Manifest:
        manifest: Manifest = json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
        return manifest

    def names(self, kind: str, namespace: str) -> list[str]:
        out = self.kubectl("get", kind, "-n", namespace, "-o", "name").stdout
        return sorted(line.split("/", 1)[1] for line in out.split())

    def release(self, command: str, values: dict[str, Any], *flags: str) -> str:
        values_file = str(self.helm.values_file(values))
        return self.helm.run(command, RELEASE, str(CHART), "-n", NAMESPACE, "-f", values_file, *flags).stdout

    def rendered(self, values: dict[str, Any]) -> list[Manifest]:
        return [doc for doc in yaml.safe_load_all(self.helm.template(values).stdout) if doc]


@pytest.fixture(scope="module")
def cluster(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("options-cluster")
    with LocalCluster.in_thread(state / "state") as local:
        on_cluster = dataclasses.replace(helm, env={**helm.env, "KUBECONFIG": str(local.kubeconfig_path)})
        yield Cluster(on_cluster)


def rendered_object(manifests: list[Manifest], kind: str, name: str, namespace: str) -> Manifest:
    (found,) = [
        m
        for m in manifests
        if m["kind"] == kind and m["metadata"]["name"] == name and m["metadata"]["namespace"] == namespace
    ]
    return found


def test_pdb_and_network_policies_are_installed_as_rendered_and_removed_on_uninstall(
    cluster: Cluster,
) -> None:
    for namespace in WATCHED:
        cluster.kubectl("create", "namespace", namespace)
    assert "STATUS: deployed" in cluster.release("install", HA_WITH_POLICIES, "--create-namespace")
    rendered = cluster.rendered(HA_WITH_POLICIES)

    # The PDB guards the operator's own pods: the Deployment's selector, at most one replica down.
    pdb = cluster.get("pdb", RELEASE, NAMESPACE)
    deployment = cluster.get("deployment", RELEASE, NAMESPACE)
    assert deployment["spec"]["replicas"] == 2
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}
    assert pdb["spec"] == rendered_object(rendered, "PodDisruptionBudget", RELEASE, NAMESPACE)["spec"]
    assert pdb["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert pdb["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    pdb_table = cluster.kubectl("get", "pdb", RELEASE, "-n", NAMESPACE, "--no-headers").stdout.split()
    assert pdb_table[:3] == [RELEASE, "N/A", "1"]

    # One policy for every agent pod plus one per listed tree, in each watched namespace (none elsewhere).
    assert cluster.names("netpol", NAMESPACE) == []
    for namespace in WATCHED:
        assert cluster.names("netpol", namespace) == sorted([AGENTS_POLICY, *TREE_POLICIES])
        for name in (AGENTS_POLICY, *TREE_POLICIES):
            stored = cluster.get("netpol", name, namespace)
            assert stored["spec"] == rendered_object(rendered, "NetworkPolicy", name, namespace)["spec"]
        agents = cluster.get("netpol", AGENTS_POLICY, namespace)["spec"]
        assert agents["policyTypes"] == ["Ingress", "Egress"]
        # Only the operator (its pods in the release namespace) may call an agent.
        (operator_peer,) = agents["ingress"][0]["from"]
        assert operator_peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": NAMESPACE}
        assert operator_peer["podSelector"] == deployment["spec"]["selector"]
        peers = [peer for rule in agents["egress"] for peer in rule.get("to", ())]
        egress_blocks = [peer["ipBlock"] for peer in peers if "ipBlock" in peer]
        # DNS only to the cluster DNS pods, never to any address.
        dns = next(
            rule for rule in agents["egress"] if {"port": 53, "protocol": "UDP"} in rule.get("ports", ())
        )
        assert [peer["podSelector"]["matchLabels"] for peer in dns["to"]] == [{"k8s-app": "kube-dns"}]
        assert {"cidr": "10.0.0.0/8", "except": ["10.0.5.0/24"]} in egress_blocks
        assert {"cidr": "172.18.0.2/32"} in egress_blocks and {"cidr": "192.0.2.10/32"} in egress_blocks
        tree = cluster.get("netpol", f"{RELEASE}-tree-pipeline", namespace)["spec"]
        assert tree["podSelector"]["matchLabels"]["otp.agents.dev/root"] == "pipeline"

    # Values that no longer render the objects make helm delete them: one replica, one tree.
    fewer = {**HA_WITH_POLICIES, "replicas": 1, "networkPolicy": {**HA_WITH_POLICIES["networkPolicy"]}}
    fewer["networkPolicy"]["trees"] = ["team"]
    assert "REVISION: 2" in cluster.release("upgrade", fewer)
    assert cluster.names("pdb", NAMESPACE) == []
    for namespace in WATCHED:
        assert cluster.names("netpol", namespace) == [AGENTS_POLICY, f"{RELEASE}-tree-team"]

    uninstalled = cluster.helm.run("uninstall", RELEASE, "-n", NAMESPACE).stdout
    assert f'release "{RELEASE}" uninstalled' in uninstalled
    for namespace in WATCHED:
        assert cluster.names("netpol", namespace) == [], f"policies in {namespace} outlived the release"
    assert cluster.names("pdb", NAMESPACE) == []
    assert cluster.names("deployment", NAMESPACE) == []


def test_without_the_options_neither_kind_is_rendered(
    render: Callable[[dict[str, Any]], list[Manifest]],
) -> None:
    optional = ("PodDisruptionBudget", "NetworkPolicy")
    assert [m["kind"] for m in render({}) if m["kind"] in optional] == []
    # A PDB over a single replica would block every node drain, so one replica gets none; the policies go
    # to the release namespace when the operator watches every namespace.
    policies_only = render({"networkPolicy": HA_WITH_POLICIES["networkPolicy"]})
    assert [m["kind"] for m in policies_only if m["kind"] in optional] == ["NetworkPolicy"] * 3
    assert {m["metadata"]["namespace"] for m in policies_only if m["kind"] == "NetworkPolicy"} == {NAMESPACE}
    no_pdb = {"replicas": 2, "podDisruptionBudget": {"enabled": False}}
    assert [m["kind"] for m in render(no_pdb) if m["kind"] in optional] == []
