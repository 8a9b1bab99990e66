"""API resources -> the core spec; the hot/cold template hash; the semantic checks behind Invalid."""

from __future__ import annotations

import pytest

from agent_supervisor import api, supervision
from agent_supervisor.translate import projection
from agent_supervisor.translate.projection import InvalidResourceError


def fields(problems: list[api.FieldIssue]) -> list[str]:
    return [problem.field for problem in problems]


# --- parsing ---------------------------------------------------------------------------------------------


def test_parse_ignores_the_status_written_by_the_operator(bodies):
    body = bodies.agent()
    body["status"] = {"phase": "NotAPhase", "supervision": {"state": {}}}
    assert projection.parse_agent(body).metadata.name == "solo"


def test_parse_reports_schema_problems_with_their_field_paths(bodies):
    body = bodies.supervisor(children=[{"name": "Bad_Name", "agent": bodies.template()}])
    with pytest.raises(InvalidResourceError) as caught:
        projection.parse_supervisor(body)
    assert fields(caught.value.problems) == ["spec.children[0].name"]
    assert "spec.children[0].name" in str(caught.value)


def test_parse_rejects_nesting_deeper_than_the_limit_naming_the_field(bodies):
    innermost = {"children": [{"name": "leaf", "agent": bodies.template()}]}
    spec = innermost
    for _ in range(api.MAX_NESTING_DEPTH + 1):
        spec = {"children": [{"name": "level", "supervisor": spec}]}
    body = bodies.supervisor(children=spec["children"])
    with pytest.raises(InvalidResourceError) as caught:
        projection.parse_supervisor(body)
    deepest = "spec" + ".children[0].supervisor" * (api.MAX_NESTING_DEPTH + 1)
    assert fields(caught.value.problems) == [deepest]
    assert "nested at most" in caught.value.problems[0].message


def test_parse_agent_reports_a_missing_spec_field(bodies):
    body = bodies.agent()
    del body["spec"]["systemPrompt"]
    with pytest.raises(InvalidResourceError) as caught:
        projection.parse_agent(body)
    assert fields(caught.value.problems) == ["spec.systemPrompt"]


# --- projection --------------------------------------------------------------------------------------------


def test_supervisor_spec_carries_flags_children_and_resolved_defaults(make_supervisor, bodies):
    sup = make_supervisor(
        children=[
            {"name": "svc", "agent": bodies.template()},
            {"name": "job", "agent": bodies.template(task="do it"), "significant": True},
            {"name": "sub", "supervisor": {"children": [{"name": "x", "agent": bodies.template()}]}},
            {
                "name": "fast",
                "agent": bodies.template(),
                "restart": "temporary",
                "shutdown": {"brutalKill": True},
            },
        ],
        strategy="rest_for_one",
        maxRestarts=7,
        periodSeconds=30,
        autoShutdown="any_significant",
        restartBackoff={"initialSeconds": 2, "maxSeconds": 60},
    )
    spec = projection.supervisor_spec(sup)
    assert (spec.strategy, spec.max_restarts, spec.period_seconds) == (
        supervision.Strategy.REST_FOR_ONE,
        7,
        30,
    )
    assert spec.auto_shutdown is supervision.AutoShutdown.ANY_SIGNIFICANT
    assert spec.backoff == supervision.Backoff(initial_seconds=2, max_seconds=60)
    svc, job, sub, fast = spec.children
    assert [c.name for c in spec.children] == ["svc", "job", "sub", "fast"]
    assert (svc.kind, svc.restart, svc.shutdown) == (
        supervision.ChildKind.AGENT,
        supervision.RestartType.PERMANENT,
        supervision.ShutdownPolicy.timeout(5),
    )
    assert (job.restart, job.significant) == (supervision.RestartType.TRANSIENT, True)
    assert (sub.kind, sub.shutdown, sub.template_hash) == (
        supervision.ChildKind.SUPERVISOR,
        supervision.ShutdownPolicy.infinity(),
        "",
    )
    assert (fast.restart, fast.shutdown) == (
        supervision.RestartType.TEMPORARY,
        supervision.ShutdownPolicy.brutal_kill(),
    )
    assert svc.template_hash == projection.cold_template_hash(sup.spec.children[0].agent)
    assert svc.template_hash != ""


def test_standalone_spec_is_one_for_one_over_the_agent_itself(make_agent):
    agent = make_agent(
        "solo", task="t", maxRestarts=2, periodSeconds=9, shutdown={"graceSeconds": 11}, restartBackoff={}
    )
    spec = projection.standalone_spec(agent)
    assert spec.strategy is supervision.Strategy.ONE_FOR_ONE
    assert (spec.max_restarts, spec.period_seconds) == (2, 9)
    assert spec.backoff == supervision.Backoff(initial_seconds=1, max_seconds=300)
    (child,) = spec.children
    assert child.name == "solo"
    assert child.restart is supervision.RestartType.TRANSIENT  # a task agent finishes
    assert child.shutdown == supervision.ShutdownPolicy.timeout(11)
    assert child.template_hash == projection.cold_template_hash(agent.spec)


@pytest.mark.parametrize(
    "change",
    [
        {"systemPrompt": "another prompt"},
        {"model": {"endpoint": "http://other:1/v1", "name": "bigger"}},
        {"tools": [{"name": "finish"}]},
        {"task": "a new task"},
        {"maxSteps": 3},
        {"resume": False},
    ],
    ids=lambda change: next(iter(change)),
)
def test_hot_fields_keep_the_template_hash(bodies, change):
    before = api.AgentTemplate.model_validate(bodies.template())
    after = api.AgentTemplate.model_validate(bodies.template(**change))
    assert projection.cold_template_hash(before) == projection.cold_template_hash(after)


@pytest.mark.parametrize(
    "change",
    [
        {"image": "agent:v2"},
        {"resources": {"limits": {"memory": "256Mi"}}},
        {"env": [{"name": "MODE", "value": "fast"}]},
        {"serviceAccountName": "robot"},
        {"nodeSelector": {"zone": "a"}},
        {"tolerations": [{"key": "gpu", "operator": "Exists"}]},
    ],
    ids=lambda change: next(iter(change)),
)
def test_cold_fields_change_the_template_hash(bodies, change):
    before = api.AgentTemplate.model_validate(bodies.template())
    after = api.AgentTemplate.model_validate(bodies.template(**change))
    assert projection.cold_template_hash(before) != projection.cold_template_hash(after)


def test_the_hash_is_the_same_for_a_template_and_the_agent_made_from_it(make_supervisor, make_agent):
    sup = make_supervisor()
    agent = make_agent("team-a", restart="permanent", shutdown={"graceSeconds": 5})
    assert projection.cold_template_hash(sup.spec.children[0].agent) == projection.cold_template_hash(
        agent.spec
    )


# --- semantic problems -------------------------------------------------------------------------------------


def test_a_valid_supervisor_has_no_problems(make_supervisor):
    assert projection.semantic_problems(make_supervisor(), secrets={}) == []


def test_unknown_tools_and_settings_a_tool_does_not_take_are_named(make_agent):
    agent = make_agent(
        tools=[
            {"name": "send_message"},
            {"name": "teleport"},
            {"name": "finish", "allowedHosts": ["a.example"]},
            {"name": "http_get"},
            {"name": "http_get_v2"},
        ]
    )
    problems = projection.semantic_problems(agent)
    assert fields(problems) == [
        "spec.tools[1].name",
        "spec.tools[2].allowedHosts",
        "spec.tools[3]",
        "spec.tools[4].name",
    ]
    assert "unknown tool 'teleport'; known tools:" in problems[0].message
    assert "http_get" in problems[1].message
    assert "allowed_hosts" in problems[2].message or "allowedHosts" in problems[2].message


def test_tool_settings_that_fit_are_accepted(make_agent):
    agent = make_agent(
        tools=[
            {
                "name": "http_get",
                "allowedHosts": ["api.example.com"],
                "maxResponseBytes": 100,
                "timeoutSeconds": 3,
            },
            {"name": "ask_agent", "timeoutSeconds": 5},
        ]
    )
    assert projection.semantic_problems(agent) == []


def test_env_names_the_operator_sets_are_refused(make_agent):
    agent = make_agent(
        env=[{"name": "MODE", "value": "x"}, {"name": "AGENT_MESSAGE_TOKEN", "value": "stolen"}]
    )
    problems = projection.semantic_problems(agent)
    assert fields(problems) == ["spec.env[1].name"]


def test_names_that_do_not_fit_a_service_are_refused(make_agent):
    long_name = "a" * 64
    assert fields(projection.semantic_problems(make_agent(long_name))) == ["metadata.name"]
    assert "64 characters" in projection.semantic_problems(make_agent(long_name))[0].message
    assert fields(projection.semantic_problems(make_agent("9lives"))) == ["metadata.name"]
    assert projection.semantic_problems(make_agent("a" * 63)) == []


def test_child_resource_names_over_the_limit_are_named_at_the_child(make_supervisor, bodies):
    leaf = {"name": "c" * 30, "agent": bodies.template()}
    nested = {"name": "n" * 20, "supervisor": {"children": [leaf]}}
    sup = make_supervisor("s" * 20, children=[{"name": "ok", "agent": bodies.template()}, nested])
    problems = projection.semantic_problems(sup)
    # s*20 + n*20 = 41 characters fits; adding the leaf makes 72
    assert fields(problems) == ["spec.children[1].supervisor.children[0].name"]
    assert "72 characters" in problems[0].message


def test_problems_inside_nested_templates_carry_the_full_path(make_supervisor, bodies):
    nested = {
        "name": "sub",
        "supervisor": {"children": [{"name": "x", "agent": bodies.template(tools=[{"name": "nope"}])}]},
    }
    problems = projection.semantic_problems(make_supervisor(children=[nested]))
    assert fields(problems) == ["spec.children[0].supervisor.children[0].agent.tools[0].name"]


def test_secret_references_are_checked_only_when_secrets_are_known(make_agent):
    agent = make_agent(
        model={
            "endpoint": "http://m:1/v1",
            "name": "m",
            "apiKeySecretRef": {"name": "model-key", "key": "token"},
        },
        env=[{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
    )
    assert projection.semantic_problems(agent) == []
    missing = projection.semantic_problems(agent, secrets={})
    assert fields(missing) == ["spec.model.apiKeySecretRef.name", "spec.env[0].valueFrom.secretKeyRef.name"]
    assert "Secret 'model-key' does not exist" in missing[0].message
    wrong_key = projection.semantic_problems(agent, secrets={"model-key": ["api"], "db": ["password"]})
    assert fields(wrong_key) == ["spec.model.apiKeySecretRef.key"]
    assert projection.semantic_problems(agent, secrets={"model-key": {"token"}, "db": {"password"}}) == []


def test_standalone_spec_of_a_nameless_agent_is_invalid(bodies):
    body = bodies.agent()
    del body["metadata"]["name"]
    with pytest.raises(InvalidResourceError) as caught:
        projection.standalone_spec(projection.parse_agent(body))
    assert fields(caught.value.problems) == ["metadata.name"]
