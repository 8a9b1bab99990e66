"""Issue 14 item 4: an hourly token budget pauses a service agent; it is not a crash.

A real agent process under a real operator uses up the hourly budget its supervisor gives its subtree: it
stays Ready, answers new messages with 429, the operator shows BudgetAvailable False with an Event, and no
one is restarted. Raising the budget (a hot reload) resumes it in place, with an Event.

The scripted model's `echo` scenario counts words as tokens: one message costs about 14, past the limit of 10.
"""

from __future__ import annotations

import base64
from functools import partial

import httpx

from agent_supervisor.translate import labels
from tests.operator_e2e.harness import (
    Env,
    agent_child,
    agent_template,
    free_port,
    supervisor,
    wait_for,
    wait_running,
)
from tests.operator_e2e.test_outages import condition, events_about, model_server

AGENT = "org-svc"


def _agent_url(env: Env) -> str:
    [pod] = [p for p in env.pods().values() if (p["metadata"].get("labels") or {}).get(labels.AGENT) == AGENT]
    return f"http://{pod['status']['podIP']}:8080"


def _token(env: Env) -> str:
    secret = env.api.get("secrets", env.namespace, labels.messaging_secret_name("org"))
    assert secret is not None, "the root has no messaging Secret"
    return base64.b64decode(secret["data"][labels.MESSAGING_TOKEN_KEY]).decode()


def _send(env: Env, number: int) -> httpx.Response:
    return httpx.post(
        f"{_agent_url(env)}/v1/messages",
        json={"id": f"m{number}", "sender": "tester", "content": "hello"},
        headers={"Authorization": f"Bearer {_token(env)}"},
        timeout=10,
    )


def _budget_is(env: Env, status: str) -> bool:
    return condition(env, "agents", AGENT, "BudgetAvailable").get("status") == status


def test_a_service_agent_over_its_hourly_budget_pauses_without_a_restart(env: Env) -> None:
    env.operator()
    port = free_port()
    with model_server(env, port):
        template = agent_template(model={"endpoint": f"http://127.0.0.1:{port}/v1", "name": "echo"})
        tree = supervisor("org", [agent_child("svc", agent=template)], tokenBudget={"perHour": 10})
        env.apply(tree)
        wait_running(env, "org", 1)
        # The supervisor's default is written into its child's own spec.
        assert (env.get("agents", AGENT) or {})["spec"]["tokenBudget"] == {"perHour": 10}
        attempt = env.status("agents", AGENT)["attempt"]

        assert _send(env, 1).status_code == 202
        wait_for(partial(_budget_is, env, "False"), timeout=60, what="BudgetAvailable False")
        exhausted = condition(env, "agents", AGENT, "BudgetAvailable")
        assert exhausted["reason"] == "HourlyBudgetExhausted" and "budget of 10" in exhausted["message"]
        [warning] = wait_for(
            partial(events_about, env, AGENT, "HourlyBudgetExhausted"), what="an HourlyBudgetExhausted Event"
        )
        assert warning["type"] == "Warning"

        refused = _send(env, 2)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["Retry-After"]) > 0
        assert refused.json()["budget"]["name"] == "perHour" and refused.json()["budget"]["limit"] == 10
        assert httpx.get(f"{_agent_url(env)}/readyz", timeout=5).status_code == 200
        agent = env.status("agents", AGENT)
        assert agent["hourlyTokenBudgetLeft"] == 0 and agent["hourlyTokensUsed"] > 10
        assert agent["phase"] == "Running"
        assert (agent["attempt"], agent["totalRestarts"]) == (attempt, 0)
        assert env.status("agentsupervisors", "org")["restartsInWindow"] == "0/3"

        # A larger budget reaches the paused agent as a hot reload: it resumes in the same incarnation.
        tree["spec"]["tokenBudget"] = {"perHour": 100_000}
        env.apply(tree)
        wait_for(partial(_budget_is, env, "True"), timeout=60, what="BudgetAvailable True again")
        [back] = wait_for(
            partial(events_about, env, AGENT, "BudgetAvailable"), what="a BudgetAvailable Event"
        )
        assert back["type"] == "Normal"
        assert _send(env, 3).status_code == 202
        agent = env.status("agents", AGENT)
        assert (agent["attempt"], agent["totalRestarts"]) == (attempt, 0)
        assert env.status("agentsupervisors", "org")["restartsInWindow"] == "0/3"
