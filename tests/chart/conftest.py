"""The real helm binary over the chart: rendering with value sets, and the manifests it produces."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.localcluster.conftest import tool_env

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "agent-supervisor"
TOOLS_BIN = REPO / ".tools" / "bin"
HELM = TOOLS_BIN / "helm"
RELEASE = "agent-supervisor"
NAMESPACE = "agent-supervisor-system"

Manifest = dict[str, Any]


@dataclass
class Helm:
    env: dict[str, str]
    values_dir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(HELM), *args], capture_output=True, text=True, env=self.env, timeout=60, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def values_file(self, values: dict[str, Any]) -> Path:
        """A values file for `values` (JSON is YAML), named by its content so each is written once."""
        text = json.dumps(values, sort_keys=True)
        path = self.values_dir / f"values-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
        path.write_text(text, encoding="utf-8")
        return path

    def template(
        self, values: dict[str, Any] | None = None, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        values_file = self.values_file(values or {})
        return self.run("template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values_file), check=check)


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    if not HELM.exists():
        pytest.skip(f"helm is not at {HELM}: run make tools")
    base = tmp_path_factory.mktemp("helm")
    # No cluster until a test gives one: the kubeconfig does not exist.
    return Helm(tool_env(base / "no-cluster-kubeconfig", base), base)


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[[dict[str, Any]], list[Manifest]]:
    """render(values) -> the manifests `helm template` produces, memoised (each render costs ~0.1 s)."""
    cache: dict[str, list[Manifest]] = {}

    def run(values: dict[str, Any]) -> list[Manifest]:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            cache[key] = [doc for doc in yaml.safe_load_all(helm.template(values).stdout) if doc]
        return cache[key]

    return run


def of_kind(manifests: Iterable[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[m['metadata'] for m in found]}"
    return found[0]


@pytest.fixture(scope="session")
def pick() -> Callable[..., Manifest]:
    """pick(manifests, kind, name=None): the one manifest of that kind (and name); fails otherwise."""
    return one


@pytest.fixture(scope="session")
def kinds() -> Callable[[Iterable[Manifest], str], list[Manifest]]:
    return of_kind


@pytest.fixture(scope="session")
def chart() -> Path:
    """The chart's folder."""
    return CHART
