"""The README's example manifests are valid resources: a newcomer can copy them as they are."""

import re
from pathlib import Path

import pytest
import yaml

from agent_supervisor.api import Agent, AgentSupervisor

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
MODELS = {"Agent": Agent, "AgentSupervisor": AgentSupervisor}


def test_readme_has_one_example_of_each_kind() -> None:
    kinds = sorted(yaml.safe_load(block)["kind"] for block in BLOCKS)
    assert kinds == ["Agent", "AgentSupervisor"]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: yaml.safe_load(b)["kind"])
def test_readme_example_validates(block: str) -> None:
    doc = yaml.safe_load(block)
    MODELS[doc["kind"]].model_validate(doc)
