"""docs/api-reference.md is exactly what the generator writes from the models, and covers every field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agent_supervisor.api import (
    AgentSpec,
    AgentStatus,
    ChildSpec,
    ChildStatus,
    ModelSpec,
    ShutdownPolicy,
    SupervisorSpec,
    SupervisorStatus,
    ToolSpec,
)
from agent_supervisor.api.docgen import main, render

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "api-reference.md"
GENERATED = render()


def test_committed_reference_matches_the_models() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == GENERATED, (
        "docs/api-reference.md differs from what the API models generate: run make crds"
    )


def test_generation_is_deterministic() -> None:
    assert render() == GENERATED


def _section(name: str) -> str:
    start = GENERATED.index(f"\n### {name}\n")
    end = GENERATED.find("\n### ", start + 1)
    return GENERATED[start : end if end != -1 else None]


@pytest.mark.parametrize(
    "model",
    [AgentSpec, AgentStatus, SupervisorSpec, SupervisorStatus, ChildSpec, ChildStatus, ModelSpec, ToolSpec],
    ids=lambda model: model.__name__,
)
def test_every_field_has_a_row_with_its_description(model: type[BaseModel]) -> None:
    section = _section(model.__name__)
    for name, field in model.model_fields.items():
        alias = field.alias or name
        row = next((line for line in section.splitlines() if line.startswith(f"| `{alias}` |")), None)
        assert row is not None, f"{model.__name__}.{alias} has no row"
        # Angle brackets outside code are escaped so that markdown does not read them as HTML tags.
        description = " ".join((field.description or "").split()).replace("<", "&lt;").replace(">", "&gt;")
        assert description in row


def test_rows_carry_defaults_bounds_and_enums() -> None:
    rows = _section("SupervisorSpec").splitlines()
    max_restarts = next(line for line in rows if line.startswith("| `maxRestarts` |"))
    assert "| `3` |" in max_restarts and "≥ 0; ≤ 1000" in max_restarts
    strategy_values = _section("Strategy")
    assert '`"one_for_one"`, `"one_for_all"`, `"rest_for_one"`' in strategy_values


def test_placeholders_in_prose_survive_markdown() -> None:
    assert "named &lt;supervisor&gt;-&lt;child name&gt;;" in _section(ChildSpec.__name__)


def test_cross_field_rules_are_listed_with_their_message() -> None:
    section = _section(ShutdownPolicy.__name__)
    assert "set exactly one of graceSeconds or brutalKill" in section


def test_check_fails_on_a_stale_file_and_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "api-reference.md"
    out.write_text("old\n", encoding="utf-8")
    assert main(["--out", str(out), "--check"]) == 1
    assert "run make crds" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 0
    assert main(["--out", str(out), "--check"]) == 0
    assert out.read_text(encoding="utf-8") == GENERATED
