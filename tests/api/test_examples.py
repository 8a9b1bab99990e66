"""Every manifest in examples/ is accepted by the pydantic models and by the CRD schema with its CEL rules,
and the two agree on defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent_supervisor.api import (
    Agent,
    AgentSupervisor,
    ChildKind,
    RestartType,
    ShutdownPolicy,
    Strategy,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPECTED = {
    "model-secret.yaml",
    "standalone-agent.yaml",
    "coordinator-worker.yaml",
    "one-for-all-team.yaml",
    "rest-for-one-pipeline.yaml",
    "two-level-tree.yaml",
    "worker-pool.yaml",
    "worker-tool-server.yaml",
    "mcp-tools.yaml",
}
LOCAL_MODEL_ENDPOINT = "http://model-server.agent-supervisor-system.svc:8000/v1"
RESOURCE_FILES = sorted(name for name in EXPECTED if name != "model-secret.yaml")


def _load(name: str) -> dict[str, Any]:
    (document,) = [d for d in yaml.safe_load_all((EXAMPLES / name).read_text(encoding="utf-8")) if d]
    manifest: dict[str, Any] = document
    return manifest


def _agent(name: str) -> Agent:
    return Agent.model_validate(_load(name))


def _supervisor(name: str) -> AgentSupervisor:
    return AgentSupervisor.model_validate(_load(name))


def test_the_documented_examples_exist() -> None:
    assert {path.name for path in EXAMPLES.glob("*.yaml")} == EXPECTED


@pytest.mark.parametrize("name", RESOURCE_FILES)
def test_example_is_accepted_by_the_models_and_by_the_crd(name: str, api) -> None:
    manifest = _load(name)
    assert api.model_issues(manifest) == []
    _, issues = api.admit(manifest)
    assert issues == []


@pytest.mark.parametrize("name", RESOURCE_FILES)
def test_crd_defaults_are_the_models_defaults(name: str, api) -> None:
    """What the API server stores (pruned, defaulted) means to the operator what the user wrote."""
    manifest = _load(name)
    stored, _ = api.admit(manifest)
    assert stored != manifest, "the example should rely on at least one default"
    assert api.model(stored) == api.model(manifest)


@pytest.mark.parametrize("name", RESOURCE_FILES)
def test_example_round_trips_through_the_models(name: str, api) -> None:
    manifest = _load(name)
    model = api.model(manifest)
    assert model.model_dump(mode="json", exclude_unset=True) == manifest
    assert type(model).model_validate_json(model.model_dump_json(exclude_none=True)) == model


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_uses_the_local_model_server_and_says_how_to_use_a_real_one(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert "real provider" in text.split("\napiVersion:")[0], "the opening comment must explain it"
    if name != "model-secret.yaml":
        assert LOCAL_MODEL_ENDPOINT in text
        assert "name: scripted" in text


def test_model_secret_is_a_valid_secret_with_a_placeholder_key() -> None:
    secret = _load("model-secret.yaml")
    kubernetes_validate.validate(secret, "1.31", strict=True)
    assert secret["stringData"] == {"api-key": "replace-me"}
    for name in RESOURCE_FILES:
        assert "apiKeySecretRef" in (EXAMPLES / name).read_text(encoding="utf-8")


def test_standalone_agent_is_a_task_agent_restarted_only_on_failure() -> None:
    agent = _agent("standalone-agent.yaml")
    assert agent.spec.is_task
    assert agent.spec.effective_restart is RestartType.TRANSIENT


def test_coordinator_and_worker_message_each_other() -> None:
    spec = _supervisor("coordinator-worker.yaml").spec
    tools = {
        child.name: {tool.name for tool in (child.agent.tools or [])}
        for child in spec.children
        if child.agent
    }
    assert {"ask_agent", "send_message"} <= tools["coordinator"]
    assert "send_message" in tools["worker"]
    worker = next(child for child in spec.children if child.name == "worker")
    assert worker.agent is not None and not worker.agent.is_task, "the worker serves its inbox"


def test_team_and_pipeline_use_their_strategies() -> None:
    assert _supervisor("one-for-all-team.yaml").spec.strategy is Strategy.ONE_FOR_ALL
    pipeline = _supervisor("rest-for-one-pipeline.yaml").spec
    assert pipeline.strategy is Strategy.REST_FOR_ONE
    assert [child.name for child in pipeline.children] == ["ingest", "analyse", "report"]


def test_two_level_tree_escalates_to_a_parent_that_restarts_the_subtree() -> None:
    root = _supervisor("two-level-tree.yaml").spec
    nested = [child for child in root.children if child.kind is ChildKind.AGENT_SUPERVISOR]
    assert len(nested) == 1
    (research,) = nested
    assert research.effective_restart is RestartType.PERMANENT
    assert research.supervisor is not None
    assert research.supervisor.max_restarts < root.max_restarts
    brutal = [child.shutdown for child in research.supervisor.children if child.shutdown]
    assert brutal == [ShutdownPolicy(brutal_kill=True)]


def test_worker_pool_runs_four_identical_workers_named_by_index() -> None:
    spec = _supervisor("worker-pool.yaml").spec
    (pool,) = [child for child in spec.children if child.pool is not None]
    assert pool.member_names == ["workers-0", "workers-1", "workers-2", "workers-3"]
    assert pool.pool is not None and not pool.pool.template.is_task, "the workers serve their inboxes"
    dispatcher = next(child for child in spec.children if child.name == "dispatcher")
    assert dispatcher.agent is not None and "pool-workers-3" in dispatcher.agent.system_prompt


def test_worker_tool_server_starts_the_tool_server_before_the_agents_that_use_it() -> None:
    spec = _supervisor("worker-tool-server.yaml").spec
    assert spec.strategy is Strategy.REST_FOR_ONE
    assert [child.kind for child in spec.children] == [ChildKind.WORKER, ChildKind.AGENT, ChildKind.AGENT]
    tools = spec.children[0]
    assert tools.worker is not None and tools.worker.readiness_probe is not None, "Ready means listening"
    assert tools.effective_restart is RestartType.PERMANENT
    researcher = spec.children[1].agent
    assert researcher is not None
    (http_get,) = [tool for tool in researcher.tools or [] if tool.name == "http_get"]
    port = (tools.worker.ports or [])[0].container_port
    service = f"toolbox-{tools.name}:{port}"
    assert http_get.allowed_hosts == [service], "the agent reaches the worker's Service"
