"""The generated schemas are structural, documented, bounded, and their CEL rules stay within the API server's
cost budget. The walker below checks the rules of Kubernetes' structural schemas independently of the
converter that produced them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent_supervisor.api import MAX_NESTING_DEPTH, crd_manifests
from agent_supervisor.api.structural import SchemaConversionError, structural_schema
from agent_supervisor.api.supervisor import MAX_CHILDREN
from localcluster.schema import structural_errors

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
FORBIDDEN = {"$ref", "$defs", "allOf", "oneOf", "not", "title", "const", "nullable", "definitions"}
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
# kube-apiserver: StaticEstimatedCRDCostLimit, the budget for all rules of one CRD times their cardinality.
CRD_COST_LIMIT = 100_000_000
# A pessimistic stand-in for the API server's estimate of one evaluation of a rule's body: one cost unit per
# four characters (the estimator charges about one unit per field access, comparison or call, and a few for a
# comparison of short bounded strings), times the list size for every comprehension macro in the rule.
CHARS_PER_COST_UNIT = 4
COMPREHENSION = re.compile(r"\.(all|exists|exists_one|map|filter)\(")


@dataclass(frozen=True)
class Node:
    path: str
    schema: dict[str, Any]
    cardinality: int  # how many instances of this node one object can hold at most
    is_property: bool


def walk(
    schema: dict[str, Any], path: str = "", cardinality: int = 1, is_property: bool = False
) -> Iterator[Node]:
    yield Node(path or "<root>", schema, cardinality, is_property)
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}" if path else name, cardinality, True)
    if "items" in schema:
        yield from walk(schema["items"], f"{path}[]", cardinality * schema.get("maxItems", 10**9))
    if isinstance(schema.get("additionalProperties"), dict):
        values = schema["additionalProperties"]
        yield from walk(values, f"{path}{{}}", cardinality * schema.get("maxProperties", 10**9))


def all_nodes() -> Iterator[tuple[str, Node]]:
    for crd in crd_manifests():
        kind = crd["spec"]["names"]["kind"]
        for node in walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]):
            yield kind, node


NODES = list(all_nodes())


def _ids(nodes: list[tuple[str, Node]]) -> list[str]:
    return [f"{kind}:{node.path}" for kind, node in nodes]


def test_every_node_is_structural() -> None:
    problems = []
    for kind, node in NODES:
        s = node.schema
        where = f"{kind} {node.path}"
        problems += [f"{where}: has {key}" for key in FORBIDDEN & s.keys()]
        if s.get("x-kubernetes-int-or-string"):
            if "type" in s or s.get("anyOf") != INT_OR_STRING_ANY_OF:
                problems.append(f"{where}: int-or-string must be exactly anyOf integer|string without type")
        elif s.get("type") not in TYPES:
            problems.append(f"{where}: type {s.get('type')!r}")
        elif "anyOf" in s:
            problems.append(f"{where}: anyOf outside int-or-string")
        if "properties" in s and "additionalProperties" in s:
            problems.append(f"{where}: properties and additionalProperties are exclusive")
        if s.get("x-kubernetes-preserve-unknown-fields") and s.get("type") != "object":
            problems.append(f"{where}: preserve-unknown-fields on a non-object")
        if s.get("type") == "array" and "items" not in s:
            problems.append(f"{where}: array without items")
        if not isinstance(s.get("additionalProperties", {}), dict):
            problems.append(f"{where}: boolean additionalProperties")
    assert not problems, "\n".join(problems)


def test_the_local_api_servers_structural_check_agrees() -> None:
    for crd in crd_manifests():
        assert structural_errors(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]) == []


def test_every_field_has_a_description_for_kubectl_explain() -> None:
    missing = [
        f"{kind} {node.path}"
        for kind, node in NODES
        if node.is_property and node.path != "metadata" and not node.schema.get("description")
    ]
    assert not missing


def test_every_variable_size_value_is_bounded() -> None:
    """Unbounded strings, lists or maps make the API server's CEL cost estimate unbounded."""
    unbounded = []
    for kind, node in NODES:
        s = node.schema
        if node.path in {"apiVersion", "kind"}:
            continue  # the API server's own fields, which no rule reads
        bounded = {
            "string": "maxLength" in s or "enum" in s or s.get("format") == "date-time",
            "array": "maxItems" in s,
            "object": "maxProperties" in s or "additionalProperties" not in s,
        }.get(s.get("type", "string" if s.get("x-kubernetes-int-or-string") else ""), True)
        if not bounded:
            unbounded.append(f"{kind} {node.path}")
    assert not unbounded


def test_map_lists_are_keyed_by_required_scalars() -> None:
    for _, node in NODES:
        s = node.schema
        if s.get("x-kubernetes-list-type") == "map":
            items = s["items"]
            for key in s["x-kubernetes-list-map-keys"]:
                assert key in items.get("required", []), f"{node.path}: map key {key} must be required"
                assert items["properties"][key]["type"] == "string"


def test_defaults_are_valid_values_of_their_fields() -> None:
    for _, node in NODES:
        s = node.schema
        if "default" not in s:
            continue
        default = s["default"]
        assert default in s.get("enum", [default]), node.path
        assert s.get("minimum", default) <= default <= s.get("maximum", default), node.path
        assert isinstance(default, {"integer": int, "boolean": bool, "string": str}[s["type"]]), node.path


def test_cel_rules_carry_messages_and_stay_within_the_crd_cost_budget() -> None:
    total = {kind: 0 for kind in ("Agent", "AgentSupervisor")}
    for kind, node in NODES:
        for rule in node.schema.get("x-kubernetes-validations", []):
            assert rule["message"] and rule["rule"], node.path
            iterations = MAX_CHILDREN ** len(COMPREHENSION.findall(rule["rule"]))
            total[kind] += node.cardinality * iterations * (len(rule["rule"]) // CHARS_PER_COST_UNIT)
    assert max(total.values()) <= CRD_COST_LIMIT, total


def rule_paths(message: str) -> list[str]:
    return sorted(
        node.path
        for kind, node in NODES
        if kind == "AgentSupervisor"
        for rule in node.schema.get("x-kubernetes-validations", [])
        if rule["message"].startswith(message)
    )


def test_cel_rules_stand_where_the_budget_affords_them_and_no_deeper() -> None:
    """api/cel_budget.py: the supervisor's own spec and children and one level of nesting carry the rules;
    deeper levels, and the agent templates of nested supervisors, are left to the operator's models."""
    assert rule_paths("set exactly one of agent, pool, supervisor or worker") == [
        "spec.children[]",
        "spec.children[].supervisor.children[]",
    ]
    assert rule_paths("a supervisor has at most 256 children") == ["spec", "spec.children[].supervisor"]
    assert rule_paths("names of the form <pool>-<number>") == ["spec"]
    assert rule_paths("set value or valueFrom, not both") == [
        "spec.children[].agent.env[]",
        "spec.children[].pool.template.env[]",
        "spec.children[].worker.env[]",
    ]
    assert rule_paths("an image reference has no whitespace") == [
        "spec.children[].agent.image",
        "spec.children[].pool.template.image",
        "spec.children[].supervisor.children[].agent.image",
        "spec.children[].supervisor.children[].pool.template.image",
        "spec.children[].supervisor.children[].worker.image",
        "spec.children[].worker.image",
    ]


def test_supervisor_schema_spells_out_exactly_the_nesting_limit() -> None:
    supervisor_paths = [
        node.path for kind, node in NODES if kind == "AgentSupervisor" and node.path.endswith(".supervisor")
    ]
    deepest = max(supervisor_paths, key=len)
    assert deepest.count(".supervisor") == MAX_NESTING_DEPTH + 1
    opaque = next(node.schema for kind, node in NODES if kind == "AgentSupervisor" and node.path == deepest)
    assert opaque.get("x-kubernetes-preserve-unknown-fields") is True
    status = next(node.schema for kind, node in NODES if node.path == "status.supervision")
    assert status == {**status, "type": "object", "x-kubernetes-preserve-unknown-fields": True}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}},
        {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}}},
        {"type": "object", "properties": {"x": {"type": "string", "unevaluatedProperties": False}}},
    ],
    ids=["oneOf", "union", "unknown-keyword"],
)
def test_converter_refuses_constructs_without_a_structural_form(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaConversionError, match=r"^x: "):
        structural_schema(schema)


def test_converter_refuses_unbounded_recursion() -> None:
    recursive = {
        "$ref": "#/$defs/Tree",
        "$defs": {"Tree": {"type": "object", "properties": {"sub": {"$ref": "#/$defs/Tree"}}}},
    }
    with pytest.raises(SchemaConversionError, match="recursive"):
        structural_schema(recursive)


def test_converter_rewrites_json_schema_idioms_into_their_structural_forms() -> None:
    sub = {"type": "object", "description": "Model\n  docstring.\n\nSecond   paragraph."}
    source = {
        "type": "object",
        "title": "Root",
        "additionalProperties": False,
        "required": ["b", "a"],
        "properties": {
            "a": {"$ref": "#/$defs/Sub", "description": "Field wins."},
            "b": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            "c": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "d": {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+m$"}], "default": 1},
            "e": {"const": True, "type": "boolean"},
            "f": {"type": "object", "additionalProperties": True},
        },
        "$defs": {"Sub": sub},
    }
    assert structural_schema(source) == {
        "type": "object",
        "required": ["a", "b"],
        "properties": {
            "a": {"type": "object", "description": "Field wins."},
            "b": {
                "type": "integer",
                "minimum": 0,
                "exclusiveMinimum": True,
                "maximum": 10,
                "exclusiveMaximum": True,
            },
            "c": {"type": "string"},
            "d": {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "default": 1,
                "pattern": "^[0-9]+m$",
                "x-kubernetes-int-or-string": True,
            },
            "e": {"type": "boolean", "enum": [True]},
            "f": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }
    assert structural_schema(sub)["description"] == "Model docstring.\n\nSecond paragraph."
