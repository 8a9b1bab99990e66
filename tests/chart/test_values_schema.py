"""values.schema.json (and the chart's own checks) reject bad values with an error naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

BAD_VALUES = {
    "misspelt top-level key": ({"replica": 3}, ["additional properties 'replica' not allowed"]),
    "misspelt nested key": (
        {"metrics": {"serviceMonitor": {"enable": True}}},
        ["/metrics/serviceMonitor", "'enable' not allowed"],
    ),
    "port out of range": ({"metrics": {"port": 70000}}, ["/metrics/port", "65,535"]),
    "port as text": ({"metrics": {"port": "http"}}, ["/metrics/port", "want integer"]),
    "namespace not a DNS label": ({"watchNamespaces": ["Team_A"]}, ["/watchNamespaces/0", "does not match"]),
    "namespace twice": ({"watchNamespaces": ["a", "a"]}, ["/watchNamespaces", "are equal"]),
    "no replicas": ({"replicas": 0}, ["/replicas", "minimum"]),
    "unknown pull policy": ({"image": {"pullPolicy": "Sometimes"}}, ["/image/pullPolicy"]),
    "bad digest": ({"image": {"digest": "latest"}}, ["/image/digest"]),
    "model endpoint without ports": (
        {"networkPolicy": {"modelEndpoints": [{"cidr": "10.0.0.0/8"}]}},
        ["/networkPolicy/modelEndpoints/0", "missing property 'ports'"],
    ),
    "model endpoint without prefix length": (
        {"networkPolicy": {"modelEndpoints": [{"cidr": "10.0.0.0", "ports": [{"port": 443}]}]}},
        ["/networkPolicy/modelEndpoints/0/cidr"],
    ),
    "renew not shorter than the lease": (
        {"leaderElection": {"leaseDurationSeconds": 10, "renewPeriodSeconds": 10}},
        ["leaderElection.renewPeriodSeconds (10) must be shorter than", "leaseDurationSeconds (10)"],
    ),
    "service monitor without the service": (
        {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
        ["metrics.serviceMonitor.enabled needs metrics.service.enabled"],
    ),
    "misspelt monitoring key": (
        {"metrics": {"prometheusRule": {"enable": True}}},
        ["/metrics/prometheusRule", "'enable' not allowed"],
    ),
    "negative budget threshold": (
        {"metrics": {"prometheusRule": {"budgetLeftThreshold": -1}}},
        ["/metrics/prometheusRule/budgetLeftThreshold", "minimum"],
    ),
    "runbook URL with an anchor": (
        {"metrics": {"prometheusRule": {"runbookUrl": "https://wiki.example.com/runbook#alerts"}}},
        ["/metrics/prometheusRule/runbookUrl", "does not match"],
    ),
    "dashboard label value not text": (
        {"metrics": {"dashboard": {"labels": {"grafana_dashboard": 1}}}},
        ["/metrics/dashboard/labels/grafana_dashboard", "want string"],
    ),
    "existing service account without a name": (
        {"serviceAccount": {"create": False}},
        ["serviceAccount.name is required when serviceAccount.create is false"],
    ),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_bad_values_fail_with_a_message_naming_the_field(helm, case):
    values, fragments = BAD_VALUES[case]
    result = helm.template(values, check=False)
    assert result.returncode != 0, f"{values} was accepted"
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in:\n{result.stderr}"


def test_the_schema_is_strict_wherever_values_are_the_charts_own(chart: Path):
    """Every object in the schema either lists its keys with additionalProperties false, or is a map / a
    Kubernetes type passed through (validated by the API server and by the rendering tests)."""
    schema = json.loads((chart / "values.schema.json").read_text())
    passthrough = {"global", "affinity", "tolerations", "topologySpreadConstraints", "extraEnv", "to"}
    passthrough |= {"extraEgress", "claims"}

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path or '/'} accepts unknown keys"
        for key, child in (node.get("properties") or {}).items():
            if key not in passthrough:
                walk(child, f"{path}/{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "")


def test_the_default_values_document_every_key(chart: Path):
    """values.yaml holds every key the schema knows (so it is the reference), and nothing else."""
    schema = json.loads((chart / "values.schema.json").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert set(values) == set(schema["properties"]) - {"global"}
