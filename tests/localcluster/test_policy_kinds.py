"""policy/v1 PodDisruptionBudget and networking.k8s.io/v1 NetworkPolicy on the local API server.

Both are stored, never acted on (no disruption controller, no network enforcement); what matters is that the
chart's objects can be applied, listed, explained and removed with the real kubectl, helm and Python client.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.localcluster.conftest import RunningServer

Kubectl = Callable[..., subprocess.CompletedProcess[str]]

PDB: dict[str, Any] = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
}
NETPOL: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "web-ingress", "labels": {"app": "web"}},
    "spec": {
        "podSelector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "Exists"}],
        },
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
    },
}


def manifests(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(objects)


def table(output: str) -> list[list[str]]:
    """kubectl's table output as rows of cells (header first); cells are separated by 2+ spaces."""
    return [[cell for cell in line.split("  ") if cell.strip()] for line in output.strip().splitlines()]


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return parsed


@pytest.fixture(scope="module")
def api(local_apiserver: RunningServer) -> client.ApiClient:
    made: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(local_apiserver.kubeconfig)
    )
    return made


def plain(api: client.ApiClient, model: Any) -> dict[str, Any]:
    """A client model as the JSON it stands for (camelCase keys, unset fields left out)."""
    serialised: dict[str, Any] = api.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
    return serialised


def test_kubectl_discovers_both_kinds_with_their_short_names(kubectl: Kubectl) -> None:
    # kubectl 1.35 reads aggregated discovery (/api, /apis as APIGroupDiscoveryList).
    header, *lines = kubectl("api-resources", "--namespaced=true", "-o", "wide").stdout.splitlines()
    # Cut at the header's column offsets: an empty cell (CATEGORIES) leaves no text to split on.
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    names = header.split()
    by_name = {
        line.split()[0]: {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines
    }
    pdb = by_name["poddisruptionbudgets"]
    assert (pdb["SHORTNAMES"], pdb["APIVERSION"], pdb["KIND"]) == ("pdb", "policy/v1", "PodDisruptionBudget")
    netpol = by_name["networkpolicies"]
    assert (netpol["SHORTNAMES"], netpol["APIVERSION"], netpol["KIND"]) == (
        "netpol",
        "networking.k8s.io/v1",
        "NetworkPolicy",
    )
    for entry in (pdb, netpol):
        assert entry["NAMESPACED"] == "true"
        assert set(entry["VERBS"].split(",")) >= {"create", "get", "list", "watch", "patch", "delete"}


def test_legacy_discovery_lists_the_groups_and_the_pdb_status_subresource(api: client.ApiClient) -> None:
    groups = plain(api, client.ApisApi(api).get_api_versions())["groups"]
    preferred = {g["name"]: g["preferredVersion"]["groupVersion"] for g in groups}
    assert preferred["policy"] == "policy/v1"
    assert preferred["networking.k8s.io"] == "networking.k8s.io/v1"
    listed = plain(api, client.PolicyV1Api(api).get_api_resources())["resources"]
    policy = {r["name"]: r for r in listed}
    assert set(policy) == {"poddisruptionbudgets", "poddisruptionbudgets/status"}
    assert policy["poddisruptionbudgets"]["shortNames"] == ["pdb"]
    assert sorted(policy["poddisruptionbudgets/status"]["verbs"]) == ["get", "patch", "update"]
    listed = plain(api, client.NetworkingV1Api(api).get_api_resources())["resources"]
    networking = {r["name"]: r for r in listed}
    # A NetworkPolicy has had no status since Kubernetes 1.28.
    assert set(networking) == {"networkpolicies"}
    assert networking["networkpolicies"]["shortNames"] == ["netpol"]


def test_kubectl_apply_get_and_delete(kubectl: Kubectl, namespace: str) -> None:
    created = kubectl("apply", "-n", namespace, "-f", "-", input=manifests(PDB, NETPOL)).stdout
    assert "poddisruptionbudget.policy/web created" in created
    assert "networkpolicy.networking.k8s.io/web-ingress created" in created

    pdb_rows = table(kubectl("get", "pdb", "-n", namespace).stdout)
    assert [c.strip() for c in pdb_rows[0]] == [
        "NAME",
        "MIN AVAILABLE",
        "MAX UNAVAILABLE",
        "ALLOWED DISRUPTIONS",
        "AGE",
    ]
    # No disruption controller: the status is never computed, so nothing may be disrupted.
    assert [c.strip() for c in pdb_rows[1][:4]] == ["web", "N/A", "1", "0"]
    netpol_rows = table(kubectl("get", "netpol", "-n", namespace).stdout)
    assert [c.strip() for c in netpol_rows[0]] == ["NAME", "POD-SELECTOR", "AGE"]
    assert [c.strip() for c in netpol_rows[1][:2]] == ["web-ingress", "app=web,tier"]

    stored = get_json(kubectl, "netpol", "web-ingress", "-n", namespace)
    assert stored["spec"] == NETPOL["spec"]
    assert stored["metadata"]["generation"] == 1
    assert get_json(kubectl, "pdb", "web", "-n", namespace)["spec"] == PDB["spec"]

    again = kubectl("apply", "-n", namespace, "-f", "-", input=manifests(NETPOL)).stdout
    assert "networkpolicy.networking.k8s.io/web-ingress unchanged" in again
    changed = {**NETPOL, "spec": {**NETPOL["spec"], "policyTypes": ["Ingress"]}}
    del changed["spec"]["egress"]
    assert "configured" in kubectl("apply", "-n", namespace, "-f", "-", input=manifests(changed)).stdout
    updated = get_json(kubectl, "netpol", "web-ingress", "-n", namespace)
    assert "egress" not in updated["spec"] and updated["spec"]["policyTypes"] == ["Ingress"]
    assert updated["metadata"]["generation"] == 2

    deleted = kubectl("delete", "-n", namespace, "-f", "-", input=manifests(PDB, NETPOL)).stdout
    assert "web" in deleted and "web-ingress" in deleted
    assert kubectl("get", "pdb,netpol", "-n", namespace, "-o", "name").stdout == ""


def test_server_side_apply_and_field_ownership(kubectl: Kubectl, namespace: str) -> None:
    apply = ("apply", "--server-side", "-n", namespace, "-f", "-")
    kubectl(*apply, "--field-manager=chart", input=manifests(PDB))
    other = {**PDB, "spec": {**PDB["spec"], "maxUnavailable": 2}}
    conflict = kubectl(*apply, "--field-manager=someone-else", input=manifests(other), check=False)
    assert conflict.returncode != 0 and 'conflict with "chart"' in conflict.stderr
    assert get_json(kubectl, "pdb", "web", "-n", namespace)["spec"]["maxUnavailable"] == 1


def test_unknown_fields_are_refused_and_the_schema_is_explained(kubectl: Kubectl, namespace: str) -> None:
    bogus = {**NETPOL, "spec": {**NETPOL["spec"], "podSelectr": {}}}
    refused = kubectl("apply", "-n", namespace, "-f", "-", input=manifests(bogus), check=False)
    assert refused.returncode != 0 and 'unknown field "spec.podSelectr"' in refused.stderr
    assert kubectl("get", "netpol", "-n", namespace, "-o", "name").stdout == ""
    explained = kubectl("explain", "pdb.spec.maxUnavailable").stdout
    assert "GROUP:      policy" in explained and "<IntOrString>" in explained


def test_python_client_round_trip_with_the_status_subresource(
    api: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    policy = client.PolicyV1Api(api)
    body: Any = PDB
    created = plain(api, policy.create_namespaced_pod_disruption_budget(namespace, body))
    assert created["metadata"]["generation"] == 1 and created["spec"] == PDB["spec"]
    assert "status" not in created, "the status is never computed"

    status = {
        "currentHealthy": 2,
        "desiredHealthy": 1,
        "disruptionsAllowed": 1,
        "expectedPods": 2,
        "observedGeneration": 1,
    }
    patch: Any = {"status": status}
    patched = plain(api, policy.patch_namespaced_pod_disruption_budget_status("web", namespace, patch))
    assert patched["status"] == status
    assert [c.strip() for c in table(kubectl("get", "pdb", "-n", namespace).stdout)[1][:4]] == [
        "web",
        "N/A",
        "1",
        "1",
    ]

    # Writes to the main resource change the spec, never the status; the spec change bumps the generation.
    current: Any = plain(api, policy.read_namespaced_pod_disruption_budget("web", namespace))
    current["spec"] = {"minAvailable": "50%", "selector": PDB["spec"]["selector"]}
    current["status"]["disruptionsAllowed"] = 7
    replaced = plain(api, policy.replace_namespaced_pod_disruption_budget("web", namespace, current))
    assert replaced["spec"] == {"minAvailable": "50%", "selector": PDB["spec"]["selector"]}
    assert replaced["status"] == status
    assert replaced["metadata"]["generation"] == 2

    listed = plain(api, policy.list_namespaced_pod_disruption_budget(namespace, label_selector="app=web"))
    assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]
    unmatched = plain(api, policy.list_namespaced_pod_disruption_budget(namespace, label_selector="app=db"))
    assert unmatched["items"] == []

    policy.delete_namespaced_pod_disruption_budget("web", namespace)
    with pytest.raises(ApiException) as missing:
        policy.read_namespaced_pod_disruption_budget("web", namespace)
    assert missing.value.status == 404


def test_python_client_network_policy_generation_follows_the_spec(
    api: client.ApiClient, namespace: str
) -> None:
    networking = client.NetworkingV1Api(api)
    body: Any = NETPOL
    created = plain(api, networking.create_namespaced_network_policy(namespace, body))
    # Through the client's models and back: every field, `ipBlock.except` included, survives.
    assert created["spec"] == NETPOL["spec"]
    labels: Any = {"metadata": {"labels": {"team": "a"}}}
    relabelled = plain(api, networking.patch_namespaced_network_policy("web-ingress", namespace, labels))
    assert relabelled["metadata"]["generation"] == 1
    selector: Any = {"spec": {"podSelector": {"matchLabels": {"app": "api"}}}}
    respecified = plain(api, networking.patch_namespaced_network_policy("web-ingress", namespace, selector))
    assert respecified["metadata"]["generation"] == 2
    everywhere = plain(api, networking.list_network_policy_for_all_namespaces(label_selector="team=a"))
    found = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in everywhere["items"]]
    assert found == [(namespace, "web-ingress")]


def test_namespace_deletion_removes_them(
    kubectl: Kubectl, namespace: str, wait_for: Callable[..., Any]
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=manifests(PDB, NETPOL))
    kubectl("delete", "namespace", namespace, "--wait=false")

    def gone() -> bool:
        result = kubectl("get", "pdb,netpol", "-n", namespace, "-o", "name", check=False)
        return result.returncode == 0 and result.stdout == ""

    wait_for(gone, what=f"the policies of namespace {namespace} to be deleted with it")
