"""The container's termination message file, shared by the incarnations and the pod supervisor.

Every incarnation writes its summary (JSON: exitCode, reason, message, ...) there, exactly as a single-process
pod does. The pod supervisor empties the file before each start, so a summary read after an exit is always
that incarnation's own, and writes the summary of the incarnation it ends the container with last, so
Kubernetes copies it into the container status as it always did. Light on imports: the file is emptied before
the pod's first incarnation starts, before the pod supervisor loads anything else.
"""

import contextlib
import json
from typing import Any

from agent_runtime import termination


def clear() -> None:
    """Empty the file (never delete it: in a container it is a mounted file)."""
    with contextlib.suppress(OSError):
        termination.message_path().write_bytes(b"")


def read() -> dict[str, Any] | None:
    try:
        document = json.loads(termination.message_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write(document: dict[str, Any]) -> None:
    termination.write(document)
