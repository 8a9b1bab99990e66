"""Turn a pydantic JSON schema into a Kubernetes structural schema.

A CRD's openAPIV3Schema must be "structural": no `$ref`, a `type` on every node, unions only in the shapes
Kubernetes allows, and no `additionalProperties` next to `properties`. Pydantic emits JSON Schema 2020-12, so
this module rewrites it:

- `$ref` is inlined; a field's own description and default win over those of the referenced model. A recursive
  model is unrolled by the `expand` hook, which sees how deep the current expansion of each model is and must
  cut the recursion off (the converter refuses to go on forever).
- `X | None` becomes `X`, not required. There is deliberately no `nullable: true`: the API server prunes a
  null in a non-nullable field before defaulting, so `task: null` means the same as leaving `task` out, which
  is exactly what None means in the models. With `nullable` the null would be stored, CEL's `has()` would see
  the field as present, and defaults would not apply.
- `int | str` becomes `x-kubernetes-int-or-string` with the constraints of both (as Kubernetes' Quantity): the
  API server applies `minimum` only to the integer, `pattern` and `maxLength` only to the string.
- `const` becomes a one-value `enum`; JSON Schema's numeric `exclusiveMinimum` becomes OpenAPI 3.0's boolean.
- `additionalProperties: true` (a free-form `dict[str, Any]`) becomes `x-kubernetes-preserve-unknown-fields`;
  `additionalProperties: false` (pydantic's `extra="forbid"`) is dropped, since pruning already removes
  unknown fields.
- Titles go; descriptions are re-flowed into paragraphs. Keys are sorted so the output is deterministic.

Anything else is refused with the path of the node, so a new pydantic construct cannot silently produce a
schema the API server would reject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Schema = dict[str, Any]
# (model name, how many times it is already being expanded on the current path, its schema) -> schema to use
ExpandHook = Callable[[str, Schema, int], Schema]

_MAX_EXPANSIONS = 16
_KEPT = frozenset(
    {
        "type",
        "enum",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
    }
)
_HANDLED = frozenset(
    {
        "title",
        "description",
        "default",
        "const",
        "properties",
        "required",
        "items",
        "additionalProperties",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)


class SchemaConversionError(ValueError):
    """The JSON schema uses a construct with no structural equivalent."""


def structural_schema(json_schema: Mapping[str, Any], expand: ExpandHook | None = None) -> Schema:
    """The structural equivalent of a pydantic `model_json_schema()` (see the module docstring)."""
    root = {k: v for k, v in json_schema.items() if k != "$defs"}
    return _Converter(json_schema.get("$defs", {}), expand).convert(root, (), "")


class _Converter:
    def __init__(self, definitions: Mapping[str, Schema], expand: ExpandHook | None) -> None:
        self._definitions = definitions
        self._expand = expand

    def convert(self, node: Mapping[str, Any], expanding: tuple[str, ...], path: str) -> Schema:
        if "$ref" in node:
            return self._inline(node, expanding, path)
        if "anyOf" in node:
            return self._union(node, expanding, path)
        out: Schema = {}
        for key, value in node.items():
            if key.startswith("x-kubernetes-") or key in _KEPT:
                out[key] = value
            elif key not in _HANDLED:
                raise SchemaConversionError(f"{path or '<root>'}: unsupported JSON schema keyword {key!r}")
        if "description" in node:
            out["description"] = reflow(node["description"])
        if node.get("default") is not None:
            out["default"] = node["default"]
        if "const" in node:
            out["enum"] = [node["const"]]
        for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if bound in node:
                out[inclusive] = node[bound]
                out[bound] = True
        if "properties" in node:
            out["properties"] = {
                name: self.convert(child, expanding, f"{path}.{name}" if path else name)
                for name, child in sorted(node["properties"].items())
            }
        if node.get("required"):
            out["required"] = sorted(node["required"])
        if "items" in node:
            out["items"] = self.convert(node["items"], expanding, f"{path}[]")
        extra = node.get("additionalProperties")
        if extra is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(extra, Mapping):
            out["additionalProperties"] = self.convert(extra, expanding, f"{path}{{}}")
        return _sorted(out)

    def _inline(self, node: Mapping[str, Any], expanding: tuple[str, ...], path: str) -> Schema:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        depth = expanding.count(name)
        if depth >= _MAX_EXPANSIONS:
            raise SchemaConversionError(f"{path}: {name} is recursive and the expand hook never cut it off")
        definition = self._definitions[name]
        if self._expand is not None:
            definition = self._expand(name, definition, depth)
        # The field's own description and default win over the referenced model's.
        merged = {**definition, **{k: v for k, v in node.items() if k != "$ref"}}
        return self.convert(merged, (*expanding, name), path)

    def _union(self, node: Mapping[str, Any], expanding: tuple[str, ...], path: str) -> Schema:
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        if len(options) == 1:
            return self.convert({**options[0], **rest}, expanding, path)
        if sorted(option.get("type", "") for option in options) == ["integer", "string"]:
            constraints = {k: v for option in options for k, v in option.items() if k != "type"}
            merged = {**constraints, **rest}
            converted = self.convert(merged, expanding, path)
            converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            converted["x-kubernetes-int-or-string"] = True
            return _sorted(converted)
        raise SchemaConversionError(f"{path}: a union of {options} has no structural form")


def reflow(text: str) -> str:
    """Docstrings wrap at the source's line width; descriptions should wrap where the reader's screen does."""
    paragraphs = [" ".join(paragraph.split()) for paragraph in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _sorted(schema: Schema) -> Schema:
    return {key: schema[key] for key in sorted(schema)}
