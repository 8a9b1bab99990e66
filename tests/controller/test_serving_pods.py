"""Which pod events queue their Agent's reconcile (hot reload): the one where a pod begins to serve."""

from typing import Any

from agent_supervisor.controller.handlers import ServingPods


def pod(uid: str = "u1", ready: bool = True, **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid, **metadata},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_a_pod_is_told_once_when_it_begins_to_serve_and_again_after_a_pause():
    serving = ServingPods()
    assert serving.began(pod(), deleted=False), "first seen serving (also after an operator restart)"
    assert not serving.began(pod(annotations={"otp.agents.dev/attempt": "7"}), deleted=False)
    assert not serving.began(pod(ready=False), deleted=False)
    assert serving.began(pod(), deleted=False), "serving again: its new incarnation may need the config"


def test_a_pod_being_deleted_or_gone_does_not_serve():
    serving = ServingPods()
    assert not serving.began(pod(ready=False), deleted=False)
    assert serving.began(pod(), deleted=False)
    assert not serving.began(pod(deletionTimestamp="2026-12-08T00:00:00Z"), deleted=False)
    assert not serving.began(pod(), deleted=True)
    assert serving.began(pod("u2"), deleted=False), "another pod is another pod"
