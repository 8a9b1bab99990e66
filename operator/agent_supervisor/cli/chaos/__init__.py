"""`agent-supervisor chaos`: a soak of random faults against a real operator and real agents, audited.

Starts the local cluster and the operator, applies a three-level tree (tree.py), injects faults for
`--duration` seconds (soak.py), then checks every fault against OTP's rules (audit.py), prints the table
(table.py) and exits 1 on any violation. `--seed` replays a run's choices.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from agent_supervisor.cli.chaos.audit import audit
from agent_supervisor.cli.chaos.observe import Observer
from agent_supervisor.cli.chaos.record import load, save
from agent_supervisor.cli.chaos.soak import (
    AGENT_TEMPLATE,
    KUBECTL,
    NAMESPACE,
    OperatorProcess,
    Settings,
    Soak,
    start_cluster,
)
from agent_supervisor.cli.chaos.table import render
from agent_supervisor.cli.chaos.tree import default_tree, leaves, manifest


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agent-supervisor chaos", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults (default 600)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random choices (default: new)")
    parser.add_argument(
        "--operator-every", type=float, default=60.0, help="seconds between operator kills, about (60)"
    )
    parser.add_argument(
        "--api-every", type=float, default=15.0, help="seconds between API faults, about (default 15)"
    )
    parser.add_argument(
        "--overlap",
        type=float,
        default=0.35,
        help="chance that another crash follows while a restart runs (0-1, default 0.35)",
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep the cluster state, logs and ledger here"
    )
    parser.add_argument(
        "--audit",
        type=Path,
        default=None,
        metavar="LEDGER",
        help="audit the ledger.yaml of an earlier run again and print its table; runs nothing",
    )
    args = parser.parse_args(list(argv))
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if not 0 <= args.overlap <= 1:
        parser.error("--overlap must be between 0 and 1")
    if args.operator_every <= 0:
        parser.error("--operator-every must be positive")
    if args.api_every <= 0:
        parser.error("--api-every must be positive")
    return args


def run(settings: Settings, state_dir: Path) -> int:
    tree = default_tree()
    cluster = start_cluster(state_dir)
    env = dict(os.environ)
    env["PATH"] = f"{KUBECTL.parent}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    env["KUBECACHEDIR"] = str(state_dir / "kubecache")
    operator = OperatorProcess(env, state_dir / "operator.log")
    observer = Observer(cluster.url, cluster.cluster.token, NAMESPACE)
    try:
        with observer.client() as http:
            http.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}).raise_for_status()
        observer.start()
        operator.start()
        soak = Soak(tree, settings, cluster, observer, operator, env, say)
        with observer.client() as http:
            path = f"/apis/otp.agents.dev/v1alpha1/namespaces/{NAMESPACE}/agentsupervisors"
            http.post(path, json=manifest(tree, AGENT_TEMPLATE)).raise_for_status()
        say(f"tree {tree.child}: {len(leaves(tree))} agents under 3 levels of supervisors; waiting for it")
        if not soak.wait_settled():
            say("the tree never became Ready; see the operator log")
            return 2
        say(f"injecting faults for {settings.duration:.0f}s (seed {settings.seed})")
        soak.run()
        say("faults done; waiting for the tree to settle")
        final = soak.final_state()
        history = observer.history(final)
        report = audit(tree, soak.ledger(), history)
        save(state_dir / "ledger.yaml", settings.seed, soak.ledger(), history)
        date = datetime.now(UTC).strftime("%Y-%m-%d")
        header = (
            f"Chaos soak {date}: seed {settings.seed}, {settings.duration:.0f}s, tree {tree.child} "
            f"({len(leaves(tree))} agents, 3 levels), {operator.generation} operator processes"
        )
        print(render(report, header), flush=True)
        say(f"ledger and history: {state_dir / 'ledger.yaml'}; replay with --seed {settings.seed}")
        return 0 if report.ok else 1
    finally:
        observer.stop()
        operator.kill()
        cluster.stop()


def reaudit(path: Path) -> int:
    seed, ledger, history = load(path)
    tree = default_tree()
    report = audit(tree, ledger, history)
    print(render(report, f"Audit of {path} (seed {seed}, {len(ledger.faults)} faults)"), flush=True)
    return 0 if report.ok else 1


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.audit is not None:
        return reaudit(args.audit)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    print(f"chaos soak seed: {seed} (replay with --seed {seed})", flush=True)
    settings = Settings(args.duration, seed, args.operator_every, args.overlap, args.api_every)
    # SIGTERM unwinds like Ctrl-C, so that the operator, the pods and the cluster are stopped either way.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.state_dir is not None:
            args.state_dir.mkdir(parents=True, exist_ok=True)
            return run(settings, args.state_dir.absolute())
        # A temporary state directory, kept when the audit fails: its ledger.yaml and logs explain why.
        temp = Path(tempfile.mkdtemp(prefix="agent-supervisor-chaos-"))
        code = run(settings, temp)
        if code == 0:
            shutil.rmtree(temp, ignore_errors=True)
        else:
            print(f"kept {temp} (ledger.yaml, operator.log, the cluster's pod logs)", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"interrupted; everything was stopped (replay with --seed {seed})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
