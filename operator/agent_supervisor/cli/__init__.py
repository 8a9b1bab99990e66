"""Command-line entry point: `agent-supervisor <command>`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _run_local(rest: Sequence[str]) -> int:
    # Imported lazily: the local cluster is a development tool; production images may lack its extra.
    from localcluster.cli import main as local_main

    return local_main(list(rest))


def _run_operator(rest: Sequence[str]) -> int:
    from agent_supervisor.controller.main import main as operator_main

    return operator_main(list(rest))


def _run_demo(rest: Sequence[str]) -> int:
    from agent_supervisor.cli.demo import main as demo_main

    return demo_main(list(rest))


def _run_tree(rest: Sequence[str]) -> int:
    from agent_supervisor.cli.tree import main as tree_main

    return tree_main(list(rest))


def _run_observer(rest: Sequence[str]) -> int:
    from agent_supervisor.cli.observer.server import main as observer_main

    return observer_main(list(rest))


def _run_chaos(rest: Sequence[str]) -> int:
    from agent_supervisor.cli.chaos import main as chaos_main

    return chaos_main(list(rest))


COMMANDS = {
    "operator": ("run the operator (reconciles Agents and AgentSupervisors)", _run_operator),
    "local": ("run the local development cluster (up, down, status)", _run_local),
    "demo": ("run the local demo end to end", _run_demo),
    "tree": ("show the supervision trees in the terminal (also `kubectl otp tree`)", _run_tree),
    "observer": ("serve a web page of the live supervision trees (read-only)", _run_observer),
    "chaos": ("run the chaos soak on the local cluster and audit it", _run_chaos),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="agent-supervisor",
        description="Erlang/OTP-style supervision trees for LLM agents on Kubernetes.",
    )
    parser.add_argument(
        "command", choices=sorted(COMMANDS), help="; ".join(f"{k}: {v[0]}" for k, v in COMMANDS.items())
    )
    if not args or args[0] in {"-h", "--help"}:
        parser.print_help()
        return 0 if args else 2
    if args[0] not in COMMANDS:
        parser.parse_args(args[:1])  # prints the usage error and exits 2
    return COMMANDS[args[0]][1](args[1:])


if __name__ == "__main__":
    sys.exit(main())
