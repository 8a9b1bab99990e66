"""Errors a patch can fail with, carrying the HTTP status and Status `reason` kube-apiserver answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StatusCause:
    """One entry of a Status object's `details.causes`."""

    type: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}


class PatchError(Exception):
    """A rejected patch: `status` is the HTTP code, `reason` the Status reason, `message` its message."""

    def __init__(self, status: int, reason: str, message: str, causes: Sequence[StatusCause] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.causes = tuple(causes)

    @classmethod
    def bad_request(cls, message: str) -> PatchError:
        return cls(400, "BadRequest", message)

    @classmethod
    def invalid(cls, message: str) -> PatchError:
        return cls(422, "Invalid", message)

    @classmethod
    def unsupported_media_type(cls, content_type: str, accepted: Sequence[str]) -> PatchError:
        """What the apiserver answers e.g. for a strategic merge patch sent to a custom resource."""
        return cls(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(accepted)} (got {content_type!r})",
        )


class ApplyConflict(PatchError):  # noqa: N818 - the name the server integration was promised
    """Server-side apply would take fields another manager owns; retry with force to take them."""

    def __init__(self, message: str, causes: Sequence[StatusCause]) -> None:
        super().__init__(409, "Conflict", message, causes)
