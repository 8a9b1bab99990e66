"""The shared base of every API model, the API's identity, and the error type validators raise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic.alias_generators import to_camel

GROUP: Final = "otp.agents.dev"
VERSION: Final = "v1alpha1"
# Spelled out (not formatted from the two above) so that type checkers see the literal the models require.
API_VERSION: Final = "otp.agents.dev/v1alpha1"

# DNS-1035 label: child resources and their Services are named `<supervisor>-<child>`, so a child name must be
# usable inside a Service name (which may not start with a digit).
DNS_LABEL_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
# DNS-1123 subdomain, the rule for Secret, ConfigMap and ServiceAccount names.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_SUBDOMAIN_MAX = 253
# Keys of Secret and ConfigMap data.
DATA_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


class ApiModel(BaseModel):
    """Base for every resource field: camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
    )


class SpecError(ValueError):
    """A rule spanning several fields was broken.

    `path` is relative to the model whose validator raised it, in Kubernetes notation (`children[1].name`), so
    that `field_issues` can report the full field path the way the API server's CEL rules do.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


JsonDict = dict[str, JsonValue]


def cel_rule(rule: str, message: str, field_path: str | None = None) -> JsonDict:
    """One `x-kubernetes-validations` entry; `field_path` points the API server's error at a sub-field."""
    entry: JsonDict = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: JsonDict) -> JsonDict:
    """The `json_schema_extra` that carries CEL rules into the generated CRD."""
    return {"x-kubernetes-validations": [*rules]}


def list_map(key: str) -> JsonDict:
    """`json_schema_extra` of a list whose entries are identified by `key`: the API server merges and checks
    such lists entry by entry, and rejects two entries with the same key."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]}


def require_unique(values: Sequence[str], list_path: str, key: str | None, what: str) -> None:
    """Raise a SpecError at the first entry that repeats an earlier one (lists keyed like a map or a set)."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            field = f"{list_path}[{index}]" + (f".{key}" if key else "")
            raise SpecError(field, f"duplicate {what} {value!r}: {what}s must be unique")
        seen.add(value)
