"""The short chaos soak (`make chaos` runs the long one): the real CLI, a real operator, real agent processes
on the local cluster, every kind of fault, and the auditor's verdict as the exit code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from agent_supervisor.cli.chaos.ledger import DESCRIPTIONS, FaultKind

pytestmark = pytest.mark.cluster

# Faults for 60 s, an operator kill about every 25 s and an API fault about every 8 s (each kind comes from a
# shuffled bag, so at least 3 API faults cover the three kinds); with start-up and the final settle about
# 2 minutes.
DURATION = 60
SEED = 16


@pytest.mark.timeout(400)
def test_a_short_soak_injects_every_kind_of_fault_and_finds_no_violation(tmp_path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "agent_supervisor", "chaos"),
            *("--duration", str(DURATION), "--seed", str(SEED), "--operator-every", "25", "--api-every", "8"),
            *("--state-dir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=380,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output + _tail(tmp_path / "operator.log")
    assert f"seed: {SEED}" in output
    for kind in FaultKind:
        row = re.search(rf"^\| {re.escape(DESCRIPTIONS[kind])} \| (\d+) \| (\d+) \|", output, re.MULTILINE)
        assert row is not None, f"no table row for {kind}:\n{output}"
        assert int(row.group(2)) >= 1, f"no {kind} landed in the short soak:\n{output}"
    counters = re.search(r"expected (\d+), observed (\d+)", output)
    assert counters is not None and counters.group(1) == counters.group(2) != "0", output


def _tail(path, lines: int = 80) -> str:
    if not path.exists():
        return ""
    return "\n--- operator log ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
