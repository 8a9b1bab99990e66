"""The `agent-supervisor` entry point: the README's demo command and the local cluster are reachable."""

import subprocess
import sys
import zipfile
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent_supervisor", *args], capture_output=True, text=True)


def test_demo_validates_every_example() -> None:
    result = run("demo", "--validate-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all examples are valid" in result.stdout
    assert "AgentSupervisor root: one_for_one" in result.stdout
    assert "- workers: pool of 4 service agents, workers-0 .. workers-3 (permanent)" in result.stdout
    assert "- tools: worker python:3.12-slim (permanent)" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run("bogus")
    assert result.returncode == 2
    assert "invalid choice: 'bogus'" in result.stderr


def test_local_command_reaches_the_local_cluster_cli() -> None:
    result = run("local", "--help")
    assert result.returncode == 0
    assert "up" in result.stdout and "down" in result.stdout


def test_operator_command_reaches_the_operator() -> None:
    result = run("operator", "--help")
    assert result.returncode == 0
    assert "--all-namespaces" in result.stdout


def test_observer_command_takes_namespaces_or_all_not_both() -> None:
    assert "--all-namespaces" in run("observer", "--help").stdout
    both = run("observer", "-n", "team", "-A")
    assert both.returncode == 2
    assert "either -n NAMESPACE (repeatable) or -A" in both.stderr


def test_the_observer_page_ships_in_the_wheel(tmp_path: Path) -> None:
    """No CDN: the page's HTML, JS and CSS are package data, in the wheel the images install."""
    repo = Path(__file__).resolve().parents[2]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(repo)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = "agent_supervisor/cli/observer/static/"
    assert {f"{static}index.html", f"{static}observer.js", f"{static}observer.css"} <= names
