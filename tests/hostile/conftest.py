"""The hostile corpus runs on the operator end-to-end fixtures: a local cluster, the CRDs, a real operator."""

from __future__ import annotations

import pytest

from tests.operator_e2e.conftest import cluster, env, model_server, pytest_runtest_makereport

__all__ = ["cluster", "env", "model_server", "pytest_runtest_makereport"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "hostile" in str(item.path):
            item.add_marker(pytest.mark.cluster)
