"""The tree command's entry points and the errors it reports before it reaches any cluster."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from agent_supervisor.cli.tree import Event, Mirror, Target, View
from agent_supervisor.cli.tree_render import UNICODE
from tests.cli.bodies import agent, sup

PLUGIN = Path(sys.executable).parent / "kubectl-otp"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent_supervisor", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_agent_supervisor_lists_and_reaches_the_tree_command() -> None:
    assert "tree: show the supervision trees" in run("--help").stdout
    result = run("tree", "--help")
    assert result.returncode == 0
    for flag in (
        "--kubeconfig",
        "--context",
        "-n NAMESPACE, --namespace NAMESPACE",
        "-A, --all-namespaces",
        "--watch",
    ):
        assert flag in result.stdout, flag


def test_the_kubectl_plugin_is_installed_and_names_its_commands() -> None:
    assert PLUGIN.exists(), f"{PLUGIN} is missing: run `make setup` to install the kubectl-otp entry point"
    result = subprocess.run([str(PLUGIN)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Usage: kubectl otp <command>" in result.stdout and "tree" in result.stdout
    tree_help = subprocess.run([str(PLUGIN), "tree", "--help"], capture_output=True, text=True, timeout=60)
    assert tree_help.stdout.startswith("usage: kubectl otp tree ")
    assert "observer" in result.stdout
    observer_help = subprocess.run(
        [str(PLUGIN), "observer", "--help"], capture_output=True, text=True, timeout=60
    )
    assert observer_help.stdout.startswith("usage: kubectl otp observer ")


def test_a_name_across_all_namespaces_is_a_usage_error() -> None:
    result = run("tree", "-A", "team")
    assert result.returncode == 2
    assert "a NAME cannot be looked up across all namespaces; pass -n NAMESPACE instead" in result.stderr


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    result = run("tree", "--kubeconfig", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot load the kubeconfig {tmp_path / 'nowhere'}: ")
    assert "pass --kubeconfig or set KUBECONFIG" in result.stderr


def test_the_mirror_follows_lists_and_watch_events() -> None:
    mirror = Mirror()
    a, b = agent("a"), agent("b")
    mirror.apply(Event("Agent", "LISTED", (a, b)))
    changed = agent("a", status={"phase": "Failed"})
    mirror.apply(Event("Agent", "MODIFIED", (changed,)))
    mirror.apply(Event("Agent", "DELETED", (b,)))
    assert mirror.lists()["Agent"] == [changed]
    # A fresh list (after 410 Gone) replaces everything known of the kind, deletions missed meanwhile too.
    mirror.apply(Event("Agent", "LISTED", (b,)))
    assert mirror.lists() == {"AgentSupervisor": [], "Agent": [b]}


def test_watch_output_prints_a_tree_again_only_when_it_changed() -> None:
    out = io.StringIO()
    view = View(out, Target("team-ns", None), colour=False, branches=UNICODE)
    # No creation time, so no age: the output must not change with the clock between the prints.
    team = sup("team", [{"name": "a", "agent": {}}], created=None, status={"phase": "Running"})
    view.show({"AgentSupervisor": [team], "Agent": []}, final=False)
    view.show({"AgentSupervisor": [team], "Agent": []}, final=False)
    team["status"]["phase"] = "Restarting"
    view.show({"AgentSupervisor": [team], "Agent": []}, final=False)
    first, second = out.getvalue().split("\n\n")
    assert re.search(r"^team +AgentSupervisor +one_for_one +Running ", first, re.M)
    assert re.search(r"^team +AgentSupervisor +one_for_one +Restarting ", second, re.M)
    assert first.count("NAME") == second.count("NAME") == 1
