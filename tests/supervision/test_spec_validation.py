"""The core's input model: OTP's validation and defaults, with errors that name the field and the fix."""

import pytest
from pydantic import ValidationError

from agent_supervisor.supervision import (
    AutoShutdown,
    ChildSpec,
    RestartType,
    ShutdownPolicy,
    Strategy,
    SupervisorSpec,
)
from tests.supervision.driver import agent


def test_defaults_follow_otp_and_elixir():
    spec = SupervisorSpec()
    assert (spec.strategy, spec.max_restarts, spec.period_seconds, spec.auto_shutdown, spec.backoff) == (
        Strategy.ONE_FOR_ONE,
        3,
        5,
        AutoShutdown.NEVER,
        None,
    )
    worker = ChildSpec(name="w")
    assert (worker.restart, worker.significant, worker.shutdown) == (
        RestartType.PERMANENT,
        False,
        ShutdownPolicy.timeout(5),
    )
    assert ChildSpec(name="s", kind="supervisor").shutdown == ShutdownPolicy.infinity()


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        ({"max_restarts": -1}, "max_restarts"),
        ({"period_seconds": 0}, "period_seconds"),
        ({"strategy": "simple_one_for_one"}, "strategy"),
        ({"auto_shutdown": "sometimes"}, "auto_shutdown"),
    ],
)
def test_invalid_flags_are_rejected_naming_the_field(flags: dict[str, object], field: str):
    with pytest.raises(ValidationError, match=field):
        SupervisorSpec.model_validate(flags)


def test_duplicate_child_names_are_rejected_naming_the_child():
    with pytest.raises(ValidationError, match=r"children\[1\]\.name: 'a' is used twice"):
        SupervisorSpec(children=(agent("a"), agent("a")))


def test_significant_permanent_child_is_rejected():
    with pytest.raises(ValidationError, match="significant is true but restart is permanent"):
        ChildSpec(name="a", significant=True)


def test_significant_child_under_auto_shutdown_never_is_rejected():
    with pytest.raises(ValidationError, match=r"children\[0\]\.significant: .* auto_shutdown is 'never'"):
        SupervisorSpec(children=(agent("a", "transient", significant=True),))


@pytest.mark.parametrize("policy", [{"mode": "timeout"}, {"mode": "infinity", "seconds": 3}])
def test_shutdown_seconds_go_with_timeout_only(policy: dict[str, object]):
    with pytest.raises(ValidationError, match=r"shutdown\.seconds"):
        ShutdownPolicy.model_validate(policy)


def test_negative_grace_period_is_rejected():
    with pytest.raises(ValidationError, match="seconds"):
        ShutdownPolicy.timeout(-1)
