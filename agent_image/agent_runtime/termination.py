"""The termination message: a short JSON summary Kubernetes copies into the pod's container status."""

import json
import logging
import os
from pathlib import Path
from typing import Any, Final

from agent_runtime.paths import builtin_path

log = logging.getLogger(__name__)

PATH_ENV: Final = "AGENT_TERMINATION_MESSAGE_PATH"
DEFAULT_PATH: Final = "/dev/termination-log"
MAX_BYTES: Final = 4096  # the kubelet keeps at most 4096 bytes of a termination message


def render(summary: dict[str, Any]) -> str:
    """JSON of `summary` within MAX_BYTES: the long free-text fields are shortened first."""
    summary = {key: value for key, value in summary.items() if value is not None}
    text = json.dumps(summary, ensure_ascii=False)
    for field in ("result", "message"):
        value = summary.get(field)
        excess = len(text.encode()) - MAX_BYTES
        if excess > 0 and isinstance(value, str):
            keep = max(0, len(value.encode()) - excess - 16)
            summary[field] = value.encode()[:keep].decode(errors="ignore") + "…"
            text = json.dumps(summary, ensure_ascii=False)
    return text


def message_path() -> Path:
    """Where the summary goes: the container's termination message path."""
    explicit = os.environ.get(PATH_ENV)
    return Path(explicit) if explicit else builtin_path(DEFAULT_PATH)


def write(summary: dict[str, Any]) -> None:
    path = message_path()
    try:
        path.write_text(render(summary), encoding="utf-8")
    except OSError as err:  # outside a pod the default path may not be writable: not worth failing over
        log.debug("termination message not written to %s: %s", path, err)
