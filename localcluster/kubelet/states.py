"""Container states as the kubelet reports them in ``containerStatuses``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 with second precision, as Kubernetes serialises metav1.Time."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Waiting:
    reason: str
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": self.reason}
        if self.message:
            body["message"] = self.message
        return {"waiting": body}


@dataclass(frozen=True)
class Running:
    started_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"running": {"startedAt": self.started_at}}


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str
    container_id: str = ""
    message: str = ""
    signal: int | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.container_id:
            body["containerID"] = self.container_id
        if self.message:
            body["message"] = self.message
        if self.signal is not None:
            body["signal"] = self.signal
        return {"terminated": body}


ContainerState = Waiting | Running | Terminated
