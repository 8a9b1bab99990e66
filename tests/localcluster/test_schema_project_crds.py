"""The project's generated CRDs are structural, and its examples pass their validation unchanged."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster.schema import CustomResourceValidator, structural_errors

ROOT = Path(__file__).resolve().parents[2]
CRD_FILES = sorted((ROOT / "crds").glob("*.yaml"))
EXAMPLE_FILES = sorted((ROOT / "examples").glob("*.yaml"))


def crd_versions() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in CRD_FILES:
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            found.append(
                (f"{api_version}/{crd['spec']['names']['kind']}", version["schema"]["openAPIV3Schema"])
            )
    return found


@functools.cache
def validators() -> dict[str, CustomResourceValidator]:
    return {key: CustomResourceValidator(schema) for key, schema in crd_versions()}


def custom_examples() -> list[tuple[str, dict[str, Any]]]:
    kinds = {key for key, _ in crd_versions()}
    found = []
    for path in EXAMPLE_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and f"{doc.get('apiVersion')}/{doc.get('kind')}" in kinds:
                found.append((f"{path.name}:{doc['metadata']['name']}", doc))
    return found


pytestmark = pytest.mark.skipif(not CRD_FILES, reason="no generated CRDs in crds/ yet")


@pytest.mark.parametrize(("key", "schema"), crd_versions())
def test_generated_crd_schemas_are_structural(key: str, schema: dict[str, Any]) -> None:
    assert structural_errors(schema) == [], key


@pytest.mark.parametrize(("name", "doc"), custom_examples())
def test_examples_are_valid_and_have_no_unknown_fields(name: str, doc: dict[str, Any]) -> None:
    validator = validators()[f"{doc['apiVersion']}/{doc['kind']}"]
    assert validator.unknown_fields(doc) == [], name
    obj = validator.apply_defaults(validator.prune(doc))
    assert validator.validate(obj) == [], name
    assert validator.validate(obj, old=obj) == [], name


@pytest.mark.parametrize(("name", "doc"), custom_examples()[:1])
def test_an_undeclared_spec_field_is_reported(name: str, doc: dict[str, Any]) -> None:
    validator = validators()[f"{doc['apiVersion']}/{doc['kind']}"]
    assert validator.unknown_fields({**doc, "spec": {**doc["spec"], "notAField": 1}}) == ["spec.notAField"], (
        name
    )
