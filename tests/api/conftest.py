"""Shared fixture `api`: load manifests and validate them both ways (pydantic models; CRD schema + CEL)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from agent_supervisor.api import Agent, AgentSupervisor, crd_manifests, field_issues
from localcluster.schema import CustomResourceValidator

MODELS: dict[str, type[BaseModel]] = {"Agent": Agent, "AgentSupervisor": AgentSupervisor}


@dataclass(frozen=True)
class Issue:
    field: str
    message: str


class ApiChecks:
    """Both validators of a manifest, the way the operator and the API server would apply them."""

    def __init__(self) -> None:
        self.validators = {kind: CustomResourceValidator(self.openapi_schema(kind)) for kind in MODELS}

    @staticmethod
    def openapi_schema(kind: str) -> dict[str, Any]:
        crd = next(c for c in crd_manifests() if c["spec"]["names"]["kind"] == kind)
        schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        return schema

    @staticmethod
    def load(path: Path) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]

    @staticmethod
    def model(manifest: dict[str, Any]) -> BaseModel:
        return MODELS[manifest["kind"]].model_validate(manifest)

    def admit(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], list[Issue]]:
        """What the API server does on create, with kubectl's default `--validate=strict`.

        Returns the stored object (pruned and defaulted) and every problem: unknown fields (which strict field
        validation rejects instead of silently pruning), then schema and CEL failures.
        """
        validator = self.validators[manifest["kind"]]
        unknown = [Issue(path, "field not declared in schema") for path in validator.unknown_fields(manifest)]
        stored = validator.apply_defaults(validator.prune(manifest))
        causes = [Issue(cause.field, cause.message) for cause in validator.validate(stored)]
        return stored, unknown + causes

    def model_issues(self, manifest: dict[str, Any]) -> list[Issue]:
        try:
            self.model(manifest)
        except ValidationError as error:
            return [Issue(issue.field, issue.message) for issue in field_issues(error)]
        return []


@pytest.fixture(scope="session")
def api() -> ApiChecks:
    return ApiChecks()
