"""Write the API reference (docs/api-reference.md) from the pydantic models.

    python -m agent_supervisor.api.docgen --out docs/api-reference.md

Every type reachable from Agent and AgentSupervisor gets a section: one row per field with its type, whether
it is required, its default, its bounds and its description, then the cross-field rules. The text comes only
from the models' JSON schema, so it cannot drift from the CRDs. With `--check` nothing is written; the exit
status is 1 when the file differs from the generated one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from agent_supervisor.api.agent import Agent
from agent_supervisor.api.base import API_VERSION
from agent_supervisor.api.crd import AGENT_COLUMNS, SUPERVISOR_COLUMNS
from agent_supervisor.api.supervisor import AgentSupervisor

Schema = dict[str, Any]

HEADER = (
    "<!-- Generated from the pydantic models in operator/agent_supervisor/api/ by `make crds`\n"
    "     (python -m agent_supervisor.api.docgen). Do not edit: change the models and regenerate. -->\n"
)
# Kubernetes owns object metadata; documenting our partial view of it would mislead.
_EXTERNAL_TYPES = {
    "ObjectMeta": "https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/"
}
_REF_PREFIX = "#/$defs/"
# Schema keyword -> how its bound reads in the Constraints column, in the order they are listed.
_BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "min length {}"),
    ("maxLength", "max length {}"),
    ("minItems", "min items {}"),
    ("maxItems", "max items {}"),
    ("maxProperties", "max entries {}"),
)


def _ref_name(schema: Schema) -> str | None:
    ref = schema.get("$ref")
    return ref.removeprefix(_REF_PREFIX) if isinstance(ref, str) else None


def _without_null(schema: Schema) -> Schema:
    """An optional field's schema with its `null` alternative removed, keeping the outer description."""
    options = [option for option in schema.get("anyOf", []) if option.get("type") != "null"]
    if len(options) != 1:
        return schema
    outer = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**options[0], **outer}


def _anchor(name: str) -> str:
    return name.lower()


def _type_text(schema: Schema) -> str:
    name = _ref_name(schema)
    if name is not None:
        if name in _EXTERNAL_TYPES:
            return f"[{name}]({_EXTERNAL_TYPES[name]})"
        return f"[{name}](#{_anchor(name)})"
    kind = schema.get("type")
    if kind == "array":
        return "[]" + _type_text(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + _type_text(schema["additionalProperties"])
    return str(kind) if kind else "any"


def _code(value: Any) -> str:
    return "`" + json.dumps(value, ensure_ascii=False) + "`"


def _constraints(schema: Schema) -> list[str]:
    found = [template.format(schema[key]) for key, template in _BOUNDS if key in schema]
    if "pattern" in schema:
        found.append(f"pattern `{schema['pattern']}`")
    if "const" in schema:
        found.append(f"always {_code(schema['const'])}")
    if "enum" in schema:
        found.append("one of " + ", ".join(_code(value) for value in schema["enum"]))
    if schema.get("x-kubernetes-list-type") == "map":
        keys = ", ".join(f"`{key}`" for key in schema.get("x-kubernetes-list-map-keys", []))
        found.append(f"unique by {keys}")
    items = schema.get("items")
    if isinstance(items, dict) and _ref_name(items) is None:
        found.extend(f"each: {text}" for text in _constraints(items))
    return found


def _prose(text: str) -> str:
    """Descriptions say things like <supervisor>-<child>, which markdown would take for HTML tags and hide;
    inside `code spans` the brackets are shown as they are, so only the text between spans is escaped."""
    parts = text.split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _cell(text: str) -> str:
    """Table cells are one line, and a bare `|` would end the cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _paragraphs(description: str) -> str:
    """Docstrings are wrapped at 110 columns; markdown reflows lines, so only blank lines need keeping."""
    blocks = (" ".join(block.split()) for block in description.split("\n\n") if block.strip())
    return "\n\n".join(_prose(block) for block in blocks)


def _field_row(name: str, raw: Schema, required: bool) -> str:
    schema = _without_null(raw)
    default = "" if required or "default" not in raw or raw["default"] is None else _code(raw["default"])
    cells = (
        f"`{name}`",
        _type_text(schema),
        "yes" if required else "",
        default,
        "; ".join(_constraints(schema)),
        _prose(schema.get("description", "")),
    )
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _object_section(name: str, schema: Schema) -> list[str]:
    lines = [f"### {name}", "", _paragraphs(schema.get("description", "")), ""]
    required = set(schema.get("required", []))
    lines += [
        "| Field | Type | Required | Default | Constraints | Description |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        _field_row(field, field_schema, field in required)
        for field, field_schema in schema.get("properties", {}).items()
    ]
    lines.append("")
    rules = schema.get("x-kubernetes-validations", [])
    if rules:
        lines += ["Rules (checked by the API server and by the operator, with the same message):", ""]
        lines += [f"- `{rule['rule']}` — {rule['message']}" for rule in rules]
        lines.append("")
    return lines


def _enum_section(name: str, schema: Schema) -> list[str]:
    values = ", ".join(_code(value) for value in schema["enum"])
    return [f"### {name}", "", _paragraphs(schema.get("description", "")), "", f"Values: {values}.", ""]


def _references(schema: Any) -> list[str]:
    """Names of the definitions `schema` refers to, in the order they appear."""
    if isinstance(schema, dict):
        own = [name] if (name := _ref_name(schema)) is not None else []
        return own + [found for value in schema.values() for found in _references(value)]
    if isinstance(schema, list):
        return [found for value in schema for found in _references(value)]
    return []


def _reachable(definitions: dict[str, Schema], roots: Sequence[str]) -> list[str]:
    """Definition names in breadth-first order from `roots`, so each type follows the one that uses it."""
    order: list[str] = []
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in order or name in _EXTERNAL_TYPES:
            continue
        order.append(name)
        queue.extend(_references(definitions[name]))
    return order


def _columns_section(kind: str, columns: Sequence[dict[str, str]]) -> list[str]:
    lines = [f"`kubectl get` columns of {kind}:", "", "| Column | Source | Meaning |", "|---|---|---|"]
    lines += [f"| {c['name']} | `{c['jsonPath']}` | {_cell(_prose(c['description']))} |" for c in columns]
    return [*lines, ""]


def render() -> str:
    """The whole reference as markdown."""
    roots = [Agent.__name__, AgentSupervisor.__name__]
    _, schema = models_json_schema([(Agent, "validation"), (AgentSupervisor, "validation")], by_alias=True)
    definitions: dict[str, Schema] = schema["$defs"]
    lines = [
        HEADER,
        "# API reference",
        "",
        f"Group and version: `{API_VERSION}`. Field names are as written in YAML. A blank Default means",
        "the field is required or has no value of its own; what the operator does when an optional field",
        "is omitted is in its description. Concepts behind the fields: [concepts.md](concepts.md).",
        "",
        "## Resources",
        "",
        *_columns_section("Agent (short name `ag`)", AGENT_COLUMNS),
        *_columns_section("AgentSupervisor (short name `asup`)", SUPERVISOR_COLUMNS),
        "## Types",
        "",
    ]
    for name in _reachable(definitions, roots):
        definition = definitions[name]
        section = _enum_section if "enum" in definition else _object_section
        lines += section(name, definition)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent_supervisor.api.docgen", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path("docs/api-reference.md"), help="file to write (default: %(default)s)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; fail if the file is stale")
    args = parser.parse_args(argv)
    content = render()
    if args.check:
        path: Path = args.out
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            print(f"{path} is out of date with the API models: run make crds", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(content, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
