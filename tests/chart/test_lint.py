"""`helm lint`, plain and --strict, and the NOTES shown after an install."""

from __future__ import annotations

import pytest

from agent_supervisor.controller.leader import LEASE_NAME


@pytest.mark.parametrize("strict", [False, True], ids=["lint", "lint-strict"])
def test_helm_lint_passes(helm, chart, strict):
    result = helm.run("lint", str(chart), *(["--strict"] if strict else []))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[ERROR]" not in result.stdout and "[WARNING]" not in result.stdout


@pytest.fixture
def notes(helm, chart):
    def show(*set_args: str) -> str:
        result = helm.run(
            "install", "agent-supervisor", str(chart), "-n", "ops", "--dry-run=client", *set_args
        )
        text: str = result.stdout.split("NOTES:", 1)[1]
        return text

    return show


def test_notes_tell_how_to_check_the_operator(notes):
    text = notes()
    assert "in every namespace" in text
    assert "kubectl rollout status deployment/agent-supervisor -n ops" in text
    assert "WARNING" not in text


def test_notes_name_the_lease_with_several_replicas_and_the_watched_namespaces(notes):
    text = notes("--set", "replicas=2", "--set", "watchNamespaces={team-a,team-b}")
    assert "in: team-a, team-b" in text
    assert f"kubectl get lease {LEASE_NAME} -n ops" in text


def test_notes_warn_about_a_network_policy_that_blocks_what_agents_need(notes):
    text = notes("--set", "networkPolicy.enabled=true")
    assert "networkPolicy.trees is empty" in text
    assert "networkPolicy.modelEndpoints is empty" in text
    assert "networkPolicy.apiServer.cidrs is empty" in text


def test_notes_warn_that_the_network_policy_keeps_prometheus_from_agent_pods(notes):
    assert "Prometheus cannot scrape them" not in notes("--set", "networkPolicy.enabled=true")
    text = notes("--set", "networkPolicy.enabled=true", "--set", "metrics.agentPodMonitor.enabled=true")
    assert "WARNING: agent pods accept only the operator, so Prometheus cannot scrape them" in text
