"""The deploy/ folder's tools for the GitOps tests: its render.py module, helm and kubectl."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.localcluster.conftest import tool_env as tools_environment

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tools_bin() -> Path:
    for tool in ("helm", "kubectl"):
        if not (TOOLS_BIN / tool).exists():
            pytest.skip(f"{tool} is not in {TOOLS_BIN}: run make tools")
    return TOOLS_BIN


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """helm and kubectl with their caches in a temporary folder and no cluster."""
    cache = tmp_path_factory.mktemp("tool-cache")
    return tools_environment(cache / "no-cluster-kubeconfig", cache)


@pytest.fixture(scope="session")
def renderer() -> ModuleType:
    """deploy/render.py, loaded by path (deploy/ is not a package)."""
    path = REPO / "deploy" / "render.py"
    spec = importlib.util.spec_from_file_location("deploy_render", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
