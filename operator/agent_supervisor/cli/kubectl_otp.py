"""`kubectl-otp`: the kubectl plugin, run by kubectl as `kubectl otp <command>` when it is on PATH.

kubectl hands a plugin every argument after its name and nothing else, so the plugin takes kubectl's own
flags itself (--kubeconfig, --context, -n, -A) and reads $KUBECONFIG as kubectl does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from agent_supervisor.cli import tree


def _tree(rest: Sequence[str]) -> int:
    return tree.main(rest, prog="kubectl otp tree")


def _observer(rest: Sequence[str]) -> int:
    # Imported when asked for: the web server's dependencies are not needed by `tree`.
    from agent_supervisor.cli.observer.server import main as observer_main

    return observer_main(rest, prog="kubectl otp observer")


COMMANDS: dict[str, tuple[str, Callable[[Sequence[str]], int]]] = {
    "tree": ("show the supervision trees of AgentSupervisors and Agents", _tree),
    "observer": ("serve a web page of the live supervision trees (read-only)", _observer),
}

USAGE = "\n".join(
    [
        "Erlang/OTP-style supervision trees for LLM agents (agent-supervisor).",
        "",
        "Usage: kubectl otp <command> [flags]",
        "",
        "Commands:",
        *(f"  {name:<10}{summary}" for name, (summary, _) in COMMANDS.items()),
        "",
        "Use `kubectl otp <command> --help` for a command's flags.",
    ]
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    if args[0] not in COMMANDS:
        print(f"kubectl otp: unknown command {args[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return COMMANDS[args[0]][1](args[1:])


if __name__ == "__main__":
    sys.exit(main())
