"""CustomResourceValidator: defaulting, pruning and validation of custom resources for one CRD version."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from localcluster.schema import causes, cel_rules, defaulting, keywords, listtypes, nodes, objectmeta, pruning
from localcluster.schema.causes import Cause
from localcluster.schema.cel_rules import Rule, RuleError
from localcluster.schema.correlation import CREATE, Correlation, for_update
from localcluster.schema.nodes import Schema
from localcluster.schema.paths import NIL, ROOT, FieldPath

# Schema failures after which kube-apiserver runs no x-kubernetes-validations rule (strategy.go's
# hasBlockingErr): a wrong type, a missing required field, an unsupported enum value, a string, list or map
# over its maximum size.
_BLOCKING = frozenset(
    {causes.NOT_SUPPORTED, causes.REQUIRED, causes.TOO_LONG, causes.TOO_MANY, causes.TYPE_INVALID}
)
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; correct the existing errors to "
    "complete validation"
)


class SchemaError(ValueError):
    """The schema cannot be used: each entry of `problems` names a schema location and what is wrong there."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid openAPIV3Schema: " + "; ".join(problems))
        self.problems = problems


class CustomResourceValidator:
    """Applies one CRD version's openAPIV3Schema the way kube-apiserver does.

    Typical write path: `obj = v.apply_defaults(v.prune(obj))`, then `causes = v.validate(obj, old)`;
    a non-empty list means a 422 Invalid answer built from the causes.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema: dict[str, Any] = copy.deepcopy(dict(schema))
        self._rules: dict[int, list[Rule]] = {}
        problems: list[str] = []
        _compile_rules(self._schema, "openAPIV3Schema", self._rules, problems)
        if problems:
            raise SchemaError(problems)

    def apply_defaults(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `obj` with the schema's defaults filled in (non-nullable nulls defaulted or dropped)."""
        result: dict[str, Any] = defaulting.apply_defaults(copy.deepcopy(dict(obj)), self._schema)
        return result

    def prune(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of `obj` without the fields the schema does not declare."""
        pruned, _ = pruning.prune(copy.deepcopy(dict(obj)), self._schema)
        result: dict[str, Any] = pruned
        return result

    def unknown_fields(self, obj: Mapping[str, Any]) -> list[str]:
        """Paths of the fields `prune` would drop (`spec.foo`), for `fieldValidation=Strict`/`Warn`."""
        return pruning.prune(obj, self._schema)[1]

    def validate(self, obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[Cause]:
        """Every validation failure of `obj`, in kube-apiserver's order; `old` is the stored one on update."""
        value = dict(obj)
        corr = CREATE if old is None else for_update(value, dict(old))
        found = objectmeta.check_resource_name(value)
        found += keywords.check(value, self._schema, ROOT, corr)
        found += objectmeta.check_embedded(value, self._schema, ROOT)
        if old is None or not listtypes.check(dict(old), self._schema, ROOT):
            # On update, list uniqueness is only enforced if the old object honoured it.
            found += listtypes.check(value, self._schema, ROOT)
        if not any(self._rules.values()):
            return found
        if any(cause.reason in _BLOCKING for cause in found):
            # kube-apiserver's hasBlockingErr: the rules were written for objects of the schema's shape, and
            # running them on a list far over its maxItems would cost what the CRD's cost estimate ruled out.
            return [*found, causes.invalid(NIL, None, RULES_NOT_CHECKED)]
        found += self._check_rules(value, self._schema, ROOT, corr, resource_root=True)
        return found

    def _check_rules(
        self, value: Any, schema: Schema, path: FieldPath, corr: Correlation, resource_root: bool = False
    ) -> list[Cause]:
        if value is None or not nodes.matches_type(schema, value):
            return []
        found = cel_rules.check(self._rules.get(id(schema), []), value, schema, path, corr, resource_root)
        for sub in _all_of(schema):
            found += cel_rules.check(self._rules.get(id(sub), []), value, schema, path, corr, resource_root)
        if isinstance(value, dict):
            declared = nodes.properties(schema)
            map_values = nodes.additional_properties(schema)
            for key, item in value.items():
                if key in declared:
                    prop = declared[key]
                    found += self._check_rules(
                        item, prop, path.child(key), corr.child(key, item), nodes.is_embedded(prop)
                    )
                elif map_values is not None:
                    embedded = nodes.is_embedded(map_values)
                    found += self._check_rules(
                        item, map_values, path.key(key), corr.child(key, item), embedded
                    )
        elif isinstance(value, list):
            item_schema = nodes.items(schema)
            if item_schema is not None:
                embedded = nodes.is_embedded(item_schema)
                for index, item in enumerate(value):
                    found += self._check_rules(
                        item, item_schema, path.index(index), corr.item(item, schema), embedded
                    )
        return found


def _all_of(schema: Schema) -> list[Schema]:
    listed = schema.get("allOf")
    return [sub for sub in listed if isinstance(sub, Mapping)] if isinstance(listed, list) else []


def _compile_rules(schema: Schema, location: str, rules: dict[int, list[Rule]], problems: list[str]) -> None:
    """Compile every node's rules once, keyed by the node's identity in the validator's own schema copy."""
    _compile_node_rules(schema, schema, location, rules, problems)
    for index, sub in enumerate(_all_of(schema)):
        _compile_node_rules(sub, schema, f"{location}.allOf[{index}]", rules, problems)
    for key, prop in nodes.properties(schema).items():
        _compile_rules(prop, f"{location}.properties[{key}]", rules, problems)
    map_values = nodes.additional_properties(schema)
    if map_values is not None:
        _compile_rules(map_values, f"{location}.additionalProperties", rules, problems)
    item_schema = nodes.items(schema)
    if item_schema is not None:
        _compile_rules(item_schema, f"{location}.items", rules, problems)


def _compile_node_rules(
    holder: Schema, node: Schema, location: str, rules: dict[int, list[Rule]], problems: list[str]
) -> None:
    specs = holder.get("x-kubernetes-validations")
    if not isinstance(specs, list):
        return
    compiled: list[Rule] = []
    for index, spec in enumerate(specs):
        where = f"{location}.x-kubernetes-validations[{index}]"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: Invalid value: must be an object with a rule")
            continue
        try:
            compiled.append(cel_rules.compile_rule(spec, node))
        except RuleError as error:
            problems.append(error.describe(where))
    rules[id(holder)] = compiled
