"""Checkpoints across SIGKILL, draining on SIGTERM, and hot reload at step boundaries."""

import signal
import time
from pathlib import Path

import pytest

from agent_runtime import exitcodes


def step_logger(tmp_path: Path) -> tuple[dict, Path]:
    """A run_program tool that appends its input to a file: one line per executed tool call."""
    log = tmp_path / "steps.log"
    tool = {
        "name": "run_program",
        "settings": {
            "command": ["sh", "-c", 'cat >> "$STEP_LOG"; echo >> "$STEP_LOG"'],
            "env": {"STEP_LOG": str(log)},
        },
    }
    return tool, log


def slow_task(make_config, model_server, marker, tmp_path, name="slow", **extra):
    tool, log = step_logger(tmp_path)
    config = make_config(
        name,
        model_server.url,
        f"[[scenario:slowsteps]] {marker}",
        task="count to three",
        tools=[tool],
        checkpoint=tmp_path / f"{name}.ckpt",
        **extra,
    )
    return config, log


def test_sigkill_then_restart_resumes_without_duplicate_or_lost_step(
    model_server, runtimes, make_config, marker, tmp_path, wait_for
):
    config, log = slow_task(make_config, model_server, marker, tmp_path)
    agent = runtimes(config).start()
    # The request for step index 2 is sent only after step 2's checkpoint is durable: kill during it.
    wait_for(
        lambda: any(r["step"] == 2 for r in model_server.requests(marker)), timeout=20, what="step 3 to start"
    )
    agent.kill()

    agent.start()
    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert agent.termination()["result"] == "all done"
    assert log.read_text().split() == ["1", "2", "3"]
    assert [r["step"] for r in model_server.requests(marker)] == [0, 1, 2, 2, 3]


def test_sigterm_finishes_the_running_step_checkpoints_and_exits_zero(
    model_server, runtimes, make_config, marker, tmp_path, wait_for
):
    config, log = slow_task(make_config, model_server, marker, tmp_path)
    agent = runtimes(config).start()
    wait_for(lambda: model_server.requests(marker), timeout=20, what="the first model call")

    started = time.monotonic()
    agent.signal(signal.SIGTERM)
    assert agent.wait_exit(timeout=5) == exitcodes.EXIT_OK
    assert time.monotonic() - started < 3  # well within a 5 s grace period
    assert agent.termination()["message"] == "stopped on SIGTERM; state checkpointed"
    assert agent.termination()["steps"] == 1
    assert log.read_text().split() == ["1"]

    agent.start()  # the next incarnation continues from step 2
    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert log.read_text().split() == ["1", "2", "3"]
    assert [r["step"] for r in model_server.requests(marker)] == [0, 1, 2, 3]


def test_sigterm_abandons_a_step_that_outlives_the_drain_timeout(
    model_server, runtimes, make_config, marker, tmp_path, wait_for
):
    config = make_config(
        "stuck",
        model_server.url,
        f"[[scenario:hang]] {marker}",
        task="wait",
        drainTimeoutSeconds=0.5,
        checkpoint=tmp_path / "stuck.ckpt",
    )
    agent = runtimes(config).start()
    wait_for(lambda: model_server.requests(marker), timeout=20, what="the model call")

    agent.signal(signal.SIGTERM)

    assert agent.wait_exit(timeout=5) == exitcodes.EXIT_OK
    assert "abandoned" in agent.termination()["message"]


def test_idle_service_agent_drains_immediately(model_server, runtimes, make_config, marker):
    agent = runtimes(make_config("idle", model_server.url, marker)).start().wait_ready()
    started = time.monotonic()
    agent.signal(signal.SIGTERM)
    assert agent.wait_exit(timeout=5) == exitcodes.EXIT_OK
    assert time.monotonic() - started < 2


def test_unprocessed_inbox_survives_a_kill(model_server, runtimes, make_config, marker, tmp_path, wait_for):
    config = make_config(
        "inbox", model_server.url, f"[[scenario:hang]] {marker}", checkpoint=tmp_path / "i.ckpt"
    )
    agent = runtimes(config).start().wait_ready()
    for number in range(3):
        assert agent.send(f"job {number}", id=f"job-{number}").status_code == 202
    wait_for(lambda: model_server.requests(marker), what="the first job to reach the model")
    agent.kill()

    agent.write_config({**config, "systemPrompt": f"[[scenario:echo]] {marker}"})
    agent.start().wait_ready()
    wait_for(lambda: agent.status()["tasksCompleted"] == 3, what="all three jobs after the restart")
    assert agent.send("job 0", id="job-0").json()["duplicate"] is True


@pytest.mark.parametrize("via", ["reload_endpoint", "file_watch"])
def test_hot_reload_applies_at_the_next_step_without_interrupting_the_call(
    model_server, runtimes, make_config, marker, tmp_path, wait_for, via
):
    config, log = slow_task(make_config, model_server, marker, tmp_path, name="reloaded")
    agent = runtimes(config).start()
    wait_for(lambda: model_server.requests(marker), timeout=20, what="the first model call")

    new_prompt = f"[[scenario:slowsteps]] {marker} v2"
    agent.write_config({**config, "revision": "2", "systemPrompt": new_prompt})
    if via == "reload_endpoint":
        response = agent.post("/v1/config/reload")
        assert response.status_code == 202
        assert response.json() == {"pendingRevision": "2", "appliedRevision": "1"}
    else:
        wait_for(lambda: agent.status()["pendingRevision"] == "2", what="the watcher to see the new file")
    assert agent.status()["configRevision"] == "1"  # the running call keeps its config

    assert agent.wait_exit() == exitcodes.EXIT_OK
    sent = model_server.requests(marker)
    assert [r["step"] for r in sent] == [0, 1, 2, 3]
    assert sent[0]["status"] == 200 and not sent[0]["system"].endswith("v2")
    assert all(r["system"] == new_prompt for r in sent[1:])
    assert agent.termination()["revision"] == "2"
    assert log.read_text().split() == ["1", "2", "3"]


def test_invalid_reload_is_rejected_and_the_old_config_stays(model_server, runtimes, make_config, marker):
    config = make_config("keeper", model_server.url, marker)
    agent = runtimes(config).start().wait_ready()

    agent.write_config({**config, "revision": "2", "maxSteps": -1})
    response = agent.post("/v1/config/reload")
    assert response.status_code == 422
    assert "maxSteps" in response.json()["detail"]

    agent.write_config({**config, "revision": "3", "task": "now a task agent"})
    response = agent.post("/v1/config/reload")
    assert response.status_code == 422
    assert "task:" in response.json()["detail"]
    assert agent.status()["configRevision"] == "1"


def test_idle_service_agent_applies_a_reload_at_once(model_server, runtimes, make_config, marker, wait_for):
    config = make_config("hot", model_server.url, marker)
    agent = runtimes(config).start().wait_ready()

    agent.write_config({**config, "revision": "7", "systemPrompt": "new"})
    assert agent.post("/v1/config/reload").status_code == 202

    wait_for(lambda: agent.status()["configRevision"] == "7", timeout=5, what="revision 7 applied")
