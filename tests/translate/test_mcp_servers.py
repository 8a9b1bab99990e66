"""`mcpServers`: resolved to a sibling worker's Service, rendered into the runtime config, header Secrets
mapped into the pod and nowhere else, and bad entries rejected naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from agent_supervisor import api
from agent_supervisor.translate import agent_pod, manifests, projection
from agent_supervisor.translate.projection import InvalidResourceError
from agent_supervisor.translate.runtime_config import RenderContext, RenderError, render
from agent_supervisor.translate.settings import OperatorSettings
from tests.translate.conftest import supervisor_body, template

SETTINGS = OperatorSettings(default_image="agent-runtime:dev")
HEADER = {"name": "Authorization", "secretKeyRef": {"name": "tools-auth", "key": "bearer"}}


def tools_worker(**overrides: Any) -> dict[str, Any]:
    return {
        "image": "tools:1",
        "command": ["python", "server.py"],
        "ports": [{"name": "mcp", "containerPort": 8000}],
        **overrides,
    }


def team(*servers: dict[str, Any], worker: dict[str, Any] | None = None) -> api.AgentSupervisor:
    return projection.parse_supervisor(
        supervisor_body(
            "team",
            [
                {"name": "tools", "worker": worker or tools_worker()},
                {"name": "other", "agent": template()},
                {"name": "a", "agent": template(mcpServers=list(servers))},
            ],
        )
    )


def child_agent(sup: api.AgentSupervisor) -> api.Agent:
    return projection.parse_agent(manifests.child_agent(sup, "a"))


def test_a_child_server_is_the_sibling_workers_service():
    sup = team({"name": "tools", "child": "tools", "allowedTools": ["add"], "timeoutSeconds": 5})
    agent = child_agent(sup)
    assert projection.semantic_problems(sup) == []
    (server,) = render(agent, RenderContext(namespace="team-ns")).document["mcpServers"]
    assert server["url"] == "http://team-tools.team-ns.svc:8000/mcp"
    assert server["allowedTools"] == ["add"]
    assert server["timeoutSeconds"] == 5


def test_port_and_path_pick_the_endpoint():
    ports = [{"name": "metrics", "containerPort": 9000}, {"name": "mcp", "containerPort": 8000}]
    sup = team(
        {"name": "t", "child": "tools", "port": "mcp", "path": "/v1/mcp"}, worker=tools_worker(ports=ports)
    )
    (server,) = child_agent(sup).spec.mcp_servers or []
    assert server.url == "http://team-tools.team-ns.svc:8000/v1/mcp"


def test_header_values_come_from_secrets_into_the_pod_env_only(make_agent):
    agent = make_agent(
        mcpServers=[{"name": "remote-db", "url": "https://mcp.example.com/mcp", "headersFrom": [HEADER]}]
    )
    rendered = render(agent, RenderContext(namespace="team-ns"))
    (server,) = rendered.document["mcpServers"]
    assert server["headers"] == [{"name": "Authorization", "valueEnv": "AGENT_MCP_REMOTE_DB_0"}]
    assert "tools-auth" not in rendered.text and "bearer" not in rendered.text
    env = agent_pod.pod(agent, 1, "h", SETTINGS)["spec"]["containers"][0]["env"]
    assert {
        "name": "AGENT_MCP_REMOTE_DB_0",
        "valueFrom": {"secretKeyRef": {"name": "tools-auth", "key": "bearer"}},
    } in env
    assert projection.referenced_secrets(agent) == {"tools-auth"}
    problems = projection.semantic_problems(agent, secrets={})
    assert [p.field for p in problems] == ["spec.mcpServers[0].headersFrom[0].secretKeyRef.name"]


def test_mcp_servers_are_hot_but_their_header_secrets_are_cold(make_agent):
    base = projection.cold_template_hash(make_agent().spec)
    with_server = make_agent(mcpServers=[{"name": "t", "url": "http://t:8000/mcp"}])
    assert projection.cold_template_hash(with_server.spec) == base
    with_header = make_agent(mcpServers=[{"name": "t", "url": "http://t:8000/mcp", "headersFrom": [HEADER]}])
    assert projection.cold_template_hash(with_header.spec) != base


@pytest.mark.parametrize(
    ("server", "field", "words"),
    [
        ({"name": "t", "child": "missing"}, "child", "'missing' is no child of this supervisor"),
        ({"name": "t", "child": "other"}, "child", "'other' is a child that is not a worker"),
        ({"name": "t", "child": "tools", "port": 9999}, "port", "has no such port (its ports: mcp/8000)"),
    ],
)
def test_a_bad_child_is_rejected_naming_the_field(server, field, words):
    problems = projection.semantic_problems(team(server))
    assert [p.field for p in problems] == [f"spec.children[2].agent.mcpServers[0].{field}"]
    assert words in problems[0].message


def test_a_standalone_agent_cannot_name_a_child(make_agent):
    agent = make_agent(mcpServers=[{"name": "t", "child": "tools"}])
    (problem,) = projection.semantic_problems(agent)
    assert problem.field == "spec.mcpServers[0].child"
    assert "give a url instead" in problem.message
    with pytest.raises(RenderError, match=r"spec.mcpServers\[0\].child"):
        render(agent, RenderContext(namespace="team-ns"))


@pytest.mark.parametrize(
    ("servers", "field"),
    [
        ([{"name": "t"}], "spec.mcpServers[0].url"),
        ([{"name": "t", "url": "http://x/mcp", "child": "tools"}], "spec.mcpServers[0].url"),
        ([{"name": "t", "url": "http://x/mcp", "port": 80}], "spec.mcpServers[0].port"),
        ([{"name": "t", "url": "ftp://x/mcp"}], "spec.mcpServers[0].url"),
        ([{"name": "a__b", "url": "http://x/mcp"}], "spec.mcpServers[0].name"),
        (
            [{"name": "t", "url": "http://x/mcp"}, {"name": "t", "url": "http://y/mcp"}],
            "spec.mcpServers[1].name",
        ),
    ],
)
def test_bad_entries_are_invalid_naming_the_field(servers, field):
    body = {
        "apiVersion": api.API_VERSION,
        "kind": "Agent",
        "metadata": {"name": "solo", "namespace": "team-ns"},
        "spec": template(mcpServers=servers),
    }
    with pytest.raises(InvalidResourceError) as caught:
        projection.parse_agent(body)
    assert field in [problem.field for problem in caught.value.problems]


def test_env_names_carrying_mcp_headers_are_reserved(make_agent):
    agent = make_agent(env=[{"name": "AGENT_MCP_X_0", "value": "mine"}])
    (problem,) = projection.semantic_problems(agent)
    assert problem.field == "spec.env[0].name"
