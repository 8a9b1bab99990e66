"""Process exit codes of the agent runtime: the contract the operator classifies pod exits on.

The codes avoid 126-255 (shell and signal territory: 128+N is "killed by signal N") so a runtime exit can
never be mistaken for a kill. The two sysexits.h codes keep their conventional meaning.
"""

from typing import Final

EXIT_OK: Final = 0
"""Normal: a task agent finished its task, or any agent drained after SIGTERM."""

EXIT_CRASH: Final = 1
"""Unexpected error inside the runtime (a bug, an unreachable checkpoint store, a rejected model request)."""

EXIT_BUDGET_EXHAUSTED: Final = 3
"""A task agent used up `maxSteps`, its token budget or its time budget before finishing its task."""

EXIT_MODEL_REJECTED: Final = 4
"""The model provider rejected a request of the task the same way every time (a request it cannot serve,
a conversation that cannot fit its context even with old tool results elided, an exhausted quota). The task
is recorded as failed in the checkpoint, so a restart reports it again instead of resending the request."""

EXIT_CRASH_REQUESTED: Final = 42
"""The agent crashed on purpose (the test-only `crash` tool), so tests and demos can trigger restarts."""

EXIT_MODEL_UNAVAILABLE: Final = 75
"""The model provider stayed unavailable (429/5xx/timeouts) after every bounded retry (EX_TEMPFAIL)."""

EXIT_CONFIG_INVALID: Final = 78
"""The runtime config file is missing or invalid; the message names the field (EX_CONFIG)."""

TASK_FAILED: Final = frozenset({EXIT_BUDGET_EXHAUSTED, EXIT_MODEL_REJECTED})
"""The task ended and cannot succeed by running it again: OTP's `{shutdown, Reason}`. A transient child that
exits so is not restarted (a restart would only report the same failure), a permanent one is."""

REASONS: Final[dict[int, str]] = {
    EXIT_OK: "Completed",
    EXIT_CRASH: "Crashed",
    EXIT_BUDGET_EXHAUSTED: "BudgetExhausted",
    EXIT_MODEL_REJECTED: "ModelRejected",
    EXIT_CRASH_REQUESTED: "CrashRequested",
    EXIT_MODEL_UNAVAILABLE: "ModelUnavailable",
    EXIT_CONFIG_INVALID: "ConfigInvalid",
}
"""CamelCase reason per code, as written into the termination message and usable in status/events."""


def reason_for(code: int) -> str:
    """The CamelCase reason of an exit code; unknown codes are reported as `ExitCode<N>`."""
    return REASONS.get(code, f"ExitCode{code}")
