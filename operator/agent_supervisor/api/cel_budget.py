"""Which CEL rules the CRDs carry: those the API server's cost budget can afford where they stand.

kube-apiserver refuses a CRD whose rules cost more than StaticEstimatedCRDCostLimit (100,000,000) in total,
each rule counted as its estimated cost times its node's cardinality: how many instances of the node one
object can hold, the product of `maxItems` of every list above it. With 256 children per supervisor and three
levels of nested supervisors spelt out in the schema, a child entry four levels down has a cardinality of
256^4 (4.3e9): no rule fits there at all, whatever it costs.

So the generator keeps a rule only where its pessimistic cost times its cardinality stays within a twentieth
of the budget (RULE_COST_LIMIT). That keeps every rule of a supervisor's own spec and children and of its
nested supervisors one level down, except inside their agent templates (env entries multiply by 32 more);
deeper, only the cheapest. The operator's models check every rule at every level with the same message and
field path (condition Invalid, nothing created), and the API server checks a nested supervisor's or agent's
rules again at the top of the resource the operator creates for it.

The estimate is deliberately pessimistic: one cost unit per four characters of the rule, and the list's
`maxItems` iterations for each comprehension macro in it. kube-apiserver charges about one unit per field
access, comparison or call.
"""

from __future__ import annotations

import re
from typing import Any, Final

Schema = dict[str, Any]

CRD_COST_LIMIT: Final = 100_000_000
"""kube-apiserver's StaticEstimatedCRDCostLimit: all rules of one CRD, each times its cardinality."""
RULE_COST_LIMIT: Final = CRD_COST_LIMIT // 20
CHARS_PER_COST_UNIT: Final = 4
COMPREHENSION: Final = re.compile(r"\.(all|exists|exists_one|map|filter)\(")
_UNBOUNDED: Final = 10**9


def rule_cost(rule: str, iterations: int) -> int:
    """The pessimistic cost of one evaluation of `rule` whose comprehensions run over `iterations` items."""
    comprehensions: int = iterations ** len(COMPREHENSION.findall(rule))
    return comprehensions * max(1, len(rule) // CHARS_PER_COST_UNIT)


def largest_list(schema: Schema) -> int:
    """The longest list among a node's properties: what a comprehension in its rules can iterate over."""
    sizes = [
        int(node.get("maxItems", _UNBOUNDED))
        for node in (schema.get("properties") or {}).values()
        if node.get("type") == "array"
    ]
    return max(sizes, default=1)


def within_budget(schema: Schema, cardinality: int = 1) -> Schema:
    """`schema` with the CEL rules that would cost more than RULE_COST_LIMIT where they stand left out."""
    out = dict(schema)
    rules = schema.get("x-kubernetes-validations")
    if rules:
        iterations = largest_list(schema)
        kept = [
            rule for rule in rules if cardinality * rule_cost(rule["rule"], iterations) <= RULE_COST_LIMIT
        ]
        if kept:
            out["x-kubernetes-validations"] = kept
        else:
            del out["x-kubernetes-validations"]
    if "properties" in schema:
        out["properties"] = {
            name: within_budget(node, cardinality) for name, node in schema["properties"].items()
        }
    if "items" in schema:
        out["items"] = within_budget(schema["items"], cardinality * int(schema.get("maxItems", _UNBOUNDED)))
    if isinstance(schema.get("additionalProperties"), dict):
        values = int(schema.get("maxProperties", _UNBOUNDED))
        out["additionalProperties"] = within_budget(schema["additionalProperties"], cardinality * values)
    return out
