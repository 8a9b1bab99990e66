"""`agent-runtime` (run the agent), `agent-runtime model-server` and `agent-runtime check-config FILE`.

With AGENT_CONTROL_PORT set, `agent-runtime` (and `run`) is the pod supervisor, which runs each incarnation of
the agent as a process of its own; `run-once` runs one incarnation in this process whatever the environment.
Imports stay inside the branches: the pod supervisor must start its first incarnation before it loads
anything heavy.
"""

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent_runtime import exitcodes
from agent_runtime.incarnation_env import CONTROL_PORT_ENV

if TYPE_CHECKING:
    import argparse


def _parser() -> "argparse.ArgumentParser":
    import argparse

    parser = argparse.ArgumentParser(
        prog="agent-runtime", description="Run an LLM agent (config from $AGENT_CONFIG)."
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "run", help=f"run the agent (the default); as the pod supervisor when {CONTROL_PORT_ENV} is set"
    )
    commands.add_parser(
        "run-once", help=f"run one incarnation of the agent in this process, even with {CONTROL_PORT_ENV}"
    )
    check = commands.add_parser("check-config", help="validate a runtime config file and exit")
    check.add_argument("file")
    server = commands.add_parser(
        "model-server", help="serve the scripted OpenAI-compatible model for tests/demos"
    )
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=8000)
    server.add_argument(
        "--scenarios", help="YAML file of scripted scenarios (built-in ones are always there)"
    )
    server.add_argument("--api-key", help="require this bearer token from clients")
    server.add_argument(
        "--max-request-bytes",
        type=int,
        default=None,
        help="refuse request bodies past this many bytes with 413 (default 32 MiB)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments in ([], ["run"]) and os.environ.get(CONTROL_PORT_ENV):
        # Before argparse and everything else: the pod supervisor's first job is to start the forkserver.
        from agent_runtime.pod_supervisor.main import main as supervise

        sys.exit(supervise())
    args = _parser().parse_args(arguments)
    if args.command == "model-server":
        from agent_runtime.modelserver.serve import serve

        sys.exit(serve(args.host, args.port, args.scenarios, args.api_key, args.max_request_bytes))
    if args.command == "check-config":
        from agent_runtime.config import ConfigError, load_config

        try:
            config = load_config(args.file)
        except ConfigError as err:
            print(err, file=sys.stderr)
            sys.exit(exitcodes.EXIT_CONFIG_INVALID)
        print(f"ok: {config.mode} agent {config.agent.name!r}, revision {config.revision}")
        sys.exit(exitcodes.EXIT_OK)
    import asyncio

    from agent_runtime import logs
    from agent_runtime.runner import run_agent

    logs.configure()
    sys.exit(asyncio.run(run_agent()))


if __name__ == "__main__":
    main()
