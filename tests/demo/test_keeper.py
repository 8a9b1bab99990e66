"""The local stack restarts its operator when it exits, as a Deployment would (issue 16): with a backoff
that grows with quick exits, and each restart logged."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor.cli.demo_stack import DemoStack
from agent_supervisor.cli.keeper import Backoff, Keeper
from tests.demo.processes import processes_using
from tests.polling import poll_until


@given(
    initial=st.floats(0.01, 5),
    cap=st.floats(0.01, 60),
    exits=st.integers(1, 50),
)
def test_the_backoff_doubles_from_its_initial_delay_up_to_its_cap(initial: float, cap: float, exits: int):
    backoff = Backoff(initial=initial, cap=cap)
    assert backoff.delay(1) == min(initial, cap)
    assert backoff.delay(exits) <= backoff.delay(exits + 1) <= cap
    if backoff.delay(exits + 1) < cap:
        assert backoff.delay(exits + 1) == pytest.approx(2 * backoff.delay(exits))


def test_a_process_that_keeps_exiting_is_restarted_with_each_restart_logged(tmp_path: Path):
    log = tmp_path / "crasher.log"
    command = [sys.executable, "-c", "import sys; print('started'); sys.exit(3)"]
    keeper = Keeper("crasher", command, os.environ, log, Backoff(initial=0.01, cap=0.05))
    keeper.start()
    try:
        poll_until(lambda: keeper.restarts >= 3, timeout=30, what="three restarts")
    finally:
        keeper.stop(timeout=10)
    stopped_at = keeper.restarts
    text = log.read_text()
    assert text.count("started") >= 3
    assert "[keeper] crasher: exited with code 3" in text
    assert "[keeper] crasher: restarted (restart 1, pid" in text
    assert "restarting in 0.0" in text  # the delays come from the backoff
    process = keeper.process
    assert process is not None and process.poll() is not None
    assert keeper.restarts == stopped_at, "restarted after stop()"


def test_stop_ends_a_running_process_and_restarts_nothing(tmp_path: Path):
    command = [sys.executable, "-c", "import time; time.sleep(600)"]
    keeper = Keeper("sleeper", command, os.environ, tmp_path / "sleeper.log", Backoff(initial=0.01))
    keeper.start()
    process = keeper.process
    assert process is not None and process.poll() is None
    keeper.stop(timeout=10)
    assert process.poll() is not None
    assert keeper.restarts == 0
    assert keeper.process is process


@pytest.mark.cluster
def test_the_local_stacks_operator_comes_back_after_it_is_killed(tmp_path: Path):
    with DemoStack(tmp_path / "stack") as stack:
        stack.start_cluster()
        stack.start_model_server()  # and the system namespace, where the Lease lives
        stack.start_operator()
        assert stack.operator is not None
        first = stack.operator.process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)

        def replaced_and_serving() -> bool:
            current = stack.operator.process if stack.operator is not None else None
            return current is not None and current.pid != first.pid and stack.operator_serving()

        poll_until(replaced_and_serving, timeout=60, what="a new operator process serving /healthz")

        def leading() -> bool:
            # It acts again once the killed one's Lease expired: the metric is 1 on the holder only.
            try:
                text = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return False
            return "agent_supervisor_leader 1.0" in text

        poll_until(leading, timeout=60, what="the restarted operator to hold the Lease")
        assert "[keeper] operator: exited with code -9" in stack.operator_log.read_text()
        state = str(stack.state_dir)
    assert processes_using(state) == []
