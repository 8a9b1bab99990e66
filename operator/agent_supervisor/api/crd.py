"""The CustomResourceDefinitions of Agent and AgentSupervisor, built from the pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent_supervisor.api.agent import Agent, AgentSpec, AgentStatus
from agent_supervisor.api.base import GROUP, VERSION
from agent_supervisor.api.cel_budget import within_budget
from agent_supervisor.api.structural import Schema, reflow, structural_schema
from agent_supervisor.api.supervisor import (
    MAX_NESTING_DEPTH,
    AgentSupervisor,
    ChildSpec,
    SupervisorSpec,
    SupervisorStatus,
)

CATEGORY = "otp"

_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values."
)
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. In CamelCase."
)


def _column(
    name: str, json_path: str, column_type: str, description: str, priority: int = 0
) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": name,
        "type": column_type,
        "jsonPath": json_path,
        "description": description,
    }
    if priority:
        column["priority"] = priority  # shown by `kubectl get -o wide` only
    return column


_AGE = _column("Age", ".metadata.creationTimestamp", "date", "Time since the resource was created.")

AGENT_COLUMNS = [
    _column("Phase", ".status.phase", "string", "Summary of the agent's conditions."),
    _column(
        "Restarts",
        ".status.totalRestarts",
        "integer",
        "Restarts after the agent's own exits since it was created; restarts as a sibling in a group restart "
        "(one_for_all, rest_for_one) are not counted.",
    ),
    _column("Supervisor", ".status.supervisor", "string", "The AgentSupervisor the agent is a child of."),
    _column("Model", ".spec.model.name", "string", "The model the agent calls."),
    _column("Last Exit", ".status.lastExit.reason", "string", "Why the agent's previous pod exited."),
    _column(
        "Dependencies",
        '.status.conditions[?(@.type=="DependencyAvailable")].reason',
        "string",
        "Available, or which dependency the agent waits for (ModelUnavailable, McpServerUnavailable): no "
        "restart meanwhile.",
    ),
    _column(
        "Tokens/h Left",
        ".status.hourlyTokenBudgetLeft",
        "integer",
        "With an hourly token budget: tokens left in the rolling hour (0 while the agent is paused).",
        priority=1,
    ),
    _AGE,
]
SUPERVISOR_COLUMNS = [
    _column("Strategy", ".spec.strategy", "string", "Restart strategy."),
    _column("Ready", ".status.readyChildren", "string", "Ready children out of all children."),
    _column("Pools", ".status.poolsReady", "string", "Ready members out of replicas of each pool."),
    _column("Workers", ".status.workersReady", "string", "Each worker child and its phase."),
    _column(
        "Restarts",
        ".status.restartsInWindow",
        "string",
        "Restarts in the current window out of maxRestarts; a group restart counts once.",
    ),
    _column("Phase", ".status.phase", "string", "Summary of the supervisor's conditions."),
    _column(
        "Degraded",
        '.status.conditions[?(@.type=="Degraded")].status',
        "string",
        "True while a child waits for an unavailable dependency or a child supervisor is Degraded "
        "(condition Degraded names them).",
    ),
    _AGE,
]


def _bound_nesting(name: str, definition: Schema, depth: int) -> Schema:
    """Cut the recursion ChildSpec -> SupervisorSpec -> ChildSpec off after MAX_NESTING_DEPTH supervisors.

    At the deepest level a child's `supervisor` field is kept, opaque (so it is not pruned away in silence)
    and refused by `maxProperties: 0`: a tree one level too deep is rejected naming the field. A CEL rule
    would say more, but no rule fits within the cost budget that deep (cel_budget.py); the operator's models
    give the full message.
    """
    if name != ChildSpec.__name__ or depth < MAX_NESTING_DEPTH:
        return definition
    properties = dict(definition["properties"])
    properties["supervisor"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "maxProperties": 0,
        "description": f"Not allowed here: supervisors nest at most {MAX_NESTING_DEPTH} levels deep.",
    }
    return {**definition, "properties": properties}


def _model_schema(model: type[BaseModel]) -> Schema:
    return within_budget(
        structural_schema(model.model_json_schema(by_alias=True, mode="validation"), _bound_nesting)
    )


def _resource_schema(resource: type[BaseModel], spec: type[BaseModel], status: type[BaseModel]) -> Schema:
    # Keys in the sorted order the converter gives every other node.
    return {
        "description": reflow(resource.__doc__ or ""),
        "properties": {
            "apiVersion": {"description": _API_VERSION_DESCRIPTION, "type": "string"},
            "kind": {"description": _KIND_DESCRIPTION, "type": "string"},
            # The API server owns metadata's schema; a CRD may only say it is an object.
            "metadata": {"type": "object"},
            "spec": _model_schema(spec),
            "status": _model_schema(status),
        },
        "required": ["spec"],
        "type": "object",
    }


def _crd(
    kind: str, plural: str, short_name: str, schema: Schema, columns: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short_name],
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def crd_manifests() -> list[dict[str, Any]]:
    """The two CRDs, Agent first, exactly as `crdgen` writes them."""
    return [
        _crd("Agent", "agents", "ag", _resource_schema(Agent, AgentSpec, AgentStatus), AGENT_COLUMNS),
        _crd(
            "AgentSupervisor",
            "agentsupervisors",
            "asup",
            _resource_schema(AgentSupervisor, SupervisorSpec, SupervisorStatus),
            SUPERVISOR_COLUMNS,
        ),
    ]
