"""`agent-supervisor chaos --kubeconfig` against a cluster it did not start, with real clients only.

The local cluster plays the remote one: the test starts it and a real operator (as an installed operator
would run), and the soak gets only the kubeconfig. So it reaches the API through `kubectl proxy`, the pod
supervisors through the API server's pod proxy, kills incarnations with `kubectl exec` and pods with
`kubectl delete pod`, and has no way to the local processes or the API server's fault injection.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent_supervisor.cli.chaos.ledger import DESCRIPTIONS, FaultKind
from agent_supervisor.cli.chaos.soak import NAMESPACE, OperatorProcess, start_cluster
from agent_supervisor.cli.chaos.target import KUBECTL

pytestmark = pytest.mark.cluster

DURATION = 30
SEED = 7


def _row(output: str, kind: FaultKind) -> list[str]:
    match = re.search(rf"^\| {re.escape(DESCRIPTIONS[kind])} \|(.*)\|$", output, re.MULTILINE)
    assert match is not None, f"no table row for {kind}:\n{output}"
    return [cell.strip() for cell in match.group(1).split("|")]


@pytest.mark.timeout(240)
def test_a_kubeconfig_soak_kills_through_kubectl_and_finds_no_violation(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "cluster")
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
    operator = OperatorProcess(env, tmp_path / "operator.log")
    try:
        operator.start()
        # The user's PATH has kubectl; KUBECONFIG is not set: the flag alone names the cluster.
        soak_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        soak_env["PATH"] = f"{KUBECTL.parent}{os.pathsep}{soak_env.get('PATH', '')}"
        soak_env["KUBECACHEDIR"] = str(tmp_path / "kubecache")
        result = subprocess.run(
            [
                *(
                    sys.executable,
                    "-m",
                    "agent_supervisor",
                    "chaos",
                    "--kubeconfig",
                    str(cluster.kubeconfig_path),
                ),
                *("--namespace", NAMESPACE, "--duration", str(DURATION), "--seed", str(SEED)),
                *("--overlap", "0.5", "--state-dir", str(tmp_path / "state")),
            ],
            env=soak_env,
            capture_output=True,
            text=True,
            timeout=220,
        )
    finally:
        operator.kill()
        cluster.stop()
    output = result.stdout + result.stderr
    print(output)  # shown with -rP, and with a failure
    assert result.returncode == 0, output + _tail(tmp_path / "operator.log")
    for kind in (FaultKind.KILL_PROCESS, FaultKind.DELETE_POD):
        _injected, landed, *_ = _row(output, kind)
        assert int(landed) >= 1, f"no {kind} landed:\n{output}"
    assert ", by kubectl exec" in output  # the process kills went through the pod, not a local pid
    for kind in (FaultKind.FAIL_REQUESTS, FaultKind.DROP_WATCHES, FaultKind.COMPACT_HISTORY):
        assert _row(output, kind)[0] == "n/a on a real cluster", output
    assert _row(output, FaultKind.KILL_OPERATOR)[0].startswith("skipped"), output
    total = re.search(r"^\| \*\*total\*\* \|(.*)\|$", output, re.MULTILINE)
    assert total is not None and total.group(1).split("|")[-1].strip() == "**0**", output
    counters = re.search(r"expected (\d+), observed (\d+)", output)
    assert counters is not None and counters.group(1) == counters.group(2) != "0", output


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return ""
    return "\n--- operator log ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
