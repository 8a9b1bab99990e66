"""`agent-supervisor observer` on the local cluster with the real operator and real agents: the snapshots it
pushes show the tree, a crash and a one_for_all restart of every child, and never a Secret's value."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.operator_e2e.harness import Env, agent_child, agent_template, supervisor, wait_running
from tests.operator_e2e.observer_process import Snapshots, nodes, observer

PUSH_TIMEOUT = 30.0


def secret_tree(env: Env, secret_value: str) -> None:
    """A one_for_all team of three; the first child's model key comes from a Secret."""
    created = env.api.create(
        "secrets",
        env.namespace,
        {"metadata": {"name": "model-key"}, "stringData": {"token": secret_value}, "type": "Opaque"},
    )
    assert created.status_code == 201, created.text
    keyed = agent_template(
        model={
            "endpoint": "http://127.0.0.1:9/v1",
            "name": "scripted",
            "apiKeySecretRef": {"name": "model-key", "key": "token"},
        }
    )
    env.apply(
        supervisor(
            "team",
            [agent_child("a", agent=keyed), agent_child("b"), agent_child("c")],
            strategy="one_for_all",
            maxRestarts=5,
            periodSeconds=600,
        )
    )


def test_pushed_snapshots_show_the_tree_a_group_restart_and_no_secret(env: Env) -> None:
    secret_value = f"observer-secret-{uuid.uuid4().hex}"
    secret_tree(env, secret_value)
    env.operator()
    wait_running(env, "team", 3)
    ns = env.namespace
    ids = [f"{ns}/team-a", f"{ns}/team-b", f"{ns}/team-c"]
    with observer(env) as running:
        pushed = Snapshots(running.url).start()
        try:
            shown = pushed.until(
                lambda s: all(nodes(s).get(i, {}).get("phase") == "Running" for i in ids),
                PUSH_TIMEOUT,
                "a snapshot with the three children Running",
            )
            team = nodes(shown)[f"{ns}/team"]
            assert (team["kind"], team["strategy"], [c["id"] for c in team["children"]]) == (
                "AgentSupervisor",
                "one_for_all",
                ids,
            )
            crashed = env.status("agents", "team-b")["podName"]
            env.kill_pod(crashed)

            restart = pushed.until(
                lambda s: any(e["reason"] == "GroupRestarted" for e in s["timeline"]),
                PUSH_TIMEOUT,
                "the group restart in the timeline",
            )
            [entry] = [e for e in restart["timeline"] if e["reason"] == "GroupRestarted"]
            assert (entry["subject"], entry["failed"], entry["restarted"]) == (f"{ns}/team", ids[1], ids)

            # The crashed pod's exit and log tail, and a live agent's runtime summary, on demand.
            ended = pushed.until(
                lambda s: s["details"].get(ids[1], {}).get("logPod") == crashed,
                PUSH_TIMEOUT,
                "the crashed pod in team-b's detail",
            )
            assert ended["details"][ids[1]]["exits"][0]["code"] == 137
            log = httpx.get(f"{running.url}/api/log", params={"namespace": ns, "pod": crashed}).json()
            assert "error" not in log, log
            wait_running(env, "team", 3)
            runtime = httpx.get(
                f"{running.url}/api/runtime", params={"namespace": ns, "agent": "team-a"}
            ).json()
            assert runtime["summary"]["configRevision"], runtime
            # Only the operator's pods and Agents: the endpoints read nothing else.
            other = httpx.get(f"{running.url}/api/log", params={"namespace": "kube-system", "pod": "x"})
            assert other.status_code == 404

            page = httpx.get(running.url).text + "".join(
                httpx.get(f"{running.url}/static/{name}").text for name in ("observer.js", "observer.css")
            )
        finally:
            pushed.stop.set()
        everything = [page, *pushed.raw, json.dumps(log), json.dumps(runtime)]
        assert pushed.raw, "no snapshot was pushed"
        assert not [text for text in everything if secret_value in text]
    # Pages that went away (the stream closed mid-write) and the crash itself leave no traceback behind.
    assert "Traceback" not in running.log_path.read_text(errors="replace"), running.log_tail()


def test_the_page_and_its_assets_come_from_the_observer_alone(env: Env) -> None:
    with observer(env) as running:
        page = httpx.get(running.url)
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", ""), "the page must load nothing from elsewhere"
        for name in ("observer.js", "observer.css"):
            assert httpx.get(f"{running.url}/static/{name}").status_code == 200
        assert httpx.get(f"{running.url}/static/../server.py").status_code == 404
        first = Snapshots(running.url).start()
        try:
            assert first.until(lambda s: "trees" in s, PUSH_TIMEOUT, "a first snapshot")["trees"] == []
        finally:
            first.stop.set()
