"""`kubectl otp tree` through the real kubectl, on the local cluster with the real operator: a nested tree,
a crash the test injects, and --watch printing the restart as it happens."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.operator_e2e.harness import TOOLS_BIN, Env, agent_child, supervisor, wait_for, wait_running

PLUGIN = Path(sys.executable).parent / "kubectl-otp"
WATCH_TIMEOUT = 60.0


@pytest.fixture
def plugin_env(env: Env) -> dict[str, str]:
    """The tests' tool environment with the kubectl-otp console script (`make setup` installs it) on PATH."""
    assert PLUGIN.exists(), f"{PLUGIN} is missing: run `make setup` to install the kubectl-otp entry point"
    return {
        **env.tool_env,
        "PATH": f"{TOOLS_BIN}{os.pathsep}{PLUGIN.parent}{os.pathsep}{env.tool_env['PATH']}",
    }


def kubectl(plugin_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS_BIN / "kubectl"), *args], capture_output=True, text=True, env=plugin_env, timeout=60
    )


def rows(lines: list[str]) -> dict[str, dict[str, str]]:
    """The tree's lines as node name -> column -> cell (columns found from the header's positions)."""
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    table = {}
    for line in lines[1:]:
        cells = {n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
        # The name column starts with the branches, three characters per level.
        name = line[starts[names.index("NAME")] : starts[names.index("NAME") + 1]].rstrip()
        cells["DEPTH"] = str((len(name) - len(name.split()[-1])) // 3)
        table[cells["NAME"].split()[-1]] = cells
    return table


def nested_tree() -> dict[str, object]:
    research = {
        "name": "research",
        "supervisor": {
            "strategy": "one_for_all",
            "maxRestarts": 3,
            "periodSeconds": 600,
            "children": [agent_child("lead"), agent_child("searcher")],
        },
    }
    return supervisor("root", [agent_child("frontdesk"), research], periodSeconds=600)


class Reader:
    """The lines a process prints, read by a thread so that waiting for one has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()

    def _read(self, stdout: object) -> None:
        for line in stdout:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, wanted: str, timeout: float = WATCH_TIMEOUT) -> list[str]:
        """Read until a printed tree (a block under a header) has a line matching `wanted`; that block."""
        deadline = time.monotonic() + timeout
        block: list[str] = []
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError("the watch ended:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if line.startswith("NAME "):
                block = [line]
            elif line:
                block.append(line)
                if re.search(wanted, line):
                    return block


@pytest.fixture
def watching(env: Env, plugin_env: dict[str, str]) -> Iterator[Reader]:
    process = subprocess.Popen(
        [str(TOOLS_BIN / "kubectl"), "otp", "tree", "--watch", "-n", env.namespace, "root"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=plugin_env,
    )
    try:
        yield Reader(process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_kubectl_otp_tree_shows_the_nested_tree_and_a_restart(
    env: Env, plugin_env: dict[str, str], watching: Reader
) -> None:
    env.operator()
    env.apply(nested_tree())
    wait_running(env, "root", 2)
    wait_running(env, "root-research", 2)

    # --watch prints the tree as it comes up; wait until it shows the nested team Running.
    watching.until(r"root-research\s+AgentSupervisor\s+one_for_all\s+Running\s+2/2")

    shown = kubectl(plugin_env, "otp", "tree", "-n", env.namespace)
    assert shown.returncode == 0, shown.stderr
    tree = rows(shown.stdout.splitlines())
    assert [(name, row["DEPTH"], row["KIND"]) for name, row in tree.items()] == [
        ("root", "0", "AgentSupervisor"),
        ("root-frontdesk", "1", "Agent"),
        ("root-research", "1", "AgentSupervisor"),
        ("root-research-lead", "2", "Agent"),
        ("root-research-searcher", "2", "Agent"),
    ]
    assert tree["root"]["STRATEGY"] == "one_for_one"
    assert (tree["root-research"]["WINDOW"], tree["root-research"]["BUDGET"]) == ("0/3", "3")
    assert tree["root-research-searcher"]["RESTARTS"] == "0"
    # Not a terminal: no colour codes in a pipe.
    assert "\x1b[" not in shown.stdout

    searcher_pod = env.status("agents", "root-research-searcher")["podName"]
    env.kill_pod(searcher_pod)
    wait_for(
        lambda: env.status("agentsupervisors", "root-research").get("totalRestarts") == 1,
        what="root-research to restart its searcher",
    )

    # The watch prints the restart by itself: the searcher's count and the nested supervisor's window.
    block = watching.until(r"root-research-searcher\s+Agent\s+-\s+\S+\s+\S+\s+1\s")
    watched = rows(block)
    assert watched["root-research-searcher"]["RESTARTS"] == "1"

    after = rows(kubectl(plugin_env, "otp", "tree", "-n", env.namespace, "root").stdout.splitlines())
    assert after["root-research-searcher"]["RESTARTS"] == "1"
    assert after["root-research-searcher"]["LAST EXIT"] == "Error (137)"
    assert (after["root-research"]["WINDOW"], after["root-research"]["BUDGET"]) == ("1/3", "2")
    # The root restarted nothing itself: its children's restarts are the nested supervisor's business.
    assert (after["root"]["RESTARTS"], after["root"]["WINDOW"]) == ("0", "0/3")


def test_the_kubeconfig_context_gives_the_namespace_and_kubectl_flags_work(
    env: Env, plugin_env: dict[str, str], tmp_path: Path
) -> None:
    env.apply(supervisor("solo-team", [agent_child("a")]))
    # No operator here: the tree shows the spec's children before anything runs them.
    config = yaml.safe_load(Path(plugin_env["KUBECONFIG"]).read_text())
    config["contexts"].append(
        {"name": "here", "context": {**config["contexts"][0]["context"], "namespace": env.namespace}}
    )
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    by_context = kubectl(plugin_env, "otp", "tree", "--kubeconfig", str(kubeconfig), "--context", "here")
    assert by_context.returncode == 0, by_context.stderr
    assert list(rows(by_context.stdout.splitlines())) == ["solo-team", "solo-team-a"]

    elsewhere = kubectl(plugin_env, "otp", "tree", "--kubeconfig", str(kubeconfig))  # the default namespace
    assert (elsewhere.returncode, elsewhere.stdout) == (0, "")
    assert "No resources found in default namespace." in elsewhere.stderr

    everywhere = kubectl(plugin_env, "otp", "tree", "-A")
    assert everywhere.returncode == 0, everywhere.stderr
    assert re.search(rf"^{env.namespace}\s+solo-team\s+AgentSupervisor\s", everywhere.stdout, re.M)

    wrong = kubectl(plugin_env, "otp", "tree", "--kubeconfig", str(kubeconfig), "--context", "nope")
    assert wrong.returncode == 1
    assert "--context nope: no such context in the kubeconfig (it has: here, localcluster)" in wrong.stderr

    missing = kubectl(plugin_env, "otp", "tree", "-n", env.namespace, "nobody")
    assert missing.returncode == 1
    assert f"no AgentSupervisor or Agent named nobody in namespace {env.namespace}" in missing.stderr

    other = kubectl(plugin_env, "otp", "bogus")
    assert other.returncode == 2
    assert "unknown command 'bogus'" in other.stderr and "tree" in other.stderr
