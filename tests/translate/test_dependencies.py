"""Issue 13 item 4: an outage the runtime reports becomes conditions, never a restart."""

from __future__ import annotations

from agent_supervisor import api
from agent_supervisor.translate import conditions
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
