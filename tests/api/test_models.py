"""Behaviour of the pydantic models: exact JSON round trips, resolved defaults, field-named errors, and the
nesting limit shared with the CRD."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agent_supervisor.api import (
    MAX_NESTING_DEPTH,
    Agent,
    AgentSpec,
    AgentStatus,
    AgentSupervisor,
    AgentTemplate,
    ChildKind,
    ChildSpec,
    ChildStatus,
    Condition,
    ConditionStatus,
    ContextSpec,
    ExitClass,
    ExitInfo,
    McpHeaderFrom,
    McpServerSpec,
    ModelParameters,
    ModelRetry,
    ModelSpec,
    PoolSpec,
    PoolStatus,
    ProgramEnvVar,
    RestartBackoff,
    RestartType,
    SecretKeyRef,
    ShutdownPolicy,
    SupervisorSpec,
    SupervisorStatus,
    TokenBudget,
    ToolSpec,
    field_issues,
)
from agent_supervisor.api.pod import (
    ConfigMapKeySelector,
    EnvVar,
    EnvVarSource,
    ResourceRequirements,
    SecretKeySelector,
    TaintEffect,
    Toleration,
    TolerationOperator,
)
from agent_supervisor.api.worker import (
    EnvFromSource,
    ExecAction,
    HttpGetAction,
    LocalObjectReference,
    ReadinessProbe,
    TcpSocketAction,
    WorkerPort,
    WorkerSecurityContext,
    WorkerSpec,
)

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
MODEL = {"endpoint": "http://model-server.agent-supervisor-system.svc:8000/v1", "name": "scripted"}


def _template(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "systemPrompt": "You help.", **extra}


def _full_template() -> dict[str, Any]:
    """Every AgentTemplate field set, so that a round trip exercises all of them."""
    return dict(
        model=ModelSpec(
            endpoint="https://api.example.com/v1",
            name="gpt-4o-mini",
            parameters=ModelParameters(temperature=0.5, top_p=0.9, max_tokens=512, seed=7),
            timeout_seconds=600,
            api_key_secret_ref=SecretKeyRef(name="model-api-key", key="api-key"),
            retry=ModelRetry(
                max_attempts=2,
                initial_backoff_seconds=0.1,
                max_backoff_seconds=1.0,
                max_retry_after_seconds=5.0,
            ),
        ),
        system_prompt="You help.",
        task="Summarise.",
        tools=[
            ToolSpec(
                name="http_get",
                allowed_hosts=["*.example.com"],
                allowed_ports=[443, 8443],
                allowed_networks=["10.96.0.0/12"],
                max_response_bytes=1000,
                timeout_seconds=9,
            ),
            ToolSpec(
                name="run_program",
                command=["wc", "-w"],
                allow_arguments=False,
                max_output_bytes=100,
                working_dir="/tmp",
                env=[
                    ProgramEnvVar(name="MODE", value="fast"),
                    ProgramEnvVar(name="TOKEN", secret_key_ref=SecretKeyRef(name="s", key="k")),
                ],
                inherit_env=["PATH"],
            ),
        ],
        mcp_servers=[
            McpServerSpec(
                name="remote",
                url="https://mcp.example.com/mcp",
                transport="sse",
                headers_from=[
                    McpHeaderFrom(name="Authorization", secret_key_ref=SecretKeyRef(name="m", key="k"))
                ],
                allowed_tools=["search"],
                timeout_seconds=20,
                max_result_bytes=4096,
            ),
            McpServerSpec(name="local", child="tools", port="mcp", path="/mcp"),
        ],
        context=ContextSpec(max_tokens=8192, max_tool_result_chars=4000),
        token_budget=TokenBudget(per_task=5000, per_hour=100_000),
        max_steps=12,
        resume=False,
        on_dependency_outage="exit",
        image="registry.example.com/agent:1",
        resources=ResourceRequirements(
            requests={"cpu": "100m", "memory": 134217728}, limits={"memory": "1Gi"}
        ),
        env=[
            EnvVar(name="PLAIN", value="1"),
            EnvVar(
                name="TOKEN", value_from=EnvVarSource(secret_key_ref=SecretKeySelector(name="s", key="k"))
            ),
            EnvVar(
                name="REGION",
                value_from=EnvVarSource(config_map_key_ref=ConfigMapKeySelector(name="c", key="r")),
            ),
        ],
        service_account_name="agents",
        node_selector={"pool": "agents"},
        tolerations=[
            Toleration(
                key="gpu",
                operator=TolerationOperator.EQUAL,
                value="yes",
                effect=TaintEffect.NO_EXECUTE,
                toleration_seconds=30,
            )
        ],
    )


def _exits() -> ExitInfo:
    return ExitInfo(
        code=137, classification=ExitClass.ABNORMAL, reason="OOMKilled", message="out of memory", time=T0
    )


def _conditions() -> list[Condition]:
    return [
        Condition(
            type="Ready",
            status=ConditionStatus.TRUE,
            reason="Running",
            message="up",
            observed_generation=3,
            last_transition_time=T0,
        )
    ]


def _full_worker(probe: ReadinessProbe) -> WorkerSpec:
    """Every WorkerSpec field set (the probe's action varies: one worker child per kind of probe)."""
    return WorkerSpec(
        image="ghcr.io/example/tools:1.2",
        command=["python", "-m", "tools"],
        args=["--port", "8000"],
        env=[
            EnvVar(name="MODE", value="fast"),
            EnvVar(
                name="TOKEN",
                value_from=EnvVarSource(secret_key_ref=SecretKeySelector(name="tools", key="token")),
            ),
        ],
        env_from=[
            EnvFromSource(secret_ref=LocalObjectReference(name="tools-secrets"), prefix="TOOLS_"),
            EnvFromSource(config_map_ref=LocalObjectReference(name="tools-config")),
        ],
        ports=[WorkerPort(name="http", container_port=8000, protocol="TCP")],
        readiness_probe=probe,
        resources=ResourceRequirements(requests={"cpu": "100m"}, limits={"memory": "128Mi"}),
        security_context=WorkerSecurityContext(
            run_as_user=1001, run_as_group=1001, read_only_root_filesystem=False
        ),
    )


_PROBE_TIMING: dict[str, Any] = {
    "initial_delay_seconds": 1,
    "period_seconds": 2,
    "timeout_seconds": 3,
    "failure_threshold": 4,
    "success_threshold": 1,
}
WORKER_CHILDREN = [
    ChildSpec(
        name="tools-http",
        worker=_full_worker(
            ReadinessProbe(http_get=HttpGetAction(path="/ready", port="http"), **_PROBE_TIMING)
        ),
    ),
    ChildSpec(name="tools-tcp", worker=_full_worker(ReadinessProbe(tcp_socket=TcpSocketAction(port=8000)))),
    ChildSpec(name="tools-exec", worker=_full_worker(ReadinessProbe(exec=ExecAction(command=["true"])))),
]


FULL_MODELS: list[BaseModel] = [
    Agent(
        metadata={
            "name": "a",
            "namespace": "n",
            "labels": {"x": "y"},
            "annotations": {"k": "v"},
            "generation": 3,
        },
        spec=AgentSpec(
            **_full_template(),
            restart=RestartType.PERMANENT,
            max_restarts=4,
            period_seconds=30,
            restart_backoff=RestartBackoff(initial_seconds=2, max_seconds=20),
            shutdown=ShutdownPolicy(grace_seconds=10),
        ),
        status=AgentStatus(
            observed_generation=3,
            phase="Running",
            conditions=_conditions(),
            supervisor="team",
            pod_name="a-7",
            attempt=7,
            restart_history=[1_700_000_010, 1_700_000_005],
            restart_budget_left=2,
            total_restarts=6,
            last_exit=_exits(),
            config_revision="r2",
            applied_config_revision="r1",
            hourly_tokens_used=130,
            hourly_token_budget_left=0,
            supervision={"opaque": [1, {"nested": True}]},
        ),
    ),
    AgentSupervisor(
        metadata={"name": "s", "resourceVersion": "42"},
        spec=SupervisorSpec(
            strategy="rest_for_one",
            max_restarts=1,
            period_seconds=10,
            auto_shutdown="any_significant",
            restart_backoff=RestartBackoff(initial_seconds=1, max_seconds=5),
            token_budget=TokenBudget(per_task=20_000, per_hour=1_000_000),
            children=[
                ChildSpec(
                    name="worker",
                    restart=RestartType.TRANSIENT,
                    significant=True,
                    shutdown=ShutdownPolicy(brutal_kill=True),
                    agent=AgentTemplate(**_full_template()),
                ),
                ChildSpec(
                    name="nested",
                    supervisor=SupervisorSpec(children=[ChildSpec(name="leaf", agent=_template())]),
                ),
                ChildSpec(name="workers", pool=PoolSpec(replicas=3, template=AgentTemplate(**_template()))),
                *WORKER_CHILDREN,
            ],
        ),
        status=SupervisorStatus(
            observed_generation=2,
            phase="Restarting",
            conditions=_conditions(),
            children=[
                ChildStatus(
                    name="worker",
                    kind=ChildKind.AGENT,
                    phase="Running",
                    attempt=4,
                    ready=True,
                    restarts=1,
                    last_exit=_exits(),
                )
            ],
            pools=[PoolStatus(name="workers", replicas=3, ready_replicas=2)],
            pools_ready="workers 2/3",
            workers_ready="tools-http Running",
            ready_children="1/2",
            restarts_in_window="1/1",
            restart_history=[1_700_000_000],
            restart_budget_left=0,
            total_restarts=1,
            last_exit=_exits(),
            supervision={"state": "anything"},
        ),
    ),
]


def _unset_fields(model: BaseModel, path: str = "") -> list[str]:
    unset = []
    for name, value in model:
        if name == "metadata":
            continue  # passed through as the API server sends it
        if isinstance(value, BaseModel):
            unset += _unset_fields(value, f"{path}{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            # A field of list entries counts as covered when any entry sets it.
            per_entry = [set(_unset_fields(entry, f"{path}{name}[].")) for entry in value]
            unset += sorted(set.intersection(*per_entry))
        elif value is None:
            unset.append(f"{path}{name}")
    return unset


def test_the_round_trip_fixtures_set_every_field() -> None:
    """Keeps the round-trip test honest when fields are added (shutdown's brutalKill is set on a child)."""
    unset = [field for model in FULL_MODELS for field in _unset_fields(model)]
    assert unset == ["spec.shutdown.brutal_kill"]


@pytest.mark.parametrize("model", FULL_MODELS, ids=lambda m: type(m).__name__)
def test_model_to_json_to_model_is_identity(model: BaseModel) -> None:
    text = model.model_dump_json(exclude_none=True)
    again = type(model).model_validate_json(text)
    assert again == model
    assert again.model_dump_json(exclude_none=True) == text


def test_python_names_in_camel_case_on_the_wire() -> None:
    spec = AgentSpec(model=ModelSpec(**MODEL), system_prompt="x", max_restarts=1)
    wire = spec.model_dump(mode="json", exclude_none=True)
    assert wire["systemPrompt"] == "x" and wire["maxRestarts"] == 1 and "system_prompt" not in wire
    assert AgentSpec.model_validate(wire) == spec


def test_models_are_immutable() -> None:
    spec = AgentSpec.model_validate(_template())
    with pytest.raises(ValidationError):
        spec.max_steps = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("template", "expected"),
    [(_template(task="do it"), RestartType.TRANSIENT), (_template(), RestartType.PERMANENT)],
    ids=["task-agent", "service-agent"],
)
def test_omitted_restart_depends_on_whether_the_agent_has_a_task(
    template: dict[str, Any], expected: RestartType
) -> None:
    assert AgentSpec.model_validate(template).effective_restart is expected
    assert ChildSpec.model_validate({"name": "c", "agent": template}).effective_restart is expected
    explicit = {"name": "c", "restart": "temporary", "agent": template}
    assert ChildSpec.model_validate(explicit).effective_restart is RestartType.TEMPORARY


def test_nested_supervisor_defaults_to_permanent_and_unlimited_shutdown() -> None:
    child = ChildSpec.model_validate(
        {"name": "sub", "supervisor": {"children": [{"name": "a", "agent": _template()}]}}
    )
    assert child.kind is ChildKind.AGENT_SUPERVISOR
    assert child.effective_restart is RestartType.PERMANENT
    assert child.effective_shutdown is None


def test_agents_default_to_five_grace_seconds() -> None:
    assert AgentSpec.model_validate(_template()).effective_shutdown == ShutdownPolicy(grace_seconds=5)
    child = ChildSpec.model_validate({"name": "a", "agent": _template()})
    assert child.kind is ChildKind.AGENT
    assert child.effective_shutdown == ShutdownPolicy(grace_seconds=5)
    brutal = ChildSpec.model_validate({"name": "a", "shutdown": {"brutalKill": True}, "agent": _template()})
    assert brutal.effective_shutdown == ShutdownPolicy(brutal_kill=True)


def test_supervisor_defaults_follow_otp_and_elixir() -> None:
    spec = SupervisorSpec.model_validate({"children": [{"name": "a", "agent": _template()}]})
    assert (spec.strategy, spec.max_restarts, spec.period_seconds, spec.auto_shutdown) == (
        "one_for_one",
        3,
        5,
        "never",
    )
    assert spec.restart_backoff is None
    assert spec.children[0].significant is False


def test_a_significant_task_agent_needs_no_explicit_restart(api) -> None:
    manifest = {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": {"name": "s"},
        "spec": {
            "autoShutdown": "all_significant",
            "children": [{"name": "job", "significant": True, "agent": _template(task="do it")}],
        },
    }
    assert api.model_issues(manifest) == []
    assert api.admit(manifest)[1] == []


def _nested(levels: int) -> dict[str, Any]:
    child: dict[str, Any] = {"name": "leaf", "agent": _template()}
    for level in range(levels):
        child = {"name": f"level{level}", "supervisor": {"children": [child]}}
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": {"name": "tree"},
        "spec": {"children": [child]},
    }


def test_the_deepest_allowed_tree_is_accepted_by_both_validators(api) -> None:
    manifest = _nested(MAX_NESTING_DEPTH)
    assert api.model_issues(manifest) == []
    stored, issues = api.admit(manifest)
    assert issues == []
    assert api.model(stored) == api.model(manifest), "nothing of the deepest level may be pruned"


def test_one_level_deeper_is_rejected_by_both_validators_at_the_same_field(api) -> None:
    manifest = _nested(MAX_NESTING_DEPTH + 1)
    expected = "spec" + ".children[0].supervisor" * (MAX_NESTING_DEPTH + 1)
    assert [issue.field for issue in api.model_issues(manifest)] == [expected]
    assert expected in [issue.field for issue in api.admit(manifest)[1]]


def test_rules_too_deep_for_the_crd_budget_are_the_models_to_check(api) -> None:
    """Two levels down a child entry has 256^3 places: no CEL rule fits there (api/cel_budget.py), so the API
    server admits what the operator's models then refuse with the same message, naming the field."""
    manifest = _nested(2)
    manifest["spec"]["children"][0]["supervisor"]["children"][0]["supervisor"]["children"] = [{"name": "x"}]
    assert api.admit(manifest)[1] == []
    assert [(issue.field, issue.message) for issue in api.model_issues(manifest)] == [
        (
            "spec.children[0].supervisor.children[0].supervisor.children[0].agent",
            "set exactly one of agent, pool, supervisor or worker",
        )
    ]


def test_a_pool_counts_each_member_toward_the_limit_and_names_the_replicas(api) -> None:
    def with_replicas(replicas: int) -> dict[str, Any]:
        children = [
            {"name": "lead", "agent": _template()},
            {"name": "workers", "pool": {"replicas": replicas, "template": _template()}},
        ]
        return {
            "apiVersion": "otp.agents.dev/v1alpha1",
            "kind": "AgentSupervisor",
            "metadata": {"name": "pool"},
            "spec": {"children": children},
        }

    assert api.model_issues(with_replicas(255)) == [] and api.admit(with_replicas(255))[1] == []
    assert [issue.field for issue in api.model_issues(with_replicas(256))] == [
        "spec.children[1].pool.replicas"
    ]
    assert [issue.field for issue in api.admit(with_replicas(256))[1]] == ["spec.children"]


def test_pool_members_are_named_by_index_in_order() -> None:
    pool = ChildSpec.model_validate({"name": "w", "pool": {"replicas": 3, "template": _template(task="t")}})
    assert pool.member_names == ["w-0", "w-1", "w-2"]
    assert pool.effective_restart is RestartType.TRANSIENT  # like an agent with a task
    assert pool.effective_shutdown == ShutdownPolicy(grace_seconds=5)
    assert pool.kind is ChildKind.AGENT


def test_field_issues_name_full_kubernetes_paths() -> None:
    manifest = {
        "spec": {
            "maxRestarts": -1,
            "children": [
                {"name": "a", "agent": _template()},
                {"name": "b", "agent": {"systemPrompt": "x"}},
                {"name": "c", "shutdown": {"graceSeconds": 1, "brutalKill": True}, "agent": _template()},
            ],
        }
    }
    with pytest.raises(ValidationError) as caught:
        AgentSupervisor.model_validate(manifest)
    issues = {issue.field: issue.message for issue in field_issues(caught.value)}
    assert set(issues) == {
        "spec.maxRestarts",
        "spec.children[1].agent.model",
        "spec.children[2].shutdown.graceSeconds",
    }
    assert issues["spec.children[2].shutdown.graceSeconds"] == "set exactly one of graceSeconds or brutalKill"
    assert "greater than or equal to 0" in issues["spec.maxRestarts"]
    assert str(field_issues(caught.value)[0]).startswith("spec.")


def test_strict_types_reject_what_the_api_server_rejects() -> None:
    for field, value in [("maxSteps", "5"), ("resume", "yes"), ("systemPrompt", 5), ("maxSteps", 2.0)]:
        with pytest.raises(ValidationError):
            AgentSpec.model_validate({**_template(), field: value})


def test_inline_api_keys_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSpec.model_validate(_template(model={**MODEL, "apiKey": "sk-123"}))
    assert [issue.field for issue in field_issues(caught.value)] == ["model.apiKey"]
