"""Which processes still refer to a demo's state directory (in their command line or environment)."""

from __future__ import annotations

from pathlib import Path


def processes_using(path: str) -> list[str]:
    """`pid: command` of every readable process whose command line or environment mentions `path`."""
    needle = path.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if needle in cmdline or needle in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {command}")
    return found
