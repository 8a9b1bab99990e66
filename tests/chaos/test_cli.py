"""`agent-supervisor chaos` refuses bad flags with a message naming the flag, before starting anything."""

import pytest

from agent_supervisor.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--duration", "0"), "--duration must be positive"),
        (("--overlap", "1.5"), "--overlap must be between 0 and 1"),
        (("--operator-every", "-1"), "--operator-every must be positive"),
        (("--api-every", "0"), "--api-every must be positive"),
        (("--seed", "x"), "argument --seed: invalid int value: 'x'"),
        (("--context", "prod"), "--context needs --kubeconfig"),
        (("--operator-namespace", "ops"), "--operator-namespace needs --kubeconfig"),
        (("--kubeconfig", "/nonexistent/kubeconfig"), "--kubeconfig: no file /nonexistent/kubeconfig"),
        (
            ("--kubeconfig", __file__, "--operator-selector", "app=op"),
            "--operator-selector needs --operator-namespace",
        ),
    ],
)
def test_bad_flags_are_usage_errors(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["chaos", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
