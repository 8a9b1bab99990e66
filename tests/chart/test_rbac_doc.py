"""docs/operations.md lists every verb the operator holds, with the code that needs it ("RBAC rules"); the
table must say exactly what the chart grants, in both RBAC modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
Grant = tuple[str, str, str, str, str]
"""(where, API group, resource, verb, resourceNames joined by ',')."""


def documented() -> set[Grant]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("### RBAC rules", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header, *body = rows
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "where",
        "API group",
        "resource",
        "verb",
        "names",
        "why",
    ]
    grants: set[Grant] = set()
    for row in body:
        where, group, resources, verb, names, why = (cell.strip() for cell in row.strip("|").split("|"))
        assert why, f"no reason given for {verb} {resources}"
        group = "" if group == "(core)" else group
        for resource in resources.split(","):
            grant = (where, group, resource.strip(), verb, names)
            assert grant not in grants, f"listed twice: {grant}"
            grants.add(grant)
    return grants


def granted(where: str, rules: list[dict[str, Any]]) -> set[Grant]:
    return {
        (where, group, resource, verb, ",".join(rule.get("resourceNames") or []))
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_the_documented_rules_are_the_cluster_wide_modes_rules(render, pick):
    manifests = render({})
    chart = granted("watched", pick(manifests, "ClusterRole")["rules"]) | granted(
        "release", pick(manifests, "Role", "agent-supervisor-leader-election")["rules"]
    )
    doc = documented()
    assert chart - doc == set(), "granted by the chart but not documented"
    assert doc - chart == set(), "documented but not granted by the chart"


@pytest.mark.parametrize("namespace", ["team-a", "team-b"])
def test_namespaced_mode_grants_each_watched_namespace_the_same_rules(render, kinds, namespace):
    manifests = render({"watchNamespaces": ["team-a", "team-b"]})
    (role,) = [r for r in kinds(manifests, "Role") if r["metadata"]["namespace"] == namespace]
    watched = {grant for grant in documented() if grant[0] == "watched"}
    assert granted("watched", role["rules"]) == watched
