"""`helm install` / `upgrade` / `uninstall` of the chart on the local cluster, with the real helm and kubectl.

The local cluster stores the Deployment but runs no controller for it, so no operator pod starts: the tests
assert the objects helm creates, changes and removes, and that the CRDs it installs are served.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcluster.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
RELEASE = "agent-supervisor"
NAMESPACE = "agent-supervisor-system"

pytestmark = pytest.mark.cluster


class Tools:
    def __init__(self, env: dict[str, str], chart: Path) -> None:
        self.env = env
        self.chart = chart

    def helm(self, *args: str) -> str:
        result = subprocess.run(
            [str(REPO / ".tools" / "bin" / "helm"), *args, "-n", NAMESPACE],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result.stdout

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args], capture_output=True, text=True, env=self.env, timeout=30, check=False
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result

    def get(self, kind: str, name: str, namespace: str | None = NAMESPACE) -> dict[str, Any]:
        scope = ["-n", namespace] if namespace else []
        manifest: dict[str, Any] = json.loads(self.kubectl("get", kind, name, *scope, "-o", "json").stdout)
        return manifest

    def exists(self, kind: str, name: str, namespace: str | None = NAMESPACE) -> bool:
        scope = ["-n", namespace] if namespace else []
        result = self.kubectl("get", kind, name, *scope, "-o", "name", check=False)
        if result.returncode != 0:
            assert "NotFound" in result.stderr, result.stderr
        return result.returncode == 0


@pytest.fixture(scope="module")
def tools(helm, chart, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tools]:
    state = tmp_path_factory.mktemp("cluster")
    with LocalCluster.in_thread(state / "state") as cluster:
        env = {**helm.env, "KUBECONFIG": str(cluster.kubeconfig_path)}
        yield Tools(env, chart)


def operator_args(tools: Tools) -> list[str]:
    deployment = tools.get("deployment", RELEASE)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_install_upgrade_uninstall(tools: Tools, tmp_path: Path):
    for namespace in ("team-a", "team-b"):
        tools.kubectl("create", "namespace", namespace)

    installed = tools.helm("install", RELEASE, str(tools.chart), "--create-namespace")
    assert "STATUS: deployed" in installed
    assert "The operator serves Agents and AgentSupervisors in every namespace." in installed
    # The CRDs from the chart's crds/ are installed and served.
    for crd in ("agents.otp.agents.dev", "agentsupervisors.otp.agents.dev"):
        assert tools.exists("crd", crd, namespace=None)
    assert tools.kubectl("get", "otp", "-A").returncode == 0
    assert tools.get("deployment", RELEASE)["spec"]["replicas"] == 1
    assert "--all-namespaces" in operator_args(tools)
    assert tools.exists("serviceaccount", RELEASE)
    assert tools.exists("service", f"{RELEASE}-metrics")
    assert tools.exists("clusterrole", RELEASE, namespace=None)
    assert tools.exists("clusterrolebinding", RELEASE, namespace=None)
    assert tools.exists("role", f"{RELEASE}-leader-election")

    values = tmp_path / "namespaced.yaml"
    values.write_text("watchNamespaces: [team-a, team-b]\noperator:\n  workers: 4\n")
    upgraded = tools.helm("upgrade", RELEASE, str(tools.chart), "-f", str(values))
    assert "REVISION: 2" in upgraded
    args = operator_args(tools)
    assert [a for a in args if a.startswith("--namespace")] == ["--namespace=team-a", "--namespace=team-b"]
    assert "--all-namespaces" not in args and "--workers=4" in args
    for namespace in ("team-a", "team-b"):
        role = tools.get("role", RELEASE, namespace)
        assert any("pods" in rule["resources"] for rule in role["rules"])
        assert tools.get("rolebinding", RELEASE, namespace)["subjects"][0]["namespace"] == NAMESPACE
    # helm removed what the new values no longer render: nothing is cluster-wide any more.
    assert not tools.exists("clusterrole", RELEASE, namespace=None)
    assert not tools.exists("clusterrolebinding", RELEASE, namespace=None)
    releases = json.loads(tools.helm("list", "-o", "json"))
    assert [(r["name"], r["revision"], r["status"]) for r in releases] == [(RELEASE, "2", "deployed")]

    assert f'release "{RELEASE}" uninstalled' in tools.helm("uninstall", RELEASE)
    for kind, name, namespace in [
        ("deployment", RELEASE, NAMESPACE),
        ("serviceaccount", RELEASE, NAMESPACE),
        ("service", f"{RELEASE}-metrics", NAMESPACE),
        ("role", f"{RELEASE}-leader-election", NAMESPACE),
        ("rolebinding", f"{RELEASE}-leader-election", NAMESPACE),
        ("role", RELEASE, "team-a"),
        ("rolebinding", RELEASE, "team-b"),
    ]:
        assert not tools.exists(kind, name, namespace), f"{kind} {namespace}/{name} outlived the release"
    # Helm never deletes CRDs (that would delete every Agent): they stay.
    assert tools.exists("crd", "agents.otp.agents.dev", namespace=None)
