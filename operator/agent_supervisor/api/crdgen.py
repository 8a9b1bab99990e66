"""Write the CRDs.

    python -m agent_supervisor.api.crdgen --out crds --chart-out charts/agent-supervisor/crds

With `--check` nothing is written; the exit status is 1 when a committed file differs from the generated one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from agent_supervisor.api.crd import crd_manifests

HEADER = (
    "# Generated from the pydantic models in operator/agent_supervisor/api/ by `make crds`\n"
    "# (python -m agent_supervisor.api.crdgen). Do not edit: change the models and regenerate.\n"
)


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings, so paragraphs of descriptions stay readable in the files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render(manifest: dict[str, Any]) -> str:
    """One CRD as the text of its file."""
    body = yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return HEADER + body


def generated_files() -> dict[str, str]:
    """File name -> content, for every CRD."""
    return {f"{crd['metadata']['name']}.yaml": render(crd) for crd in crd_manifests()}


def stale_files(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """The `files` (name -> content) that are missing from `directory` or differ there."""
    stale = []
    for name, content in files.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            stale.append(path)
    return stale


def write(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Write `files` (name -> content) into `directory`, creating it if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_supervisor.api.crdgen", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("crds"), help="directory for the CRDs (default: crds)"
    )
    parser.add_argument(
        "--chart-out",
        type=Path,
        action="append",
        default=[],
        help="another directory that gets identical copies",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a file is stale")
    args = parser.parse_args(argv)
    directories: list[Path] = [args.out, *args.chart_out]
    files = generated_files()
    if args.check:
        stale = [path for directory in directories for path in stale_files(directory, files)]
        for path in stale:
            print(f"{path} is out of date with the API models: run make crds", file=sys.stderr)
        return 1 if stale else 0
    for directory in directories:
        for path in write(directory, files):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
