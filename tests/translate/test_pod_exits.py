"""The exit classification table (docs/operator-design.md, "Exit classification")."""

from __future__ import annotations

import json

import pytest

from agent_runtime import exitcodes
from agent_supervisor.supervision import ExitReason
from agent_supervisor.translate import pod_exits
from agent_supervisor.translate.pod_exits import OutcomeKind, classify

EXITED, START_FAILED = OutcomeKind.EXITED, OutcomeKind.START_FAILED
DELETION_DEADLINE = "2026-01-01T00:00:30Z"  # the deletionTimestamp of make_pod(deleting=True)
LATER = pod_exits.timestamp("2026-01-01T00:01:00Z") or 0
"""Well past every pod's deletion deadline and its settling time."""
NORMAL, SHUTDOWN, ABNORMAL = ExitReason.NORMAL, ExitReason.SHUTDOWN, ExitReason.ABNORMAL


def summary(code: int, reason: str, message: str) -> str:
    return json.dumps({"exitCode": code, "reason": reason, "message": message, "revision": "r1"})


def terminated(
    code: int, reason: str = "Error", message: str = "", finished: str | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"exitCode": code, "reason": reason, "message": message}
    if finished is not None:
        body["finishedAt"] = finished
    return body


@pytest.mark.parametrize(
    ("pod_kwargs", "expected"),
    [
        pytest.param(
            {
                "phase": "Succeeded",
                "terminated": terminated(0, "Completed", summary(0, "Completed", "done: 42")),
            },
            (EXITED, NORMAL, "Completed", "done: 42", 0),
            id="exit-0-normal",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(1, "Error", summary(1, "Crashed", "boom"))},
            (EXITED, ABNORMAL, "Crashed", "boom", 1),
            id="runtime-crash",
        ),
        pytest.param(
            {
                "phase": "Failed",
                "terminated": terminated(75, "Error", summary(75, "ModelUnavailable", "503 x6")),
            },
            (EXITED, ABNORMAL, "ModelUnavailable", "503 x6", 75),
            id="model-unavailable-is-its-own-reason",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(4, "Error", summary(4, "ModelRejected", "400 x3"))},
            (EXITED, SHUTDOWN, "ModelRejected", "400 x3", 4),
            id="a-task-rejected-for-good-is-shutdown-not-a-crash",
        ),
        pytest.param(
            {
                "phase": "Failed",
                "terminated": terminated(3, "Error", summary(3, "BudgetExhausted", "maxSteps")),
            },
            (EXITED, SHUTDOWN, "BudgetExhausted", "maxSteps", 3),
            id="a-task-out-of-budget-is-shutdown-not-a-crash",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(42, "Error", "")},
            (EXITED, ABNORMAL, "CrashRequested", "exit code 42", 42),
            id="crash-requested-without-message",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(137, "OOMKilled", "")},
            (EXITED, ABNORMAL, "OOMKilled", "exit code 137 (killed by signal 9)", 137),
            id="oom-killed",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(137, "Error", "Traceback...\nKeyError: x")},
            (EXITED, ABNORMAL, "Error", "Traceback...\nKeyError: x", 137),
            id="killed-with-log-tail-message",
        ),
        pytest.param(
            {"phase": "Failed", "terminated": terminated(9, "", "")},
            (EXITED, ABNORMAL, "Error", "exit code 9", 9),
            id="unknown-code",
        ),
        pytest.param(
            {"phase": "Failed", "status_extra": {"reason": "Evicted", "message": "node low on memory"}},
            (EXITED, ABNORMAL, "Evicted", "node low on memory", None),
            id="evicted",
        ),
        pytest.param(
            {"phase": "Failed", "status_extra": {"reason": "NodeLost", "message": "node went away"}},
            (EXITED, ABNORMAL, "NodeLost", "node went away", None),
            id="node-lost",
        ),
        pytest.param(
            {"phase": "Pending", "waiting": {"reason": "ErrImagePull", "message": "no such image"}},
            (START_FAILED, ABNORMAL, "ErrImagePull", "no such image", None),
            id="image-pull",
        ),
        pytest.param(
            {"phase": "Pending", "waiting": {"reason": "ImagePullBackOff"}},
            (START_FAILED, ABNORMAL, "ImagePullBackOff", "", None),
            id="image-pull-backoff",
        ),
        pytest.param(
            {
                "phase": "Pending",
                "waiting": {"reason": "CreateContainerConfigError", "message": "secret x not found"},
            },
            (START_FAILED, ABNORMAL, "CreateContainerConfigError", "secret x not found", None),
            id="config-error",
        ),
        pytest.param(
            {"phase": "Failed", "waiting": {"reason": "ErrImagePull", "message": "gone"}},
            (START_FAILED, ABNORMAL, "ErrImagePull", "gone", None),
            id="failed-pod-that-never-pulled",
        ),
        pytest.param(
            {"phase": "Running", "deleting": True},
            (EXITED, ABNORMAL, "PodDeleted", "the pod was deleted", None),
            id="deleted-by-someone-else",
        ),
        pytest.param(
            # the deletion is asked for at deletionTimestamp (00:00:30) less the grace period; none here
            {
                "phase": "Succeeded",
                "deleting": True,
                "terminated": terminated(0, "Completed", "", "2026-01-01T00:00:29Z"),
            },
            (EXITED, NORMAL, "Completed", "", 0),
            id="finished-before-the-deletion",
        ),
        pytest.param(
            {
                "phase": "Succeeded",
                "deleting": True,
                "terminated": terminated(0, "Completed", "", "2026-01-01T00:00:30Z"),
            },
            (EXITED, ABNORMAL, "PodDeleted", "the pod was deleted", 0),
            id="drained-after-the-deletion-exit-0",
        ),
        pytest.param(
            {"phase": "Failed", "deleting": True, "terminated": terminated(137, "Error")},
            (EXITED, ABNORMAL, "PodDeleted", "the pod was deleted", 137),
            id="killed-by-the-deletion",
        ),
        pytest.param(
            {
                "phase": "Failed",
                "terminated": terminated(0, "Completed"),
                "status_extra": {"reason": "Evicted"},
            },
            (EXITED, ABNORMAL, "Evicted", "", 0),
            id="evicted-agent-that-drained-with-exit-0",
        ),
    ],
)
def test_classification_table(make_pod, pod_kwargs, expected):
    outcome = classify(make_pod("a", 1, **pod_kwargs), stopping=False, now=LATER)
    assert outcome is not None
    assert (outcome.kind, outcome.reason, outcome.cause, outcome.message, outcome.code) == expected


@pytest.mark.parametrize(
    "pod_kwargs",
    [
        {"phase": "Pending", "waiting": {"reason": "ContainerCreating"}},
        {"phase": "Running"},
        {"phase": "Running", "ready": True},
    ],
)
def test_a_pod_still_going_has_no_outcome(make_pod, pod_kwargs):
    assert classify(make_pod("a", 1, **pod_kwargs), stopping=False, now=LATER) is None


def test_a_missing_pod_is_deleted_unless_it_was_being_stopped():
    gone = classify(None, stopping=False, now=LATER)
    assert gone is not None and (gone.reason, gone.cause) == (ABNORMAL, "PodDeleted")
    stopped = classify(None, stopping=True, now=LATER)
    assert stopped is not None and (stopped.reason, stopped.cause) == (SHUTDOWN, "Shutdown")


@pytest.mark.parametrize("code", [0, 1, 137, exitcodes.EXIT_MODEL_UNAVAILABLE])
def test_any_end_of_a_stopping_pod_is_a_shutdown(make_pod, code):
    outcome = classify(
        make_pod("a", 1, phase="Failed", terminated=terminated(code)), stopping=True, now=LATER
    )
    assert outcome is not None and (outcome.reason, outcome.code) == (SHUTDOWN, code)


def test_a_stopping_pod_that_still_runs_has_not_ended(make_pod):
    assert classify(make_pod("a", 1, deleting=True), stopping=True, now=LATER) is None
    evicted = make_pod("a", 1, phase="Failed", status_extra={"reason": "Evicted"})
    outcome = classify(evicted, stopping=True, now=LATER)
    assert outcome is not None and outcome.reason is SHUTDOWN and outcome.code is None


def test_the_grace_period_dates_the_deletion_request(make_pod):
    pod = make_pod(
        "a",
        1,
        phase="Succeeded",
        deleting=True,
        terminated=terminated(0, "Completed", "", "2026-01-01T00:00:05Z"),
    )
    pod["metadata"]["deletionGracePeriodSeconds"] = 20  # asked for at 00:00:10, after the agent had finished
    outcome = classify(pod, stopping=False, now=LATER)
    assert outcome is not None and outcome.reason is NORMAL
    pod["metadata"]["deletionGracePeriodSeconds"] = 30  # asked for at 00:00:00, before it finished
    outcome = classify(pod, stopping=False, now=LATER)
    assert outcome is not None and (outcome.reason, outcome.cause) == (ABNORMAL, "PodDeleted")


def test_timestamps():
    assert pod_exits.timestamp("1970-01-01T00:01:40Z") == 100
    assert pod_exits.timestamp(None) is None
    assert pod_exits.timestamp("yesterday") is None


def test_long_messages_are_cut(make_pod):
    text = "x" * 5000
    outcome = classify(
        make_pod("a", 1, phase="Failed", terminated=terminated(1, "Error", text)), stopping=False, now=LATER
    )
    assert outcome is not None and len(outcome.message) == pod_exits.MAX_MESSAGE


def test_non_object_json_message_is_kept_as_text(make_pod):
    outcome = classify(
        make_pod("a", 1, phase="Failed", terminated=terminated(2, "Error", "[1, 2]")),
        stopping=False,
        now=LATER,
    )
    assert outcome is not None and outcome.message == "[1, 2]"


def test_detail_round_trip():
    outcome = classify(None, stopping=False, now=LATER)
    assert outcome is not None
    assert pod_exits.split_detail(outcome.detail) == ("PodDeleted", "the pod was deleted")
    assert pod_exits.split_detail(pod_exits.detail("Completed", "")) == ("Completed", "")
    assert pod_exits.split_detail("not found after the operator restarted") == (
        None,
        "not found after the operator restarted",
    )
    assert pod_exits.split_detail("Error: a: b") == ("Error", "a: b")


def test_a_deleted_pod_whose_process_still_runs_has_not_ended_until_it_stops(make_pod):
    """Its exit is final only once nothing of it runs: else the next incarnation would run beside it."""
    draining = make_pod("a", 1, phase="Running", deleting=True)
    deadline = pod_exits.timestamp(DELETION_DEADLINE) or 0
    assert classify(draining, stopping=False, now=deadline - 20) is None
    assert classify(draining, stopping=False, now=deadline + pod_exits.DELETION_SETTLE_SECONDS - 1) is None
    ended = make_pod("a", 1, phase="Failed", deleting=True, terminated=terminated(143, "Error"))
    outcome = classify(ended, stopping=False, now=deadline - 20)
    assert outcome is not None and (outcome.cause, outcome.code) == ("PodDeleted", 143)


def test_a_deleted_pod_is_taken_for_ended_once_its_pod_supervisor_reported_the_exit(make_pod):
    draining = make_pod("a", 1, phase="Running", deleting=True)
    deadline = pod_exits.timestamp(DELETION_DEADLINE) or 0
    outcome = classify(draining, stopping=False, now=deadline - 20, process_ended=True)
    assert outcome is not None and (outcome.reason, outcome.cause) == (ABNORMAL, "PodDeleted")


def test_a_deleted_pod_never_reported_ended_is_taken_for_ended_once_it_settles(make_pod):
    """A kubelet that never reports (a lost node) does not hold the restart for ever."""
    stuck = make_pod("a", 1, phase="Running", deleting=True)
    settles = pod_exits.deletion_settles_at(stuck)
    assert settles == (pod_exits.timestamp(DELETION_DEADLINE) or 0) + pod_exits.DELETION_SETTLE_SECONDS
    assert classify(stuck, stopping=False, now=settles - 1) is None
    outcome = classify(stuck, stopping=False, now=settles)
    assert outcome is not None and outcome.cause == "PodDeleted"


def test_a_deleted_pod_that_never_ran_has_ended_at_once(make_pod):
    pending = make_pod("a", 1, phase="Pending", deleting=True, waiting={"reason": "ContainerCreating"})
    deadline = pod_exits.timestamp(DELETION_DEADLINE) or 0
    outcome = classify(pending, stopping=False, now=deadline - 20)
    assert outcome is not None and outcome.cause == "PodDeleted"
