"""`agent-supervisor demo`: the one-command local demo of a supervised restart.

Starts the local cluster, the scripted model server and the operator, applies an example (the one_for_all
team by default), crashes one agent with SIGKILL and shows the supervisor's reaction as kubectl shows it
(`kubectl otp tree` before and after the crash, `kubectl get`, the events), then stops everything.
`--validate-only` only validates the examples and needs no cluster.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from agent_supervisor.cli.demo_stack import EXAMPLES, DemoError, DemoStack, wait_until
from agent_supervisor.cli.demo_validate import documents, validate

DEFAULT_EXAMPLE = EXAMPLES / "one-for-all-team.yaml"
MODEL_SECRET = EXAMPLES / "model-secret.yaml"
NAMESPACE = "default"
SETTLE_TIMEOUT = 45.0


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def show(output: str) -> None:
    print(output.rstrip("\n"), flush=True)


def main_resource(example: Path) -> dict[str, Any]:
    """The example's Agent or AgentSupervisor (the first one)."""
    for doc in documents(example):
        if doc.get("kind") in ("Agent", "AgentSupervisor"):
            return doc
    raise DemoError(f"{example} holds no Agent or AgentSupervisor; pass one with --example")


def settled(stack: DemoStack, kind: str, name: str) -> str | None:
    """The phase once the resource is Ready (Succeeded, for a task agent); None before."""
    obj = stack.get(kind, NAMESPACE, name) or {}
    status = obj.get("status") or {}
    phase = status.get("phase")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    task = kind == "agents" and bool((obj.get("spec") or {}).get("task"))
    if phase == "Succeeded" or (phase == "Running" and ready and not task):
        return str(phase)
    return None


def restarts(stack: DemoStack, name: str) -> str:
    status = (stack.get("agentsupervisors", NAMESPACE, name) or {}).get("status") or {}
    return str(status.get("restartsInWindow", "?"))


def crash_target(resource: dict[str, Any]) -> str | None:
    """The top-level service agent in the middle of the start order (a task agent may be done already)."""
    services = [
        c for c in resource.get("spec", {}).get("children", []) if "agent" in c and not c["agent"].get("task")
    ]
    return str(services[len(services) // 2]["name"]) if services else None


def _attempts_line(attempts: dict[str, int]) -> str:
    return ", ".join(f"{child}={attempt}" for child, attempt in sorted(attempts.items()))


def show_tree(stack: DemoStack) -> None:
    command, output = stack.otp_tree("-n", NAMESPACE)
    say(command)
    show(output)


def show_state(stack: DemoStack) -> None:
    show_tree(stack)
    say("kubectl get otp")
    show(stack.kubectl("get", "otp", "-n", NAMESPACE))
    say("kubectl get pods -L otp.agents.dev/child,otp.agents.dev/attempt")
    show(stack.kubectl("get", "pods", "-n", NAMESPACE, "-L", "otp.agents.dev/child,otp.agents.dev/attempt"))


def crash_and_watch(stack: DemoStack, name: str, child: str) -> None:
    before = stack.live_attempts(NAMESPACE)
    restarts_before = restarts(stack, name)
    say(f"pod attempts before the crash: {_attempts_line(before)} (restarts {restarts_before})")
    pods_before = stack.live_pods(NAMESPACE)
    pod = stack.pod_of_child(NAMESPACE, child)
    pid = stack.kill_agent_process(NAMESPACE, pod)
    say(f"crashing agent {child}: SIGKILL to its agent process (pid {pid}) in pod {pod}")
    say(f"waiting for supervisor {name} to react")

    def recovered() -> dict[str, int] | None:
        attempts = stack.live_attempts(NAMESPACE)
        moved = attempts.get(child, -1) > before.get(child, -1)
        again = restarts(stack, name) != restarts_before and settled(stack, "agentsupervisors", name)
        return attempts if moved and again else None

    after = wait_until(recovered, SETTLE_TIMEOUT, f"supervisor {name} to restart {child} and be Ready")
    # The operator hears Ready from the pods' pod supervisors a moment before the kubelet's probe reports it.
    wait_until(lambda: stack.live_pods_ready(NAMESPACE), SETTLE_TIMEOUT, "the pods to be Ready")
    say(f"pod attempts after the restart: {_attempts_line(after)} (restarts {restarts(stack, name)})")
    kept = "the same pods" if stack.live_pods(NAMESPACE) == pods_before else "new pods where needed"
    say(f"each restarted agent is a new process in its pod's pod supervisor: {kept} as before the crash")
    show_state(stack)
    say(f"`kubectl logs {pod}` shows every incarnation's output and how each one ended")
    say(f"kubectl get events --field-selector involvedObject.name={name}")
    show(stack.kubectl("get", "events", "-n", NAMESPACE, f"--field-selector=involvedObject.name={name}"))


def run(example: Path, keep: bool) -> int:
    resource = main_resource(example)
    kind = "agentsupervisors" if resource["kind"] == "AgentSupervisor" else "agents"
    name = str(resource["metadata"]["name"])
    with DemoStack() as stack:
        say(f"starting the local cluster (state in {stack.state_dir}) and installing the CRDs")
        stack.start_cluster()
        say("starting the scripted model server (pod model-server in agent-supervisor-system)")
        stack.start_model_server()
        say("starting the operator (python -m agent_supervisor operator -A)")
        stack.start_operator()
        say(f"kubectl apply -f {MODEL_SECRET.name} -f {example.name}")
        show(stack.kubectl("apply", "-n", NAMESPACE, "-f", str(MODEL_SECRET), "-f", str(example)))
        say(f"waiting for {resource['kind']} {name} to be Ready")
        phase = wait_until(lambda: settled(stack, kind, name), SETTLE_TIMEOUT, f"{name} to be Ready")
        say(f"{resource['kind']} {name} is {phase}")
        show_state(stack)
        child = crash_target(resource) if kind == "agentsupervisors" else None
        if child is None:
            say(f"{resource['kind']} {name} has no supervised service agent to crash; skipping the crash")
        else:
            crash_and_watch(stack, name, child)
        if keep:
            _wait_for_interrupt(stack)
        say("stopping the operator, the pods and the local cluster")
    say("demo finished; nothing is left running")
    return 0


def _wait_for_interrupt(stack: DemoStack) -> None:
    say("the stack keeps running; in another shell:")
    print(f"    export KUBECONFIG={stack.kubeconfig}")
    kubectl_dir, plugin_dir, _ = stack.tool_env()["PATH"].split(os.pathsep, 2)
    print(f"    export PATH={kubectl_dir}{os.pathsep}{plugin_dir}{os.pathsep}$PATH")
    print("    kubectl get otp,pods -A")
    print("    kubectl otp tree -A --watch")
    try:
        print("Press Ctrl-C here to stop everything.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        return


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turned into KeyboardInterrupt so that SIGTERM unwinds and cleans up exactly like Ctrl-C.
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="agent-supervisor demo", description=__doc__)
    parser.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE, help="manifest to run")
    parser.add_argument("--keep", action="store_true", help="keep the stack running until Ctrl-C")
    parser.add_argument("--validate-only", action="store_true", help="only validate the examples folder")
    parser.add_argument("--examples", type=Path, default=EXAMPLES, help="folder for --validate-only")
    args = parser.parse_args(list(argv))
    if args.validate_only:
        return validate(args.examples)
    if not args.example.is_file():
        parser.error(f"--example {args.example}: no such file; pass a manifest such as {DEFAULT_EXAMPLE}")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return run(args.example, args.keep)
    except DemoError as err:
        print(f"demo failed: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; everything was stopped", file=sys.stderr)
        return 130
    except yaml.YAMLError as err:
        print(f"--example {args.example} is not valid YAML: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
