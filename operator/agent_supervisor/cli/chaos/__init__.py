"""`agent-supervisor chaos`: a soak of random faults against a real operator and real agents, audited.

Starts the local cluster and the operator, applies a three-level tree (tree.py), injects faults for
`--duration` seconds (soak.py), then checks every fault against OTP's rules (audit.py), prints the table
(table.py) and exits 1 on any violation. `--seed` replays a run's choices. With `--kubeconfig` it runs on an
existing cluster where the operator is installed instead (remote.py; docs/reliability.md, "Real clusters").
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
from agent_supervisor.cli.chaos.observe import GROUP, Observer
from agent_supervisor.cli.chaos.record import load, save
from agent_supervisor.cli.chaos.remote import (
    DEFAULT_OPERATOR_SELECTOR,
    DeploymentOperator,
    KubeconfigTarget,
    KubectlProxy,
    SetupError,
    find_kubectl,
)
from agent_supervisor.cli.chaos.soak import (
    AGENT_TEMPLATE,
    NAMESPACE,
    OperatorProcess,
    Settings,
    Soak,
    start_cluster,
)
from agent_supervisor.cli.chaos.table import render
from agent_supervisor.cli.chaos.target import KUBECTL, Kubectl, LocalTarget, Target
from agent_supervisor.cli.chaos.tree import SupervisorNode, default_tree, leaves, manifest


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
    real = parser.add_argument_group(
        "an existing cluster (the operator installed, e.g. by the Helm chart; docs/reliability.md)"
    )
    real.add_argument("--kubeconfig", type=Path, default=None, help="run on the cluster of this kubeconfig")
    real.add_argument("--context", default=None, help="the kubeconfig's context (default: its current one)")
    real.add_argument("--namespace", default=None, help=f"namespace of the soak's tree (default {NAMESPACE})")
    real.add_argument(
        "--operator-namespace",
        default=None,
        help="the operator's namespace: its pods are deleted with grace 0 about every --operator-every "
        "seconds (default: no operator kills)",
    )
    real.add_argument(
        "--operator-selector",
        default=None,
        help=f"label selector of the operator's pods (default {DEFAULT_OPERATOR_SELECTOR})",
    )
    args = parser.parse_args(list(argv))
    if args.kubeconfig is None:
        for flag in ("context", "namespace", "operator_namespace", "operator_selector"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag.replace('_', '-')} needs --kubeconfig (it is for an existing cluster)")
    elif not args.kubeconfig.expanduser().is_file():
        parser.error(f"--kubeconfig: no file {args.kubeconfig}")
    if args.operator_selector is not None and args.operator_namespace is None:
        parser.error("--operator-selector needs --operator-namespace (the namespace of the operator's pods)")
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
    """The soak on its own local cluster, with its own operator process."""
    tree = default_tree()
    cluster = start_cluster(state_dir)
    env = dict(os.environ)
    env["PATH"] = f"{KUBECTL.parent}{os.pathsep}{env.get('PATH', '')}"
    env["KUBECONFIG"] = str(cluster.kubeconfig_path)
    env["KUBECACHEDIR"] = str(state_dir / "kubecache")
    operator = OperatorProcess(env, state_dir / "operator.log")
    kubectl = Kubectl(str(KUBECTL), cluster.kubeconfig_path, env=env)
    target = LocalTarget(cluster, cluster.cluster.token, kubectl, operator, NAMESPACE)
    observer = Observer(cluster.url, cluster.cluster.token, NAMESPACE)
    try:
        with observer.client() as http:
            http.post("/api/v1/namespaces", json={"metadata": {"name": NAMESPACE}}).raise_for_status()
        observer.start()
        operator.start()
        where = f"the local cluster, {NAMESPACE}"
        return soak_and_audit(tree, settings, target, observer, state_dir, where)
    finally:
        observer.stop()
        operator.kill()
        cluster.stop()


def run_remote(settings: Settings, state_dir: Path, args: argparse.Namespace) -> int:
    """The soak on an existing cluster: kubectl (proxy, exec, delete) with the user's kubeconfig."""
    tree = default_tree()
    namespace = args.namespace or NAMESPACE
    kubectl = Kubectl(find_kubectl(), args.kubeconfig.expanduser().absolute(), args.context)
    proxy = KubectlProxy(kubectl, state_dir / "kubectl-proxy.log")
    try:
        url = proxy.start()
        operator = None
        if args.operator_namespace is not None:
            selector = args.operator_selector or DEFAULT_OPERATOR_SELECTOR
            operator = DeploymentOperator(kubectl, args.operator_namespace, selector)
            operator.check()
        target = KubeconfigTarget(kubectl, namespace, url, operator)
        observer = Observer(url, None, namespace, local_processes=False)
        _prepare(observer, namespace, tree)
        observer.start()
        try:
            context = f" context {args.context}" if args.context else ""
            where = f"{args.kubeconfig}{context}, {namespace}"
            return soak_and_audit(tree, settings, target, observer, state_dir, where)
        finally:
            observer.stop()
            with observer.client() as http:
                # Background: the operator stops the agents; the next run waits for nothing of this one.
                http.delete(
                    f"{GROUP}/namespaces/{namespace}/agentsupervisors/{tree.child}",
                    params={"propagationPolicy": "Background"},
                )
    except SetupError as error:
        say(str(error))
        return 2
    finally:
        proxy.stop()


def _prepare(observer: Observer, namespace: str, tree: SupervisorNode) -> None:
    """The CRDs are there, the namespace exists (created if not), no tree of an earlier run is left."""
    with observer.client() as http:
        if http.get(f"{GROUP}").status_code == 404:
            raise SetupError("the cluster has no otp.agents.dev CRDs: install the chart first (helm install)")
        if http.get(f"/api/v1/namespaces/{namespace}").status_code == 404:
            created = http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
            if created.status_code not in (201, 409):
                raise SetupError(f"cannot create namespace {namespace}: {created.status_code} {created.text}")
        path = f"{GROUP}/namespaces/{namespace}/agentsupervisors/{tree.child}"
        if http.get(path).status_code != 404:
            raise SetupError(
                f"AgentSupervisor {namespace}/{tree.child} exists (an earlier run's?): the soak starts from "
                f"its own new tree; `kubectl delete agentsupervisor {tree.child} -n {namespace}`, then run "
                "it again"
            )


def soak_and_audit(
    tree: SupervisorNode, settings: Settings, target: Target, observer: Observer, state_dir: Path, where: str
) -> int:
    """The part both modes share: the tree applied, faults, the audit, the table."""
    namespace = target.namespace
    soak = Soak(tree, settings, target, observer, say)
    with observer.client() as http:
        path = f"{GROUP}/namespaces/{namespace}/agentsupervisors"
        http.post(path, json=manifest(tree, AGENT_TEMPLATE)).raise_for_status()
    say(f"tree {tree.child}: {len(leaves(tree))} agents under 3 levels of supervisors; waiting for it")
    if not soak.wait_settled():
        problems = "; ".join(observer.errors) or "none seen by the observer"
        say(f"the tree never became Ready; see the operator log (problems reaching pods: {problems})")
        return 2
    for kind, reason in target.unavailable().items():
        say(f"{kind}: {reason}")
    say(f"injecting faults for {settings.duration:.0f}s (seed {settings.seed})")
    soak.run()
    say("faults done; waiting for the tree to settle")
    final = soak.final_state()
    history = observer.history(final)
    report = audit(tree, soak.ledger(), history)
    save(state_dir / "ledger.yaml", settings.seed, soak.ledger(), history)
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    operators = (
        "operator not killed" if target.operator is None else f"{target.operator.generation} operators"
    )
    header = (
        f"Chaos soak {date} on {where}: seed {settings.seed}, {settings.duration:.0f}s, tree {tree.child} "
        f"({len(leaves(tree))} agents, 3 levels), {operators}"
    )
    print(render(report, header, target.unavailable()), flush=True)
    say(f"ledger and history: {state_dir / 'ledger.yaml'}; replay with --seed {settings.seed}")
    return 0 if report.ok else 1


def _run(settings: Settings, state_dir: Path, args: argparse.Namespace) -> int:
    if args.kubeconfig is not None:
        return run_remote(settings, state_dir, args)
    return run(settings, state_dir)


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
            return _run(settings, args.state_dir.absolute(), args)
        # A temporary state directory, kept when the audit fails: its ledger.yaml and logs explain why.
        temp = Path(tempfile.mkdtemp(prefix="agent-supervisor-chaos-"))
        code = _run(settings, temp, args)
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
