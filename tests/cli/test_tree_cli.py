"""The tree command's entry points and the errors it reports before it reaches any cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_a_name_across_all_namespaces_is_a_usage_error() -> None:
    result = run("tree", "-A", "team")
    assert result.returncode == 2
    assert "a NAME cannot be looked up across all namespaces; pass -n NAMESPACE instead" in result.stderr


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    result = run("tree", "--kubeconfig", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot load the kubeconfig {tmp_path / 'nowhere'}: ")
    assert "pass --kubeconfig or set KUBECONFIG" in result.stderr
