"""`local up | down | status`: run the local cluster (API server + process kubelet) from a state directory.

`up` starts it in the background (a detached `up --foreground` process) and returns once it serves; `down`
stops the instance recorded in the state directory and every pod process with it; `status` describes it.
A development and test tool, never a production runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

import localcluster
from localcluster import procid
from localcluster.kubelet import orphans
from localcluster.kubelet.images import DEFAULT_IMAGE_RULES, ImageRule, ImageTable

STATE_ENV = "AGENT_SUPERVISOR_LOCAL_DIR"
DEFAULT_STATE_DIR = ".localcluster"
PID_FILE = "localcluster.pid"
LOG_FILE = "localcluster.log"
READY = "ready"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
EXIT_NOT_RUNNING = 3


def note(message: str) -> None:
    """Messages for people go to stderr, so `eval "$(agent-supervisor local up)"` sets only KUBECONFIG."""
    print(message, file=sys.stderr, flush=True)


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR)


def project_crds() -> list[Path]:
    """The project's CRDs (crds/ next to the package in a checkout), if there are any."""
    folder = Path(localcluster.__file__).resolve().parent.parent / "crds"
    return [folder] if folder.is_dir() and any(folder.glob("*.y*ml")) else []


# --- the record of a running instance ---------------------------------------------------------------------


@dataclass(frozen=True)
class Instance:
    """What `up --foreground` writes to <state>/localcluster.pid once it serves."""

    pid: int
    identity: str  # procid.identity(pid): survives clock steps, unlike a float create time
    url: str
    kubeconfig: str

    @classmethod
    def read(cls, state_dir: Path) -> Instance | None:
        try:
            data = json.loads((state_dir / PID_FILE).read_text())
            # "created" (a bare create time) is what earlier versions wrote
            identity = str(data["identity"]) if "identity" in data else f"time:{float(data['created'])!r}"
            return cls(int(data["pid"]), identity, str(data["url"]), str(data["kubeconfig"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, state_dir: Path) -> None:
        (state_dir / PID_FILE).write_text(json.dumps(self.__dict__) + "\n")

    def alive(self) -> bool:
        """Whether the recorded process still runs (and is not another process that reused the pid)."""
        return procid.same_process(self.pid, self.identity)


def running_instance(state_dir: Path) -> Instance | None:
    instance = Instance.read(state_dir)
    return instance if instance is not None and instance.alive() else None


# --- up --------------------------------------------------------------------------------------------------


def _images(rules: Sequence[str]) -> ImageTable:
    return ImageTable([*(ImageRule.parse(rule) for rule in rules), *DEFAULT_IMAGE_RULES])


def _crd_paths(args: argparse.Namespace) -> list[Path]:
    if args.no_crds:
        return []
    return [Path(p) for p in args.crds] if args.crds else project_crds()


async def _serve(args: argparse.Namespace, state_dir: Path) -> None:
    # Imported here: loading the API server takes a second or more, which `status` and `down` need not pay.
    from localcluster.cluster import LocalCluster

    cluster = LocalCluster(state_dir, args.port, images=_images(args.image), persist=not args.no_persist)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await cluster.start()
    try:
        installed = await cluster.install_crds(_crd_paths(args))
        identity = procid.identity(os.getpid())
        assert identity is not None
        Instance(os.getpid(), identity, cluster.url, str(cluster.kubeconfig_path)).write(state_dir)
        note(f"local cluster serving at {cluster.url} (state in {state_dir})")
        if installed:
            note(f"installed CRDs: {', '.join(installed)}")
        print(f"export KUBECONFIG={cluster.kubeconfig_path}", flush=True)
        if args.ready_fd is not None:
            with os.fdopen(args.ready_fd, "w") as ready:
                ready.write(READY)
        await stop.wait()
        note("stopping the local cluster and its pods")
    finally:
        await cluster.stop()
        (state_dir / PID_FILE).unlink(missing_ok=True)


def _up_foreground(args: argparse.Namespace, state_dir: Path) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    asyncio.run(_serve(args, state_dir))
    return 0


def _child_command(args: argparse.Namespace, state_dir: Path, ready_fd: int) -> list[str]:
    command = [sys.executable, "-m", "localcluster", "up", "--foreground", "--state-dir", str(state_dir)]
    command += ["--port", str(args.port), "--ready-fd", str(ready_fd)]
    for rule in args.image:
        command += ["--image", rule]
    for path in args.crds:
        command += ["--crds", str(Path(path).absolute())]
    for flag in ("no_crds", "no_persist", "verbose"):
        if getattr(args, flag):
            command.append("--" + flag.replace("_", "-"))
    return command


def _wait_ready(read_fd: int, timeout: float) -> bool:
    """True once the child reports it serves; False if it exits (closes the pipe) or takes too long."""
    with os.fdopen(read_fd) as pipe:
        readable, _, _ = select.select([pipe], [], [], timeout)
        return bool(readable) and pipe.read() == READY


def _up_background(args: argparse.Namespace, state_dir: Path) -> int:
    read_fd, write_fd = os.pipe()
    log_path = state_dir / LOG_FILE
    with log_path.open("ab") as log_file:
        child = subprocess.Popen(
            _child_command(args, state_dir, write_fd),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    os.close(write_fd)
    if not _wait_ready(read_fd, START_TIMEOUT_SECONDS):
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.wait()
        orphans.kill_recorded(state_dir / "pods")
        tail = log_path.read_text(errors="replace").splitlines()[-20:]
        print(f"the local cluster did not start; the end of {log_path}:", *tail, sep="\n", file=sys.stderr)
        return 1
    instance = running_instance(state_dir)
    url = instance.url if instance else "?"
    note(f"local cluster running at {url} (pid {child.pid}, state in {state_dir}, log in {log_path})")
    print(f"export KUBECONFIG={state_dir / 'kubeconfig'}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        _images(args.image)
    except ValueError as error:
        print(f"--image: {error}", file=sys.stderr)
        return 2
    instance = running_instance(state_dir)
    if instance is not None:
        note(f"the local cluster already runs at {instance.url} (pid {instance.pid}); `local down` stops it")
        print(f"export KUBECONFIG={instance.kubeconfig}")
        return 0
    if args.foreground:
        return _up_foreground(args, state_dir)
    return _up_background(args, state_dir)


# --- down and status -------------------------------------------------------------------------------------


def cmd_down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).absolute()
    instance = running_instance(state_dir)
    if instance is not None:
        _stop(instance, args.timeout)
    # Pods of an instance that died without cleaning up (e.g. killed with SIGKILL) would be left running.
    leftovers = orphans.kill_recorded(state_dir / "pods")
    (state_dir / PID_FILE).unlink(missing_ok=True)
    if instance is None:
        print(f"no local cluster was running (state dir {state_dir})")
    else:
        print(f"local cluster stopped (pid {instance.pid})")
    if leftovers:
        print(f"killed {leftovers} leftover pod process group(s)")
    return 0


def _stop(instance: Instance, timeout: float) -> None:
    try:
        process = psutil.Process(instance.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except psutil.TimeoutExpired:
            print(f"pid {instance.pid} did not stop within {timeout}s; killing it", file=sys.stderr)
            process.kill()
            process.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass  # it stopped on its own in the meantime


def _kubelet_summary(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/localcluster/v1/kubelet", timeout=5) as response:
        summary: dict[str, Any] = json.load(response)
        return summary


def cmd_status(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).absolute()
    instance = running_instance(state_dir)
    if instance is None:
        print(f"local cluster: not running (state dir {state_dir})")
        return EXIT_NOT_RUNNING
    print(f"local cluster: running at {instance.url} (pid {instance.pid})")
    print(f"kubeconfig: {instance.kubeconfig}")
    try:
        summary = _kubelet_summary(instance.url)
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"kubelet: not answering ({error})")
        return 1
    pods = summary.get("pods", [])
    paused = " (paused)" if summary.get("paused") else ""
    print(f"node {summary.get('node')}{paused}: {len(pods)} pod(s)")
    for pod in pods:
        print(f"  {pod['namespace']}/{pod['name']}  {pod['phase']}  {pod['podIP']}")
    return 0


# --- entry point -----------------------------------------------------------------------------------------


def build_parser(prog: str = "agent-supervisor local") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local Kubernetes API server and process kubelet for development and tests "
        "(never a production runtime). See docs/local-cluster.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    state_help = f"state directory (default: ${STATE_ENV} or ./{DEFAULT_STATE_DIR})"

    up = commands.add_parser("up", help="start the API server and the kubelet; print the KUBECONFIG export")
    up.add_argument("--state-dir", default=str(default_state_dir()), help=state_help)
    up.add_argument("--port", type=int, default=0, help="API server port on 127.0.0.1 (default: a free one)")
    up.add_argument("--foreground", action="store_true", help="run in this process until Ctrl-C or SIGTERM")
    up.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATTERN=COMMAND",
        help="run COMMAND for images matching the glob PATTERN (before the built-in rules); repeatable",
    )
    up.add_argument(
        "--crds", action="append", default=[], help="CRD file or folder to install (default: crds/)"
    )
    up.add_argument("--no-crds", action="store_true", help="install no CRDs")
    up.add_argument("--no-persist", action="store_true", help="do not keep objects in <state>/store.json")
    up.add_argument("--verbose", action="store_true", help="debug logging")
    up.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    up.set_defaults(handler=cmd_up)

    down = commands.add_parser("down", help="stop the running instance and every pod process")
    down.add_argument("--state-dir", default=str(default_state_dir()), help=state_help)
    down.add_argument(
        "--timeout", type=float, default=STOP_TIMEOUT_SECONDS, help="seconds to wait before killing"
    )
    down.set_defaults(handler=cmd_down)

    status = commands.add_parser("status", help="whether it runs, where, and its pods")
    status.add_argument("--state-dir", default=str(default_state_dir()), help=state_help)
    status.set_defaults(handler=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "agent-supervisor local") -> int:
    args = build_parser(prog).parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result
