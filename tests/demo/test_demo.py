"""`agent-supervisor demo` end to end, as `make demo` runs it: a real supervised restart, then a clean
stop."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.demo.processes import processes_using

pytestmark = pytest.mark.cluster

DEMO = [sys.executable, "-m", "agent_supervisor", "demo"]
STATE = re.compile(r"state in (\S+)\)")


def attempts(output: str, when: str) -> tuple[dict[str, int], str]:
    """The child -> attempt map and the restart count narrated `before the crash` / `after the restart`."""
    found = re.search(rf"pod attempts {when}: (.*) \(restarts (\S+)\)", output)
    assert found, f"no 'pod attempts {when}' line in:\n{output}"
    pairs = (item.split("=") for item in found.group(1).split(", "))
    return {child: int(attempt) for child, attempt in pairs}, found.group(2)


def assert_cleaned_up(output: str) -> None:
    found = STATE.search(output)
    assert found, output
    state = found.group(1)
    assert processes_using(state) == []
    assert not Path(state).exists()


def test_demo_shows_a_supervised_one_for_all_restart_and_stops_everything() -> None:
    result = subprocess.run(DEMO, capture_output=True, text=True, timeout=90)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr

    before, restarts_before = attempts(output, "before the crash")
    after, restarts_after = attempts(output, "after the restart")
    crashing = r"crashing agent (\w+): SIGKILL to its agent process \(pid \d+\) in pod (\S+)"
    crashed = re.search(crashing, output)
    assert crashed, output
    child, pod = crashed.groups()
    assert child == "researcher"
    assert pod == f"team-researcher-{before['researcher']}"
    assert set(before) == set(after) == {"planner", "researcher", "writer"}
    # one_for_all: every member runs a new incarnation, not only the crashed one, each in its own pod.
    assert all(after[name] > before[name] for name in before), (before, after)
    assert "a new process in its pod's pod supervisor: the same pods as before the crash" in output
    assert (restarts_before, restarts_after) == ("0/3", "1/3")
    # What kubectl showed: the supervisor's new restart count and its event.
    assert re.search(r"agentsupervisor.otp.agents.dev/team\s+one_for_all\s+3/3\s+1/3\s+Running", output)
    assert "GroupRestarted" in output and "child researcher exited" in output
    # The tree, through the kubectl plugin, before the crash and after the restart.
    before_crash, after_restart = output.split("pod attempts after the restart", 1)
    tree = r"==> kubectl otp tree -n default\nNAME +KIND +STRATEGY +PHASE +READY +RESTARTS +WINDOW +BUDGET"
    assert re.search(tree, before_crash) and re.search(tree, after_restart), output
    # NAME, KIND, STRATEGY, PHASE Running, READY, RESTARTS, WINDOW, BUDGET
    row = r"\n{} +{} +{} +Running +{} +{} +{} +{} "
    team = ("team", "AgentSupervisor", "one_for_all", "3/3")
    assert re.search(row.format(*team, "0", "0/3", "3"), before_crash)
    assert re.search(row.format(*team, "1", "1/3", "2"), after_restart)
    assert re.search(row.format(r"\S+ team-researcher", "Agent", "-", "1/1", "1", "-", "-"), after_restart)
    # The crashed agent's pod is still the one running it (restarted in place, never replaced).
    after_restart = output[output.index("pod attempts after the restart") :]
    assert re.search(rf"\n{re.escape(pod)}\s+1/1\s+Running\s", after_restart), after_restart
    assert_cleaned_up(output)


def test_keep_runs_until_ctrl_c_and_then_cleans_up() -> None:
    process = subprocess.Popen([*DEMO, "--keep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        assert "export KUBECONFIG=" in output, output
        process.send_signal(signal.SIGINT)
        rest, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, errors
    assert_cleaned_up(output + rest)


def test_a_missing_example_is_a_usage_error_naming_the_option() -> None:
    result = subprocess.run([*DEMO, "--example", "nope.yaml"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--example nope.yaml: no such file" in result.stderr
