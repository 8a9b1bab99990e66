"""Issue 13 item 3: run_program configured on the resource, and the test-only crash tool behind a flag."""

from __future__ import annotations

import pytest

from agent_supervisor import api
from agent_supervisor.translate import agent_pod, projection, runtime_config
from agent_supervisor.translate.projection import InvalidResourceError
from agent_supervisor.translate.settings import OperatorSettings

WORD_COUNT = {
    "name": "run_program",
    "command": ["wc", "-w"],
    "allowArguments": False,
    "timeoutSeconds": 5,
    "maxOutputBytes": 1000,
    "workingDir": "/tmp",
    "env": [{"name": "MODE", "value": "fast"}, {"name": "TOKEN", "secretKeyRef": {"name": "s", "key": "k"}}],
    "inheritEnv": ["PATH", "HOME"],
}


def fields(problems: list[api.FieldIssue]) -> list[str]:
    return [problem.field for problem in problems]


def test_run_program_settings_reach_the_runtime_config_without_the_secret(make_agent) -> None:
    agent = make_agent(tools=[WORD_COUNT])

    rendered = runtime_config.render(agent, runtime_config.RenderContext(namespace="default"))

    [tool] = rendered.document["tools"]
    assert tool["settings"] == {
        "command": ["wc", "-w"],
        "allowArguments": False,
        "timeoutSeconds": 5,
        "maxOutputBytes": 1000,
        "workingDir": "/tmp",
        "env": {"MODE": "fast"},
        "inheritEnv": ["PATH", "HOME", "TOKEN"],
    }
    assert "secretKeyRef" not in rendered.text and "\n  name: s\n" not in rendered.text


def test_a_secret_backed_program_variable_is_mapped_into_the_container(make_agent) -> None:
    agent = make_agent(tools=[WORD_COUNT])

    pod = agent_pod.pod(agent, 1, "hash", OperatorSettings(default_image="img"))

    env = {var["name"]: var for var in pod["spec"]["containers"][0]["env"]}
    assert env["TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "k"}}
    assert "MODE" not in env  # plain values travel in the config, not the pod


def test_program_secrets_are_checked_like_the_others(make_agent) -> None:
    agent = make_agent(tools=[WORD_COUNT])

    assert projection.referenced_secrets(agent) == {"s"}
    problems = projection.semantic_problems(agent, secrets={"s": ["other"]})
    assert fields(problems) == ["spec.tools[0].env[1].secretKeyRef.key"]


@pytest.mark.parametrize(
    ("tool", "field"),
    [
        ({"name": "run_program"}, "spec.tools[0]"),  # no command
        ({"name": "run_program", "command": []}, "spec.tools[0].command"),
        ({"name": "run_program", "command": ["x"], "env": [{"name": "A"}]}, "spec.tools[0].env[0]"),
        ({"name": "run_program", "command": ["x"], "inheritEnv": ["AGENT_MESSAGE_TOKEN"]}, "spec.tools[0]"),
        ({"name": "run_program", "command": ["x"], "maxOutputBytes": 0}, "spec.tools[0].maxOutputBytes"),
        ({"name": "http_get", "allowedHosts": ["a.example"], "command": ["x"]}, "spec.tools[0].command"),
    ],
)
def test_bad_run_program_entries_are_refused_naming_the_field(make_agent, tool, field) -> None:
    try:
        agent = make_agent(tools=[tool])
    except InvalidResourceError as err:  # the schema's own checks
        problems = err.problems
    else:  # what only the operator can check
        problems = projection.semantic_problems(agent)
    assert field in fields(problems), problems


def test_a_secret_variable_may_not_shadow_the_containers_own(make_agent) -> None:
    tool = {
        "name": "run_program",
        "command": ["x"],
        "env": [{"name": "MODE", "secretKeyRef": {"name": "s", "key": "k"}}],
    }
    agent = make_agent(tools=[tool], env=[{"name": "MODE", "value": "x"}])

    assert fields(projection.semantic_problems(agent)) == ["spec.tools[0].env[0].name"]


def test_the_crash_tool_needs_the_operators_test_flag(make_agent, make_supervisor) -> None:
    agent = make_agent(tools=[{"name": "crash"}])

    problems = projection.semantic_problems(agent)
    assert fields(problems) == ["spec.tools[0].name"]
    assert "--allow-test-tools" in problems[0].message
    assert projection.semantic_problems(agent, allow_test_tools=True) == []


def test_the_crash_tool_is_found_deep_in_a_tree(bodies) -> None:
    crashing = bodies.template(tools=[{"name": "finish"}, {"name": "crash"}])
    inner = {"children": [{"name": "leaf", "agent": crashing}]}
    sup = projection.parse_supervisor(bodies.supervisor(children=[{"name": "team", "supervisor": inner}]))

    problems = projection.semantic_problems(sup)
    assert fields(problems) == ["spec.children[0].supervisor.children[0].agent.tools[1].name"]
