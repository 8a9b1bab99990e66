"""Every manifest in tests/api/invalid/ is rejected by the pydantic models AND by the CRD schema with its CEL
rules, each time with an error on the field the file's `# expect-field:` comment names (and, where the file
says `# expect-message:`, with that text, which the models and the CEL rules share - unless the API server's
own check stands in for a CEL rule, whose text `# expect-crd-message:` gives: duplicate names of a list-map,
and a level of nesting too deep for any rule's cost, see api/cel_budget.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

CORPUS = sorted((Path(__file__).resolve().parent / "invalid").glob("*.yaml"))


def _expectation(path: Path, key: str) -> str | None:
    prefix = f"# {key}: "
    lines = path.read_text(encoding="utf-8").splitlines()
    return next((line.removeprefix(prefix) for line in lines if line.startswith(prefix)), None)


def _manifest(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return manifest


def _matches(issues: list[Any], field: str, message: str | None) -> bool:
    return any(
        issue.field.startswith(field) and (message is None or message in issue.message) for issue in issues
    )


def test_the_corpus_covers_both_kinds_and_every_file_states_its_expectation() -> None:
    kinds = {_manifest(path)["kind"] for path in CORPUS}
    assert kinds == {"Agent", "AgentSupervisor"}
    for path in CORPUS:
        assert _expectation(path, "expect-field"), f"{path.name} lacks an '# expect-field:' comment"
        assert path.read_text(encoding="utf-8").startswith("# Rejected: "), f"{path.name} must say why"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_models_reject_naming_the_field(path: Path, api) -> None:
    field, message = _expectation(path, "expect-field"), _expectation(path, "expect-message")
    assert field is not None
    issues = api.model_issues(_manifest(path))
    assert _matches(issues, field, message), f"expected {field!r} / {message!r}, got {issues}"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_crd_schema_and_cel_reject_naming_the_field(path: Path, api) -> None:
    field = _expectation(path, "expect-field")
    message = _expectation(path, "expect-crd-message") or _expectation(path, "expect-message")
    assert field is not None
    _, issues = api.admit(_manifest(path))
    assert _matches(issues, field, message), f"expected {field!r} / {message!r}, got {issues}"
