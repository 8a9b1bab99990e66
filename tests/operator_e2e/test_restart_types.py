"""Restart types, significant children and what counts as an abnormal exit, with real agent processes."""

from __future__ import annotations

from typing import Any

from tests.operator_e2e.harness import (
    Env,
    agent_child,
    agent_template,
    attempt_pods,
    supervisor,
    wait_for,
    wait_running,
)


def task_template(env: Env, scenario: str) -> dict[str, Any]:
    """A task agent whose scripted model answers with `scenario` (finish: exit 0; slowcrash: exit 42)."""
    return agent_template(
        model={"endpoint": env.model_url, "name": scenario},
        task="do the work",
        tools=[{"name": "finish"}, {"name": "crash"}],
    )


def standalone(name: str, template: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "Agent",
        "metadata": {"name": name},
        "spec": {**template, "shutdown": {"brutalKill": True}, **spec},
    }


def test_a_transient_agent_that_exits_normally_is_not_restarted(env: Env) -> None:
    env.operator()
    pods = env.record_pods()
    env.apply(standalone("job", task_template(env, "finish")))

    wait_for(lambda: env.status("agents", "job").get("phase") == "Succeeded", what="job Succeeded")
    status = env.status("agents", "job")
    assert (status["lastExit"]["classification"], status["lastExit"]["code"]) == ("normal", 0)
    assert status["totalRestarts"] == 0
    assert pods.created() == ["job-1"]


def test_a_crash_looping_agent_exhausts_its_budget_until_the_reset_annotation(env: Env) -> None:
    env.operator("op-1", "--no-in-place-restarts")  # one pod per incarnation (test_in_place.py: in place)
    pods = env.record_pods()
    env.apply(standalone("looper", task_template(env, "slowcrash"), maxRestarts=1, periodSeconds=60))

    wait_for(lambda: env.status("agents", "looper").get("phase") == "Failed", what="looper Failed")
    status = env.status("agents", "looper")
    assert status["lastExit"]["reason"] == "CrashRequested"
    assert status["lastExit"]["code"] == 42
    assert (env.condition("agents", "looper", "RestartBudgetExhausted") or {}).get("status") == "True"
    assert pods.created() == ["looper-1", "looper-2"], "one restart allowed, the second is not attempted"

    env.kubectl("annotate", "agent", "looper", "otp.agents.dev/restart=1")

    wait_for(lambda: "looper-3" in pods.created(), what="a fresh start after the reset")
    wait_for(lambda: env.status("agents", "looper").get("phase") == "Failed", what="looper Failed again")
    assert pods.created() == ["looper-1", "looper-2", "looper-3", "looper-4"]


def test_a_temporary_child_is_never_restarted(env: Env) -> None:
    env.operator()
    env.apply(supervisor("team", [agent_child("a"), agent_child("t", restart="temporary")]))
    wait_running(env, "team", 2)
    pods = env.record_pods()

    env.kill_pod(f"team-t-{attempt_pods(env)['t']}")

    def t_removed() -> bool:
        children = {c["name"]: c for c in env.status("agentsupervisors", "team").get("children") or []}
        return bool(children["t"].get("lastExit", {}).get("classification") == "abnormal")

    wait_for(t_removed, what="team to record t's exit")
    status = env.status("agentsupervisors", "team")
    assert status["phase"] == "Running"
    assert status["restartsInWindow"] == "0/3"
    assert pods.created() == []
    assert set(attempt_pods(env)) == {"a"}


def test_a_significant_child_that_finishes_shuts_its_supervisor_down(env: Env) -> None:
    env.operator()
    job = agent_child("job", restart="transient", significant=True, agent=task_template(env, "finish"))
    # Recording from before the apply: the job can finish, and svc be stopped, within a second or two.
    pods = env.record_pods()
    env.apply(supervisor("pipeline", [agent_child("svc"), job], autoShutdown="any_significant"))

    wait_for(
        lambda: env.status("agentsupervisors", "pipeline").get("phase") == "Succeeded",
        what="pipeline Succeeded after job finished",
    )
    terminated = env.condition("agentsupervisors", "pipeline", "Terminated")
    assert terminated is not None and terminated["reason"] == "Completed"
    # The operator knows a pod deleted without grace is gone when its DELETE returns, so the status can say
    # Succeeded before the pod's DELETED event reaches this recorder.
    wait_for(lambda: "pipeline-svc-1" in pods.deletion_requested(), what="the other children stopped")
    # The job's pod ends too (in place: its pod supervisor is released and exits with the job's code).
    wait_for(lambda: not attempt_pods(env), what="no pod left running")
    assert env.status("agentsupervisors", "pipeline")["restartsInWindow"] == "0/3"


def test_a_pod_deleted_with_kubectl_counts_as_an_abnormal_exit(env: Env) -> None:
    env.operator()
    env.apply(supervisor("team", [agent_child("a")]))
    wait_running(env, "team", 1)

    env.kubectl("delete", "pod", "team-a-1", "--wait=false")

    wait_for(lambda: "team-a-2" in env.running_pods(), what="a restarted as team-a-2")
    child = env.status("agentsupervisors", "team")["children"][0]
    assert child["restarts"] == 1
    assert (child["lastExit"]["classification"], child["lastExit"]["reason"]) == ("abnormal", "PodDeleted")
    # Settled again: no plan is left in the persisted state (a status write removes what a decision ended).
    wait_running(env, "team", 1)
    assert "plan" not in env.status("agentsupervisors", "team")["supervision"]["state"]
