"""The kind suite: both Dockerfile targets built and loaded into a kind cluster, the chart installed from
charts/agent-supervisor, the scripted model server and the model Secret in place.

Every test here is skipped, with the reason, where `docker info` fails or the `kind` binary is not on PATH.
Run it with `python -m pytest tests/e2e_kind` (`--keep-cluster` keeps the cluster for a look afterwards).
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_kind import KindCluster

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TOOLS_BIN = REPO / ".tools" / "bin"
NAMESPACE = "agent-supervisor-system"
RELEASE = "agent-supervisor"
OPERATOR_IMAGE = "agent-supervisor-operator:e2e"
AGENT_IMAGE = "agent-supervisor-agent:e2e"


def _missing_prerequisite() -> str | None:
    """Why the suite cannot run here, or None."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "docker info timed out: the Docker daemon is not answering"
    if info.returncode != 0:
        last_line = (info.stderr.strip().splitlines() or ["no daemon"])[-1]
        return f"docker info failed: {last_line}"
    if shutil.which("kind") is None:
        return "kind is not on PATH (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
    for tool in ("kubectl", "helm"):
        if shutil.which(tool) is None and not (TOOLS_BIN / tool).exists():
            return f"{tool} is not on PATH or in .tools/bin (run make tools)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(item.path).parents]
    if not ours:
        return
    reason = _missing_prerequisite()
    if reason is not None:
        skip = pytest.mark.skip(reason=f"kind suite needs Docker and kind: {reason}")
        for item in ours:
            item.add_marker(skip)
    for item in ours:
        item.add_marker(pytest.mark.kind)


def _tool(name: str) -> str:
    bundled = TOOLS_BIN / name
    return str(bundled) if bundled.exists() else str(shutil.which(name))


def _run(*args: str) -> None:
    subprocess.run(args, cwd=REPO, check=True)


@pytest.fixture(scope="session")
def images() -> tuple[str, str]:
    """Both Dockerfile targets, built from this checkout."""
    for target, tag in (("operator", OPERATOR_IMAGE), ("agent", AGENT_IMAGE)):
        _run("docker", "build", "--target", target, "--tag", tag, ".")
    return OPERATOR_IMAGE, AGENT_IMAGE


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, images: tuple[str, str]) -> Iterator[KindCluster]:
    """A kind cluster with the images loaded, the chart installed and the examples' model server running."""
    kind_cluster = KindCluster(
        request.config.getoption("cluster_name"),
        kind_path=Path(_tool("kind")),
        kubectl_path=Path(_tool("kubectl")),
    )
    kind_cluster.create()
    try:
        for image in images:
            kind_cluster.load_docker_image(image)
        _install_chart(kind_cluster)
        _start_model_server(kind_cluster)
        yield kind_cluster
    finally:
        if not request.config.getoption("keep_cluster"):
            kind_cluster.delete()


def _install_chart(kind_cluster: KindCluster) -> None:
    operator_repository, operator_tag = OPERATOR_IMAGE.split(":")
    agent_repository, agent_tag = AGENT_IMAGE.split(":")
    _run(
        _tool("helm"),
        "install",
        RELEASE,
        str(REPO / "charts" / "agent-supervisor"),
        "--kubeconfig",
        str(kind_cluster.kubeconfig_path),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--set",
        f"image.repository={operator_repository}",
        "--set",
        f"image.tag={operator_tag}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        f"agentImage.repository={agent_repository}",
        "--set",
        f"agentImage.tag={agent_tag}",
        "--wait",
        "--timeout",
        "5m",
    )


def _start_model_server(kind_cluster: KindCluster) -> None:
    manifest = (HERE / "manifests" / "model-server.yaml").read_text(encoding="utf-8")
    kind_cluster.kubectl("apply", "-f", "-", input=manifest.replace("AGENT_IMAGE", AGENT_IMAGE))
    kind_cluster.kubectl("rollout", "status", "deployment/model-server", "-n", NAMESPACE, "--timeout=180s")


@pytest.fixture
def namespace(cluster: KindCluster) -> Iterator[str]:
    """A fresh namespace per test with the examples' model Secret, deleted afterwards."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("apply", "-n", name, "-f", str(REPO / "examples" / "model-secret.yaml"))
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")
