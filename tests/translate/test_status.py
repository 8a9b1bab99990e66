"""Status and conditions: transitions, kept lastTransitionTime, phase, summaries, and the merge patch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor import api
from agent_supervisor.supervision import (
    ChildExited,
    ChildReady,
    ChildStartFailed,
    Event,
    ExitReason,
    ExitRecord,
    SpecChanged,
    Start,
    Stop,
    SupervisorState,
    decide,
)
from agent_supervisor.translate import labels, projection
from agent_supervisor.translate.observe import observe
from agent_supervisor.translate.status import (
    config_status,
    exit_info,
    invalid_status,
    standalone_agent_status,
    status_patch,
    supervised_agent_status,
    supervisor_status,
)
from agent_supervisor.translate.stored_supervision import CorruptSupervisionError, Supervision

T0 = 1_800_000_000
TEMPLATE = {"model": {"endpoint": "http://models.local:8000/v1", "name": "scripted"}, "systemPrompt": "Hi."}


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def summary(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


class Story:
    """Drives a supervisor through the core and renders its status after each step, like the reconciler."""

    def __init__(self, sup: api.AgentSupervisor) -> None:
        self.sup = sup
        self.spec = projection.supervisor_spec(sup)
        self.state = SupervisorState.initial(self.spec)
        self.status: dict[str, Any] | None = None

    def step(
        self, event: Event | None, now: int, supervisors: Iterable[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        if event is not None:
            self.state = decide(self.spec, self.state, event, now).state
        self.status = supervisor_status(
            self.sup, self.spec, Supervision(self.state), observe([], supervisors), now, self.status
        )
        api.SupervisorStatus.model_validate(self.status)  # what the CRD's schema accepts
        return self.status


@pytest.fixture
def story(make_supervisor):
    return Story(make_supervisor("team", maxRestarts=1, periodSeconds=10))


def test_a_new_supervisor_is_pending_then_starting_then_running(story):
    status = story.step(None, T0)
    assert status["phase"] == "Pending"
    status = story.step(Start(), T0)
    assert status["phase"] == "Starting"
    assert summary(status)["Progressing"] == ("True", "Starting")
    assert status["readyChildren"] == "0/2"
    status = story.step(ChildReady("a", 1), T0 + 1)
    assert status["readyChildren"] == "1/2" and status["phase"] == "Starting"
    status = story.step(ChildReady("b", 2), T0 + 2)
    assert status["phase"] == "Running"
    assert summary(status) == {
        "Ready": ("True", "ChildrenReady"),
        "Progressing": ("False", "Stable"),
        "RestartBudgetExhausted": ("False", "WithinBudget"),
        "Terminated": ("False", "Running"),
        "Invalid": ("False", "Valid"),
    }
    assert status["observedGeneration"] == 1
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])
    assert [(c["name"], c["kind"], c["phase"], c["ready"]) for c in status["children"]] == [
        ("a", "Agent", "Running", True),
        ("b", "Agent", "Running", True),
    ]
    assert Supervision.read(status, story.spec).state == story.state


def test_last_transition_time_moves_only_when_a_condition_flips(story):
    story.step(Start(), T0)
    started = condition(story.step(ChildReady("a", 1), T0 + 5), "Ready")["lastTransitionTime"]
    ready = condition(story.step(ChildReady("b", 2), T0 + 9), "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] != started
    later = story.step(None, T0 + 100)
    assert condition(later, "Ready")["lastTransitionTime"] == ready["lastTransitionTime"]
    assert (
        condition(later, "Invalid")["lastTransitionTime"]
        == condition(story.step(None, T0 + 200), "Invalid")["lastTransitionTime"]
    )


def test_a_restart_shows_in_the_window_the_budget_and_the_child(story):
    story.step(Start(), T0)
    story.step(ChildReady("a", 1), T0)
    story.step(ChildReady("b", 2), T0)
    status = story.step(ChildExited("a", 1, ExitReason.ABNORMAL, 42, "CrashRequested: on purpose"), T0 + 3)
    assert status["phase"] == "Restarting"
    assert summary(status)["Progressing"] == ("True", "Restarting")
    assert status["restartsInWindow"] == "1/1"
    assert status["restartHistory"] == [T0 + 3]
    assert status["restartBudgetLeft"] == 0
    assert status["totalRestarts"] == 1
    child_a = status["children"][0]
    assert child_a["phase"] == "Restarting" and child_a["restarts"] == 1
    assert child_a["lastExit"] == {
        "code": 42,
        "classification": "abnormal",
        "reason": "CrashRequested",
        "message": "on purpose",
        "time": "2027-01-15T08:00:03Z",
    }
    status = story.step(ChildReady("a", 3), T0 + 4)
    assert status["phase"] == "Running"
    # the window slides: the restart no longer counts 11 s later
    status = story.step(None, T0 + 14)
    assert (status["restartsInWindow"], status["restartHistory"], status["restartBudgetLeft"]) == (
        "0/1",
        [],
        1,
    )
    assert status["totalRestarts"] == 1


def test_exceeding_the_budget_fails_the_supervisor(story):
    story.step(Start(), T0)
    story.step(ChildReady("a", 1), T0)
    story.step(ChildReady("b", 2), T0)
    story.step(ChildExited("a", 1, ExitReason.ABNORMAL), T0 + 1)
    story.step(ChildReady("a", 3), T0 + 1)
    status = story.step(ChildExited("a", 3, ExitReason.ABNORMAL), T0 + 2)
    assert status["phase"] == "Failed"
    assert summary(status)["RestartBudgetExhausted"] == ("True", "IntensityExceeded")
    assert summary(status)["Terminated"] == ("True", "Failed")
    assert "otp.agents.dev/restart" in condition(status, "RestartBudgetExhausted")["message"]
    stop_time = status["lastExit"]["time"]
    assert status["lastExit"]["reason"] == "IntensityExceeded"
    status = story.step(ChildExited("b", 2, ExitReason.SHUTDOWN), T0 + 3)
    assert story.state.lifecycle.value == "terminated"
    assert status["phase"] == "Failed"
    assert status["lastExit"]["time"] == stop_time  # the exit is not re-dated on later reconciles
    assert summary(status)["Ready"] == ("False", "Terminated")
    # a manual reset: running again, the last exit kept for the record
    story.step(Start(), T0 + 50)
    story.step(ChildReady("a", 4), T0 + 50)
    status = story.step(ChildReady("b", 5), T0 + 50)
    assert status["phase"] == "Running" and status["lastExit"]["reason"] == "IntensityExceeded"
    assert summary(status)["RestartBudgetExhausted"] == ("False", "WithinBudget")


def test_a_deleted_supervisor_is_stopped(story):
    story.step(Start(), T0)
    story.step(ChildReady("a", 1), T0)
    story.step(ChildReady("b", 2), T0)
    status = story.step(Stop(), T0 + 1)
    assert status["phase"] == "Stopped"
    assert condition(status, "Terminated")["message"].startswith("stopping")
    assert [c["phase"] for c in status["children"]] == ["Running", "Stopped"]


def test_nested_children_show_their_own_phase_for_the_current_incarnation(make_supervisor, bodies):
    sub = {"name": "sub", "supervisor": {"children": [{"name": "x", "agent": bodies.template()}]}}
    story = Story(make_supervisor("team", children=[sub]))
    story.step(Start(), T0)
    report: dict[str, Any] = {
        "metadata": {"name": "team-sub", "labels": {labels.SUPERVISOR: "team", labels.CHILD: "sub"}},
        "status": {
            "phase": "Restarting",
            "supervision": {"incarnation": 1, "state": {"lifecycle": "running"}},
        },
    }
    status = story.step(None, T0, supervisors=[report])
    assert (
        status["children"][0]["phase"] == "Restarting" and status["children"][0]["kind"] == "AgentSupervisor"
    )
    report["status"]["supervision"]["incarnation"] = 0
    assert story.step(None, T0, supervisors=[report])["children"][0]["phase"] == "Starting"


def test_a_supervisor_status_keeps_fields_it_does_not_own(story):
    story.status = {
        "conditions": [
            {
                "type": "Custom",
                "status": "True",
                "reason": "Mine",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }
    status = story.step(Start(), T0)
    assert summary(status)["Custom"] == ("True", "Mine")


# --- Agents ------------------------------------------------------------------------------------------------


def standalone(
    agent: api.Agent, events: list[Event], now: int = T0, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = projection.standalone_spec(agent)
    state = SupervisorState.initial(spec)
    for event in events:
        state = decide(spec, state, event, now).state
    status = standalone_agent_status(agent, spec, Supervision(state, reset="r"), now, previous)
    api.AgentStatus.model_validate(status)
    return status


def test_standalone_agent_running(make_agent):
    status = standalone(make_agent("solo"), [Start(), ChildReady("solo", 1)])
    assert status["phase"] == "Running"
    assert (status["podName"], status["attempt"]) == ("solo-1", 1)
    assert summary(status)["Ready"] == ("True", "AgentReady")
    assert status["supervision"]["reset"] == "r"
    assert "supervisor" not in status


def test_the_supervision_and_the_configuration_writers_keep_each_others_fields(make_agent):
    agent = make_agent("solo")
    configured = config_status(1, "rev1", "rev1", T0)
    status = standalone(agent, [Start(), ChildReady("solo", 1)], previous=configured)
    assert summary(status)["ConfigApplied"] == ("True", "Applied") and status["configRevision"] == "rev1"
    again = config_status(1, "rev2", "rev1", T0 + 1, status)
    assert summary(again)["Ready"] == ("True", "AgentReady") and again["podName"] == "solo-1"
    assert again["phase"] == "Running"  # the phase is recomputed from every writer's conditions


def test_standalone_task_agent_that_finished_succeeded(make_agent):
    agent = make_agent("job", task="t")
    status = standalone(
        agent, [Start(), ChildReady("job", 1), ChildExited("job", 1, ExitReason.NORMAL, 0, "Completed: 42")]
    )
    assert status["phase"] == "Succeeded"
    assert summary(status)["Terminated"] == ("True", "Completed")
    assert status["lastExit"]["reason"] == "Completed" and status["lastExit"]["message"] == "42"
    assert "podName" not in status and status["attempt"] == 1


def test_standalone_temporary_agent_that_crashed_failed(make_agent):
    agent = make_agent("once", restart="temporary")
    status = standalone(
        agent, [Start(), ChildReady("once", 1), ChildExited("once", 1, ExitReason.ABNORMAL, 1)]
    )
    assert status["phase"] == "Failed"
    assert summary(status)["Terminated"] == ("True", "Failed")
    assert status["lastExit"]["reason"] == "Error"


def test_standalone_agent_over_budget_failed(make_agent):
    agent = make_agent("flaky", maxRestarts=0)
    status = standalone(
        agent, [Start(), ChildReady("flaky", 1), ChildExited("flaky", 1, ExitReason.ABNORMAL, 1)]
    )
    assert status["phase"] == "Failed"
    assert summary(status)["RestartBudgetExhausted"] == ("True", "IntensityExceeded")
    assert "the agent stopped" in condition(status, "RestartBudgetExhausted")["message"]


def test_supervised_agent_status_written_by_the_parent(make_supervisor, make_agent):
    sup = make_supervisor("team", strategy="one_for_all")
    spec = projection.supervisor_spec(sup)
    state = SupervisorState.initial(spec)
    agent_a = make_agent("team-a", labels_={labels.SUPERVISOR: "team", labels.CHILD: "a"})
    agent_b = make_agent("team-b", labels_={labels.SUPERVISOR: "team", labels.CHILD: "b"})
    state = decide(spec, state, Start(), T0).state
    status_b = supervised_agent_status(agent_b, "team", state, T0)
    assert status_b["phase"] == "Starting" and status_b["supervisor"] == "team"
    assert summary(status_b)["Progressing"] == ("True", "Starting")
    for event in (ChildReady("a", 1), ChildReady("b", 2), ChildExited("a", 1, ExitReason.ABNORMAL, 1)):
        state = decide(spec, state, event, T0).state
    status_a = supervised_agent_status(agent_a, "team", state, T0)
    status_b = supervised_agent_status(agent_b, "team", state, T0, status_b)
    api.AgentStatus.model_validate(status_a)
    assert status_a["phase"] == "Restarting" and status_a["totalRestarts"] == 1
    assert status_a["lastExit"]["code"] == 1
    # b is being stopped by the group restart and will be started again: restarting, not terminated
    assert status_b["phase"] == "Restarting" and status_b["podName"] == "team-b-2"
    with pytest.raises(KeyError):
        supervised_agent_status(make_agent("x", labels_={labels.CHILD: "zz"}), "team", state, T0)


def test_supervised_agent_that_was_stopped(make_supervisor, make_agent):
    sup = make_supervisor("team")
    spec = projection.supervisor_spec(sup)
    state = SupervisorState.initial(spec)
    for event in (
        Start(),
        ChildReady("a", 1),
        ChildReady("b", 2),
        Stop(),
        ChildExited("b", 2, ExitReason.SHUTDOWN),
    ):
        state = decide(spec, state, event, T0).state
    agent_b = make_agent("team-b", labels_={labels.SUPERVISOR: "team", labels.CHILD: "b"})
    agent_a = make_agent("team-a", labels_={labels.SUPERVISOR: "team", labels.CHILD: "a"})
    assert supervised_agent_status(agent_b, "team", state, T0)["phase"] == "Stopped"
    assert (
        supervised_agent_status(agent_a, "team", state, T0)["phase"] == "Stopped"
    )  # being stopped, for good


def test_supervised_agent_added_by_a_spec_change_that_failed_to_start(make_supervisor, make_agent):
    before = projection.supervisor_spec(make_supervisor("team"))
    state = SupervisorState.initial(before)
    for event in (Start(), ChildReady("a", 1), ChildReady("b", 2)):
        state = decide(before, state, event, T0).state
    grown = projection.supervisor_spec(
        make_supervisor("team", [{"name": n, "agent": {**TEMPLATE}} for n in ("a", "b", "c")])
    )
    state = decide(grown, state, SpecChanged(), T0).state
    state = decide(grown, state, ChildStartFailed("c", 3, "ErrImagePull: no such image"), T0 + 1).state
    agent_c = make_agent("team-c", labels_={labels.SUPERVISOR: "team", labels.CHILD: "c"})
    status_c = supervised_agent_status(agent_c, "team", state, T0 + 1)
    api.AgentStatus.model_validate(status_c)
    assert status_c["phase"] == "Failed"
    assert summary(status_c)["Terminated"] == ("True", "Failed")
    assert "spec" in condition(status_c, "Terminated")["message"]
    assert status_c["lastExit"]["reason"] == "ErrImagePull"


def test_config_applied_follows_the_reported_revision():
    pending = config_status(3, "r2", "r1", T0)
    assert summary(pending)["ConfigApplied"] == ("False", "Pending")
    assert (pending["configRevision"], pending["appliedConfigRevision"]) == ("r2", "r1")
    assert summary(config_status(3, "r2", None, T0))["ConfigApplied"] == ("False", "NotReported")
    applied = config_status(3, "r2", "r2", T0 + 1, pending)
    assert summary(applied)["ConfigApplied"] == ("True", "Applied")
    assert (
        condition(applied, "ConfigApplied")["lastTransitionTime"]
        != condition(pending, "ConfigApplied")["lastTransitionTime"]
    )
    api.AgentStatus.model_validate(applied)


def test_invalid_names_each_field_and_fails_the_phase():
    problems = [
        api.FieldIssue("spec.tools[0].name", "unknown tool 'x'"),
        api.FieldIssue("metadata.name", "too long"),
    ]
    status = invalid_status(4, problems, T0, {"phase": "Running", "totalRestarts": 2})
    assert status["phase"] == "Failed" and status["observedGeneration"] == 4 and status["totalRestarts"] == 2
    invalid = condition(status, "Invalid")
    assert invalid["status"] == "True" and invalid["reason"] == "InvalidSpec"
    assert invalid["message"] == "spec.tools[0].name: unknown tool 'x'; metadata.name: too long"
    api.SupervisorStatus.model_validate(status)


def test_unparsable_previous_conditions_are_dropped():
    status = invalid_status(1, [], T0, {"conditions": [{"type": "Ready"}, "junk"]})
    assert [c["type"] for c in status["conditions"]] == ["Invalid"]


def test_status_patch_holds_only_changes_and_removals():
    previous = {"phase": "Running", "lastExit": {"reason": "Error"}, "totalRestarts": 1}
    desired = {"phase": "Running", "totalRestarts": 2, "attempt": 3}
    assert status_patch(previous, desired) == {"totalRestarts": 2, "attempt": 3, "lastExit": None}
    assert status_patch(desired, desired) == {}
    assert status_patch(None, desired) == desired


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (ExitRecord(attempt=1, reason=ExitReason.NORMAL, at=T0), "Completed"),
        (ExitRecord(attempt=1, reason=ExitReason.SHUTDOWN, at=T0), "Shutdown"),
        (
            ExitRecord(
                attempt=1, reason=ExitReason.ABNORMAL, at=T0, detail="not found after the operator restarted"
            ),
            "Error",
        ),
        (ExitRecord(attempt=1, reason=ExitReason.ABNORMAL, at=T0, start_failed=True), "StartFailed"),
        (
            ExitRecord(attempt=1, reason=ExitReason.ABNORMAL, at=T0, detail="OOMKilled: exit code 137"),
            "OOMKilled",
        ),
    ],
)
def test_exit_info_reasons(record, reason):
    assert exit_info(record).reason == reason


def test_supervision_round_trip_and_corruption(make_supervisor):
    spec = projection.supervisor_spec(make_supervisor())
    fresh = Supervision.read(None, spec)
    assert fresh.state == SupervisorState.initial(spec) and fresh.incarnation is None
    record = Supervision(decide(spec, fresh.state, Start(), T0).state, incarnation=3, reset="a")
    assert Supervision.read({"supervision": record.to_json()}, spec) == record
    with pytest.raises(CorruptSupervisionError, match=r"status\.supervision\.state"):
        Supervision.read({"supervision": {"lifecycle": "running"}}, spec)
    with pytest.raises(CorruptSupervisionError, match="cannot be read"):
        Supervision.read({"supervision": {"state": {"lifecycle": "exploded"}}}, spec)


def test_group_restart_and_spec_change_progress(make_supervisor, bodies):
    sup = make_supervisor("team", strategy="one_for_all")
    story = Story(sup)
    for event in (Start(), ChildReady("a", 1), ChildReady("b", 2)):
        story.step(event, T0)
    status = story.step(ChildExited("b", 2, ExitReason.ABNORMAL, 1), T0 + 1)
    assert summary(status)["Progressing"] == ("True", "Restarting")
    assert "group restart after child b" in condition(status, "Progressing")["message"]
    assert [c["phase"] for c in status["children"]] == ["Restarting", "Restarting"]
    restart: list[Event] = [ChildExited("a", 1, ExitReason.SHUTDOWN), ChildReady("a", 3), ChildReady("b", 4)]
    for step in restart:
        status = story.step(step, T0 + 2)
    assert status["phase"] == "Running"
    # a cold edit of a's template: the supervisor replaces it, one child at a time, without counting it
    edited = make_supervisor(
        "team",
        children=[
            {"name": "a", "agent": bodies.template(image="v2")},
            {"name": "b", "agent": bodies.template()},
        ],
    )
    story.sup, story.spec = edited, projection.supervisor_spec(edited)
    status = story.step(None, T0 + 3)
    status = story.step(ChildReady("a", 3), T0 + 3)  # a stale event changes nothing
    assert summary(status)["Progressing"] == ("True", "Updating")
    assert status["phase"] == "Running"  # still serving while a pod is replaced
    assert status["totalRestarts"] == 1


def test_a_transient_child_that_finished_is_shown_succeeded(make_supervisor, bodies):
    story = Story(make_supervisor("team", children=[{"name": "job", "agent": bodies.template(task="t")}]))
    for event in (Start(), ChildReady("job", 1)):
        story.step(event, T0)
    status = story.step(ChildExited("job", 1, ExitReason.NORMAL, 0, "Completed: done"), T0 + 1)
    assert status["children"][0]["phase"] == "Succeeded"
    assert status["phase"] == "Running" and status["readyChildren"] == "0/1"


def test_config_status_records_the_generation_the_agent_reconcile_has_seen() -> None:
    # A supervised Agent gets no other observedGeneration writer; without it GitOps health would lag forever.
    before = config_status(1, "r1", "r1", T0)
    after = config_status(2, "r2", "r1", T0 + 1, before)
    assert before["observedGeneration"] == 1
    assert after["observedGeneration"] == 2


def test_status_patch_removes_keys_that_left_a_nested_object():
    # A merge patch merges nested objects: a finished plan must be sent as null or the stored one stays.
    previous = {"supervision": {"state": {"lifecycle": "running", "plan": {"purpose": "start_up"}}}}
    desired = {"supervision": {"state": {"lifecycle": "running"}}}
    assert status_patch(previous, desired) == {"supervision": {"state": {"plan": None}}}


def _apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _apply_merge_patch(result.get(key), value)
    return result


def _without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nones(item) for key, item in value.items() if item is not None}
    return value


_json_leaves = st.none() | st.booleans() | st.integers(0, 3) | st.sampled_from(["x", "y"])
_json_objects = st.recursive(
    st.dictionaries(st.sampled_from("abcd"), _json_leaves, max_size=4),
    lambda children: st.dictionaries(
        st.sampled_from("abcd"), _json_leaves | children | st.lists(_json_leaves, max_size=2), max_size=4
    ),
    max_leaves=8,
)


@given(previous=_json_objects, desired=_json_objects)
def test_status_patch_applied_by_the_server_gives_the_desired_status(
    previous: dict[str, Any], desired: dict[str, Any]
) -> None:
    stored = _without_nones(previous)
    patch = status_patch(stored, desired)
    assert _apply_merge_patch(stored, patch) == _without_nones(desired)
    if _without_nones(desired) == stored:
        assert patch == {}
