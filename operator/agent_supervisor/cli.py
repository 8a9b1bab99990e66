"""Command-line entry point: `agent-supervisor <command>`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-supervisor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run the local demo")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print("demo: not built yet")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
