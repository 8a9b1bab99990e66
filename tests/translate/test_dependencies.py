"""Issue 13 item 4: an outage the runtime reports becomes conditions, never a restart."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor import api
from agent_supervisor.translate import conditions, dependencies, labels, runtime_config
from agent_supervisor.translate import status as agent_status
from agent_supervisor.translate.dependencies import degraded_judgement, dependency_judgement

DOWN = {
    "dependencies": [
        {"name": "model", "available": False, "host": "models.local:8000", "reason": "HTTP 503", "waits": 3}
    ]
}


def stamped(judgement: conditions.Judgement, generation: int = 4) -> list[api.Condition]:
    return conditions.apply([], [judgement], generation, now=1000)


def test_an_unavailable_model_is_named_with_its_host_and_observed_generation() -> None:
    [condition] = stamped(dependency_judgement(DOWN))

    assert (condition.type, condition.status, condition.reason) == (
        "DependencyAvailable",
        api.ConditionStatus.FALSE,
        "ModelUnavailable",
    )
    assert "models.local:8000" in condition.message and "HTTP 503" in condition.message
    assert condition.observed_generation == 4


def test_nothing_reported_or_everything_answering_is_available() -> None:
    for status in (None, {}, {"dependencies": []}, {"dependencies": ["junk", {"name": 5}]}):
        judgement = dependency_judgement(status)
        assert (judgement.status, judgement.reason) == (api.ConditionStatus.TRUE, "Available")


def test_the_supervisor_is_degraded_while_any_child_waits_on_a_dependency() -> None:
    waiting = stamped(dependency_judgement(DOWN))
    fine = stamped(dependency_judgement({"dependencies": []}))

    judgement = degraded_judgement({"writer": waiting, "reader": fine, "new": []})

    assert (judgement.status, judgement.reason) == (api.ConditionStatus.TRUE, "DependencyUnavailable")
    assert "writer" in judgement.message and "reader" not in judgement.message
    assert degraded_judgement({"reader": fine, "new": []}).status == api.ConditionStatus.FALSE


def ready_pod(agent: str = "writer", ip: str = "10.0.0.7", ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{agent}-1", "uid": "u1", "labels": {labels.AGENT: agent}},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]},
    }


def test_only_serving_agent_pods_are_followed() -> None:
    assert dependencies.followed_agent(ready_pod()) == "writer"
    assert dependencies.followed_agent(ready_pod(ready="False")) is None
    assert dependencies.followed_agent(ready_pod(ip="")) is None
    deleting = ready_pod()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert dependencies.followed_agent(deleting) is None
    worker = ready_pod()
    worker["metadata"]["labels"] = {labels.CHILD: "tools"}
    assert dependencies.followed_agent(worker) is None


def test_only_the_dependencies_of_a_runtime_status_are_kept() -> None:
    body = {"currentTask": {"prompt": "secret plans"}, **DOWN}
    body["dependencies"][0]["extra"] = "x"

    kept = dependencies.kept_report(body)

    assert set(kept) == {"dependencies"}
    assert "extra" not in kept["dependencies"][0]
    assert dependency_judgement(kept).reason == "ModelUnavailable"


def test_an_unread_status_of_a_serving_pod_keeps_the_stored_verdict() -> None:
    assert dependencies.agent_dependency(None, serving=True) is None
    gone = dependencies.agent_dependency(None, serving=False)
    assert gone is not None and gone.status == api.ConditionStatus.TRUE
    waiting = dependencies.agent_dependency(DOWN, serving=True)
    assert waiting is not None and waiting.status == api.ConditionStatus.FALSE


def test_the_supervisor_sees_a_fresher_verdict_than_its_index() -> None:
    stored = conditions.dump(stamped(dependency_judgement({"dependencies": []})))

    fresh = dependencies.with_judgement(stored, dependency_judgement(DOWN))

    assert degraded_judgement({"writer": fresh}).status == api.ConditionStatus.TRUE
    assert degraded_judgement({"writer": dependencies.with_judgement(stored, None)}).status == (
        api.ConditionStatus.FALSE
    )


def test_events_are_posted_on_transitions_only() -> None:
    up = conditions.dump(stamped(dependency_judgement({"dependencies": []})))
    down = conditions.dump(stamped(dependency_judgement(DOWN)))

    unavailable = dependencies.transition_notice(up, down)
    assert unavailable is not None
    assert (unavailable.type, unavailable.reason) == ("Warning", "DependencyUnavailable")
    assert "models.local:8000" in unavailable.message
    back = dependencies.transition_notice(down, up)
    assert back is not None and (back.type, back.reason) == ("Normal", "DependencyAvailable")
    assert dependencies.transition_notice(down, down) is None
    assert dependencies.transition_notice([], up) is None, "an agent that never waited is no news"
    assert dependencies.transition_notice([], down) is not None


def test_the_agent_status_carries_the_condition_beside_the_config() -> None:
    desired = agent_status.config_status(3, "r1", "r1", 1000, None, dependency_judgement(DOWN))

    found = api.find_condition(
        conditions.parse_conditions(desired["conditions"]), api.ConditionType.DEPENDENCY_AVAILABLE
    )
    assert found is not None and found.status == api.ConditionStatus.FALSE
    assert found.observed_generation == 3 and found.last_transition_time is not None
    assert desired["phase"] != "Failed", "an outage is not a failure"


def test_small_retries_reach_the_runtime_config(make_agent) -> None:
    agent = make_agent(
        model={
            "endpoint": "http://models:8000/v1",
            "name": "m",
            "retry": {"maxAttempts": 2, "maxBackoffSeconds": 0.5, "maxRetryAfterSeconds": 1},
        }
    )

    rendered = runtime_config.render(agent, runtime_config.RenderContext(namespace="default"))

    retry = rendered.document["model"]["retry"]
    assert (retry["maxAttempts"], retry["maxBackoffSeconds"], retry["maxRetryAfterSeconds"]) == (2, 0.5, 1)


def test_an_unavailable_mcp_server_is_named_with_its_own_reason() -> None:
    down = {
        "dependencies": [
            {"name": "mcp:tools", "available": False, "host": "team-tools:8000", "reason": "HTTP 503"},
            DOWN["dependencies"][0],
        ]
    }

    judgement = dependency_judgement(down)

    assert (judgement.status, judgement.reason) == (api.ConditionStatus.FALSE, "McpServerUnavailable")
    assert judgement.message.startswith("mcp:tools endpoint team-tools:8000 unavailable past its retries")
    assert "HTTP 503" in judgement.message and judgement.message.endswith("also unavailable: model")


def test_any_name_the_runtime_reports_makes_a_valid_condition_reason() -> None:
    reason_format = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")  # metav1.Condition's
    for name in ("vector-store", "db", "9lives", "a.b/c", "-"):
        reason = dependency_judgement({"dependencies": [{"name": name, "available": False}]}).reason
        assert reason_format.match(reason), reason
    assert dependency_judgement({"dependencies": [{"name": "vector-store", "available": False}]}).reason == (
        "VectorStoreUnavailable"
    )


def degraded(status: api.ConditionStatus) -> list[api.Condition]:
    reason = "DependencyUnavailable" if status == api.ConditionStatus.TRUE else "AllAvailable"
    return stamped(conditions.Judgement(api.ConditionType.DEGRADED, status, reason, "inner: job"))


def test_a_degraded_child_supervisor_makes_its_parent_degraded_and_is_named() -> None:
    fine_agent = stamped(dependency_judgement({"dependencies": []}))

    judgement = degraded_judgement(
        {"reader": fine_agent}, {"inner": degraded(api.ConditionStatus.TRUE), "calm": degraded(F)}
    )

    assert (judgement.status, judgement.reason) == (api.ConditionStatus.TRUE, "DependencyUnavailable")
    assert "inner (a degraded child supervisor)" in judgement.message
    assert "calm" not in judgement.message and "reader" not in judgement.message
    quiet = degraded_judgement({"reader": fine_agent}, {"calm": degraded(F), "new": []})
    assert (quiet.status, quiet.reason) == (F, "AllAvailable")


F = api.ConditionStatus.FALSE
STATUSES = st.sampled_from([api.ConditionStatus.TRUE, api.ConditionStatus.FALSE, None])


@given(
    agents=st.dictionaries(st.from_regex(r"a[0-9]{1,2}", fullmatch=True), STATUSES, max_size=4),
    supervisors=st.dictionaries(st.from_regex(r"s[0-9]{1,2}", fullmatch=True), STATUSES, max_size=4),
)
def test_degraded_is_any_waiting_agent_or_degraded_child_supervisor_and_names_each(
    agents: dict[str, api.ConditionStatus | None], supervisors: dict[str, api.ConditionStatus | None]
) -> None:
    def agent_conditions(status: api.ConditionStatus | None) -> list[api.Condition]:
        if status is None:
            return []
        down = DOWN if status == F else {"dependencies": []}
        return stamped(dependency_judgement(down))

    judgement = degraded_judgement(
        {name: agent_conditions(status) for name, status in agents.items()},
        {name: [] if status is None else degraded(status) for name, status in supervisors.items()},
    )

    waiting = [name for name, status in agents.items() if status == F]
    nested = [name for name, status in supervisors.items() if status == api.ConditionStatus.TRUE]
    assert (judgement.status == api.ConditionStatus.TRUE) == bool(waiting or nested)
    if len(waiting) + len(nested) <= dependencies.MAX_NAMED:
        for name in waiting + nested:
            assert name in judgement.message


def raw(*judgements: conditions.Judgement) -> list[dict[str, Any]]:
    return [c.model_dump(by_alias=True, mode="json") for c in conditions.apply([], list(judgements), 1, 1000)]


def test_an_event_marks_each_change_of_degraded_and_only_a_change() -> None:
    on = conditions.Judgement(
        api.ConditionType.DEGRADED, api.ConditionStatus.TRUE, "DependencyUnavailable", "x"
    )
    off = conditions.Judgement(api.ConditionType.DEGRADED, F, "AllAvailable")

    went = dependencies.degraded_notice(raw(off), raw(on))
    assert went is not None and (went.type, went.reason, went.message) == ("Warning", "Degraded", "x")
    back = dependencies.degraded_notice(raw(on), raw(off))
    assert back is not None and (back.type, back.reason) == ("Normal", "AllAvailable")
    assert dependencies.degraded_notice(raw(on), raw(on)) is None
    assert dependencies.degraded_notice(None, raw(off)) is None  # never degraded: nothing to tell
    assert dependencies.degraded_notice(None, raw(on)) is not None
