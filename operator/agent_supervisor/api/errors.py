"""Validation errors as Kubernetes-style field paths, for Invalid conditions, events and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agent_supervisor.api.base import SpecError


@dataclass(frozen=True)
class FieldIssue:
    """One problem with a manifest: the field it is in (e.g. `spec.children[1].name`) and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def field_path(loc: Sequence[int | str]) -> str:
    """`("spec", "children", 1, "name")` as `spec.children[1].name`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def field_issues(error: ValidationError) -> list[FieldIssue]:
    """Every problem in a pydantic ValidationError, with the full path of the field it concerns."""
    return [_issue(detail) for detail in error.errors(include_url=False)]


def _issue(detail: ErrorDetails) -> FieldIssue:
    where = field_path(detail["loc"])
    cause = (detail.get("ctx") or {}).get("error")
    if isinstance(cause, SpecError):
        return FieldIssue(f"{where}.{cause.path}" if where else cause.path, cause.message)
    return FieldIssue(where, detail["msg"])
