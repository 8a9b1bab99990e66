"""The chart's Observer (observer.enabled): off by default; when on, a Deployment with the operator's
restricted security context, a Service, and its own account whose rules only read, never Secrets, exactly as
docs/operations.md ("Observer") lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
NAME = "agent-supervisor-observer"
READ_VERBS = {"get", "list", "watch"}


def observer_objects(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["metadata"]["name"] == NAME]


def documented() -> set[tuple[str, str, str]]:
    """(API group, resource, verb) rows of the Observer's RBAC table."""
    section = DOC.read_text(encoding="utf-8").split("\n## Observer", 1)[1].split("\n## ", 1)[0]
    table = section.split("\n| API group", 1)[1].split("\n\n", 1)[0]
    rows = [
        line for line in ("| API group" + table).splitlines() if line.startswith("| ") and "---" not in line
    ]
    header, *body = rows
    assert [c.strip() for c in header.strip("|").split("|")] == ["API group", "resource", "verb", "why"]
    grants = set()
    for row in body:
        group, resources, verbs, why = (c.strip() for c in row.strip("|").split("|"))
        assert why, f"no reason given for {verbs} {resources}"
        for resource in resources.split(","):
            for verb in verbs.split(","):
                grants.add(("" if group == "(core)" else group, resource.strip(), verb.strip()))
    return grants


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    assert not [rule for rule in rules if rule.get("resourceNames")]
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_the_observer_is_off_by_default(render):
    assert observer_objects(render({})) == []


def test_when_on_it_is_valid_and_runs_like_the_operator(render, pick):
    manifests = render({"observer": {"enabled": True}})
    assert sorted(m["kind"] for m in observer_objects(manifests)) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    for manifest in observer_objects(manifests):
        kubernetes_validate.validate(manifest, "1.35", strict=True)
    operator = pick(manifests, "Deployment", "agent-supervisor")["spec"]["template"]["spec"]
    observer = pick(manifests, "Deployment", NAME)["spec"]["template"]["spec"]
    assert observer["securityContext"] == operator["securityContext"]
    (container,) = observer["containers"]
    assert container["securityContext"] == operator["containers"][0]["securityContext"]
    assert container["command"] == ["agent-supervisor", "observer"]
    assert container["args"] == ["--all-namespaces", "--address=0.0.0.0", "--port=8090"]
    assert observer["serviceAccountName"] == NAME
    # Neither workload's selector matches the other's pods.
    pod_labels = pick(manifests, "Deployment", NAME)["spec"]["template"]["metadata"]["labels"]
    operator_selector = pick(manifests, "Deployment", "agent-supervisor")["spec"]["selector"]["matchLabels"]
    assert not operator_selector.items() <= pod_labels.items()
    service = pick(manifests, "Service", NAME)["spec"]
    assert service["selector"].items() <= pod_labels.items()
    assert service["ports"][0]["targetPort"] == "http"


def test_its_rules_only_read_never_secrets_and_are_the_documented_ones(render, pick):
    manifests = render({"observer": {"enabled": True}})
    rules = pick(manifests, "ClusterRole", NAME)["rules"]
    grants = granted(rules)
    assert {verb for _, _, verb in grants} <= READ_VERBS
    assert not [g for g in grants if g[1].startswith("secrets")]
    assert grants == documented()
    binding = pick(manifests, "ClusterRoleBinding", NAME)
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": NAME, "namespace": "agent-supervisor-system"}
    ]


@pytest.mark.parametrize(
    ("values", "namespaces"),
    [
        ({"watchNamespaces": ["team-a", "team-b"]}, ["team-a", "team-b"]),
        ({"watchNamespaces": ["team-a"], "observer": {"namespaces": ["team-c"]}}, ["team-c"]),
    ],
)
def test_namespaced_it_gets_a_role_per_namespace_and_nothing_cluster_wide(render, pick, values, namespaces):
    values = {**values, "observer": {"enabled": True, **values.get("observer", {})}}
    manifests = render(values)
    mine = observer_objects(manifests)
    assert [m for m in mine if m["kind"].startswith("Cluster")] == []
    roles = [m for m in mine if m["kind"] == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == namespaces
    assert all(granted(r["rules"]) == documented() for r in roles)
    args = pick(manifests, "Deployment", NAME)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == [f"--namespace={n}" for n in namespaces]
