"""How an agent's pod ended, in OTP's terms (docs/operator-design.md, "Exit classification").

`classify(pod, stopping)` looks at one incarnation's pod and says whether it has ended and how: an exit
(normal / shutdown / abnormal, with the exit code, a CamelCase cause and the agent's own message) or a failed
start (image pull errors, a container that cannot be configured). None means it is still going.

The cause travels inside the core's free-text `detail` as "<Cause>: <message>" (`detail`/`split_detail`), so
the core stays ignorant of Kubernetes reasons while status can still show them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from agent_runtime import exitcodes
from agent_supervisor.supervision import ExitReason

MAX_MESSAGE: Final = 1024
"""Messages are kept in status (and the core's state), so long ones are cut."""

START_FAILURES: Final = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Waiting reasons of a container that will not start without a change to its spec or its inputs."""

POD_DELETED: Final = "PodDeleted"
SHUTDOWN: Final = "Shutdown"
START_TIMEOUT: Final = "StartTimeout"

_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*")
_CAUSE = re.compile(r"^([A-Z][A-Za-z0-9]*)(?:: ?(.*))?$", re.DOTALL)


class OutcomeKind(StrEnum):
    EXITED = "exited"
    START_FAILED = "start_failed"


@dataclass(frozen=True, slots=True)
class PodOutcome:
    """How an incarnation ended."""

    kind: OutcomeKind
    reason: ExitReason
    cause: str
    """CamelCase: Completed, Error, OOMKilled, Evicted, PodDeleted, ModelUnavailable, CrashRequested, ..."""
    message: str = ""
    code: int | None = None

    @property
    def detail(self) -> str:
        """The core's `detail` of this outcome: the cause first, so status can show it."""
        return detail(self.cause, self.message)


def detail(cause: str, message: str) -> str:
    return f"{cause}: {message}" if message else cause


def split_detail(text: str) -> tuple[str | None, str]:
    """The cause and message in a core `detail`; no cause when the text does not start with one."""
    found = _CAUSE.match(text)
    if found is None:
        return None, text
    return found.group(1), found.group(2) or ""


def classify(
    pod: Mapping[str, Any] | None,
    stopping: bool,
    *,
    now: int,
    runtime: bool = True,
    process_ended: bool = False,
) -> PodOutcome | None:
    """Whether and how the incarnation whose pod this is has ended, at `now`.

    `stopping`: the operator asked this incarnation to stop, so however it ends it is a shutdown; it has ended
    once its container terminated or the pod is gone. `pod` None: the pod no longer exists. `runtime`: the
    container is the agent runtime, whose exit codes and JSON termination message have meanings of their
    own; a worker's container is any program, its code only a number. `process_ended`: the pod's own
    supervisor reported the incarnation's exit, though its container still runs.
    """
    if pod is None:
        return pod_gone(stopping)
    terminated = _terminated(pod)
    if stopping:
        if terminated is None and not _failed(pod):
            return None
        code = None if terminated is None else _int(terminated.get("exitCode"))
        return PodOutcome(
            OutcomeKind.EXITED, ExitReason.SHUTDOWN, SHUTDOWN, "stopped by its supervisor", code
        )
    deletion = _deletion_requested_at(pod)
    if deletion is not None and not _ended_before(terminated, deletion):
        if terminated is None and not process_ended and deleted_pod_may_run(pod, now):
            # Its process drains (or is being killed): the exit is not final until it is gone, or the next
            # incarnation would run beside it.
            return None
        # Someone else deleted the pod. It may drain and exit 0, but that is not the agent finishing: it is an
        # exit nobody in the tree asked for.
        return deleted_pod_outcome(None if terminated is None else _int(terminated.get("exitCode")))
    if _failed(pod) and _status(pod).get("reason"):
        return _from_failed_pod(pod, terminated)  # evicted or node lost: even an exit 0 was forced
    if terminated is not None:
        return _from_terminated(pod, terminated, runtime)
    if _failed(pod):
        return _from_failed_pod(pod, terminated)
    return _from_waiting(pod)


DELETION_SETTLE_SECONDS: Final = 10
"""How long past a deleted pod's deletionTimestamp (the moment its kubelet kills what still runs) its
container may still be reported running before the pod is taken for ended anyway: the kubelet's report can
lag, and a kubelet that never reports (a lost node) must not hold the child's restart for ever."""


def deleted_pod_may_run(pod: Mapping[str, Any], now: int) -> bool:
    """A pod marked for deletion whose container still runs, and may go on running at `now`."""
    settles = deletion_settles_at(pod)
    return settles is not None and now < settles and _container_running(pod) and not _finished_phase(pod)


def deletion_settles_at(pod: Mapping[str, Any]) -> int | None:
    """When a deleted pod is taken for ended even if its container is still reported running."""
    deadline = timestamp((pod.get("metadata") or {}).get("deletionTimestamp"))
    return None if deadline is None else deadline + DELETION_SETTLE_SECONDS


def deleted_pod_outcome(code: int | None) -> PodOutcome:
    """The end of an incarnation whose pod someone else deleted: abnormal, whatever its code."""
    return PodOutcome(OutcomeKind.EXITED, ExitReason.ABNORMAL, POD_DELETED, "the pod was deleted", code)


def pod_gone(stopping: bool) -> PodOutcome:
    """The pod of the incarnation no longer exists: stopped as asked, or deleted by someone else."""
    if stopping:
        return PodOutcome(OutcomeKind.EXITED, ExitReason.SHUTDOWN, SHUTDOWN, "stopped by its supervisor")
    return deleted_pod_outcome(None)


def _status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return pod.get("status") or {}


def _container_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    statuses = _status(pod).get("containerStatuses") or []
    return statuses[0] if statuses else {}


def _container_running(pod: Mapping[str, Any]) -> bool:
    return "running" in (_container_status(pod).get("state") or {})


def _finished_phase(pod: Mapping[str, Any]) -> bool:
    return _status(pod).get("phase") in ("Succeeded", "Failed")


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    state = _container_status(pod).get("state") or {}
    terminated = state.get("terminated")
    return terminated if isinstance(terminated, Mapping) else None


def timestamp(value: Any) -> int | None:
    """Unix seconds of a Kubernetes timestamp (RFC 3339), or None when it is absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return None


def _deletion_requested_at(pod: Mapping[str, Any]) -> int | None:
    """When the pod's deletion was asked for: its deletionTimestamp less the grace period it was given."""
    meta = pod.get("metadata") or {}
    deadline = timestamp(meta.get("deletionTimestamp"))
    if deadline is None:
        return None
    grace = meta.get("deletionGracePeriodSeconds")
    return deadline - (grace if isinstance(grace, int) else 0)


def _ended_before(terminated: Mapping[str, Any] | None, moment: int) -> bool:
    finished = None if terminated is None else timestamp(terminated.get("finishedAt"))
    return finished is not None and finished < moment


def _failed(pod: Mapping[str, Any]) -> bool:
    return _status(pod).get("phase") == "Failed"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _from_terminated(pod: Mapping[str, Any], terminated: Mapping[str, Any], runtime: bool) -> PodOutcome:
    code = _int(terminated.get("exitCode"))
    text = str(terminated.get("message") or "")
    runtime_reason, message = _termination_message(text) if runtime else (None, cut(text.strip()))
    k8s_reason = str(terminated.get("reason") or "")
    if code == 0:
        return PodOutcome(OutcomeKind.EXITED, ExitReason.NORMAL, "Completed", message, code)
    if k8s_reason == "OOMKilled":
        cause = "OOMKilled"
    elif runtime and code is not None and code in exitcodes.REASONS:
        cause = exitcodes.REASONS[code]
    else:
        cause = runtime_reason or camel(k8s_reason) or "Error"
    if not message:
        message = _describe_code(code) or str(_status(pod).get("message") or "")
    reason = runtime_exit_reason(code) if runtime else ExitReason.ABNORMAL
    return PodOutcome(OutcomeKind.EXITED, reason, cause, message, code)


def runtime_exit_reason(code: int | None) -> ExitReason:
    """The OTP exit reason of an agent runtime's non-zero exit code: a task that failed for good
    (exitcodes.TASK_FAILED) is `{shutdown, Reason}`, so restart types treat it as OTP does; anything else
    is abnormal."""
    return ExitReason.SHUTDOWN if code in exitcodes.TASK_FAILED else ExitReason.ABNORMAL


def _from_failed_pod(pod: Mapping[str, Any], terminated: Mapping[str, Any] | None) -> PodOutcome:
    """A Failed pod with a reason of its own (evicted, node lost), or whose container never ran."""
    waiting = _waiting(pod)
    status = _status(pod)
    cause = camel(str(status.get("reason") or "")) or (waiting[0] if waiting else "") or "PodFailed"
    message = cut(str(status.get("message") or (waiting[1] if waiting else "")))
    kind = OutcomeKind.START_FAILED if waiting and waiting[0] in START_FAILURES else OutcomeKind.EXITED
    code = None if terminated is None else _int(terminated.get("exitCode"))
    return PodOutcome(kind, ExitReason.ABNORMAL, cause, message, code)


def _from_waiting(pod: Mapping[str, Any]) -> PodOutcome | None:
    waiting = _waiting(pod)
    if waiting is None or waiting[0] not in START_FAILURES:
        return None
    return PodOutcome(OutcomeKind.START_FAILED, ExitReason.ABNORMAL, waiting[0], cut(waiting[1]))


def _waiting(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    state = _container_status(pod).get("state") or {}
    waiting = state.get("waiting")
    if not isinstance(waiting, Mapping) or not waiting.get("reason"):
        return None
    return str(waiting["reason"]), str(waiting.get("message") or "")


def _termination_message(text: str) -> tuple[str | None, str]:
    """The runtime writes a JSON summary; anything else (e.g. the log tail of a crash) is kept as text."""
    try:
        summary = json.loads(text)
    except ValueError:
        return None, cut(text.strip())
    if not isinstance(summary, dict):
        return None, cut(text.strip())
    reason = summary.get("reason")
    return (reason if isinstance(reason, str) and reason else None), cut(str(summary.get("message") or ""))


def _describe_code(code: int | None) -> str:
    if code is None:
        return ""
    if code > 128:
        return f"exit code {code} (killed by signal {code - 128})"
    return f"exit code {code}"


def camel(reason: str) -> str:
    """Kubernetes reasons are CamelCase already; anything else is dropped rather than shown mangled."""
    return reason if _CAMEL.fullmatch(reason) else ""


def cut(text: str) -> str:
    """`text` within MAX_MESSAGE characters."""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
