"""Test order for parallel runs: `make unit` hands whole files to worker processes (pytest-xdist, --dist
loadfile --no-loadscope-reorder) in collection order, so the files marked `cluster` (a local cluster, real
processes, seconds to minutes each, mostly waiting) go first and the many short pure files fill the workers'
gaps at the end. Long files coming last would leave one worker busy while the others idle.

The order of tests within a file is kept; no test may depend on the order of files anyway.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)  # after the conftests that add the `cluster` marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    on_cluster = {item.path for item in items if item.get_closest_marker("cluster") is not None}
    items.sort(key=lambda item: item.path not in on_cluster)
