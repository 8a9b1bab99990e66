"""The Argo CD health checks (deploy/argocd/health/*.lua) run under Lua against Agents and AgentSupervisors
whose status is produced by the operator's own status code, driven through the supervision core as the
reconciler drives it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lupa
import pytest

from agent_supervisor import api
from agent_supervisor.supervision import (
    ChildExited,
    ChildLifecycle,
    ChildReady,
    ChildStartFailed,
    Event,
    ExitReason,
    SpecChanged,
    Start,
    Stop,
    SupervisorSpec,
    SupervisorState,
    decide,
)
from agent_supervisor.translate import labels, projection
from agent_supervisor.translate.observe import observe
from agent_supervisor.translate.status import (
    config_status,
    invalid_status,
    standalone_agent_status,
    supervised_agent_status,
    supervisor_status,
)
from agent_supervisor.translate.stored_supervision import Supervision

HEALTH = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "health"
T0 = 1_800_000_000
TEMPLATE = {"model": {"endpoint": "http://models:8000/v1", "name": "scripted"}, "systemPrompt": "Be brief."}

Manifest = dict[str, Any]


def health(kind: str, obj: Manifest) -> tuple[str, str]:
    """What Argo CD would show: run the script with the object as the global `obj`, as Argo CD does."""
    script = (HEALTH / f"{kind.lower()}.lua").read_text(encoding="utf-8")
    lua = lupa.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


def supervisor_body(children: int = 2, generation: int = 1, **spec: Any) -> Manifest:
    return {
        "apiVersion": api.API_VERSION,
        "kind": "AgentSupervisor",
        "metadata": {"name": "team", "namespace": "ns", "uid": "uid-team", "generation": generation},
        "spec": {"children": [{"name": f"c{i}", "agent": TEMPLATE} for i in range(children)], **spec},
    }


class SupervisorStory:
    """An AgentSupervisor taken through the core; `obj` is the resource with the status the operator
    writes."""

    def __init__(self, **spec: Any) -> None:
        self.body = supervisor_body(**spec)
        self.sup = projection.parse_supervisor(self.body)
        self.spec = projection.supervisor_spec(self.sup)
        self.state = SupervisorState.initial(self.spec)
        self.status: Manifest | None = None
        self.now = T0

    def step(self, *events: Event) -> Manifest:
        self.now += 1
        for event in events:
            self.state = decide(self.spec, self.state, event, self.now).state
        self.status = supervisor_status(
            self.sup, self.spec, Supervision(self.state), observe([]), self.now, self.status
        )
        return self.obj

    def edit(self, body: Manifest) -> Manifest:
        """The user edits the spec: the generation moves; the operator has not reconciled yet."""
        self.body = body
        return self.obj

    def reconcile_edit(self) -> Manifest:
        self.sup = projection.parse_supervisor(self.body)
        self.spec = projection.supervisor_spec(self.sup)
        return self.step(SpecChanged())

    def attempt(self, child: str) -> int:
        found = self.state.find(child)
        assert found is not None
        return found.attempt

    def all_ready(self) -> Manifest:
        """Each child the core starts becomes Ready (children start one after the other, in order)."""
        while starting := [c for c in self.state.children if c.lifecycle is ChildLifecycle.STARTING]:
            self.step(*(ChildReady(c.name, c.attempt) for c in starting))
        return self.obj

    def crash(self, child: str) -> Manifest:
        return self.step(ChildExited(child, self.attempt(child), ExitReason.ABNORMAL, 1, "Error: boom"))

    @property
    def obj(self) -> Manifest:
        return {**copy.deepcopy(self.body), "status": copy.deepcopy(self.status)}


def test_a_supervisor_without_status_waits_for_the_operator():
    assert health("AgentSupervisor", supervisor_body()) == (
        "Progressing",
        "Waiting for the operator to report the supervisor's status",
    )


def test_a_supervisor_is_progressing_while_it_starts_and_healthy_once_its_children_are_ready():
    story = SupervisorStory()
    assert story.step()["status"]["phase"] == "Pending"
    assert health("AgentSupervisor", story.obj)[0] == "Progressing"
    starting = story.step(Start())
    assert starting["status"]["phase"] == "Starting"
    assert health("AgentSupervisor", starting) == (
        "Progressing",
        "starting children in order (0/2 children ready)",
    )
    running = story.all_ready()
    assert running["status"]["phase"] == "Running"
    assert health("AgentSupervisor", running) == ("Healthy", "Running (2/2 children ready)")


def test_a_restart_within_the_budget_is_progressing_not_degraded():
    story = SupervisorStory(maxRestarts=3, periodSeconds=60)
    story.step(Start())
    story.all_ready()
    restarting = story.crash("c0")
    assert restarting["status"]["phase"] == "Restarting"
    status, message = health("AgentSupervisor", restarting)
    assert status == "Progressing" and "c0" in message


def test_an_exhausted_restart_budget_is_degraded_with_the_operators_message():
    story = SupervisorStory(maxRestarts=1, periodSeconds=60)
    story.step(Start())
    story.all_ready()
    story.crash("c0")
    story.all_ready()
    failed = story.crash("c0")
    assert failed["status"]["phase"] == "Failed"
    status, message = health("AgentSupervisor", failed)
    assert status == "Degraded"
    assert message.startswith("more than 1 restarts within 60s")


def test_a_stopped_supervisor_is_suspended():
    story = SupervisorStory()
    story.step(Start())
    story.all_ready()
    stopping = story.step(Stop())
    assert stopping["status"]["phase"] == "Stopped"
    assert health("AgentSupervisor", stopping) == ("Suspended", "stopping: it was asked to stop")


def test_an_invalid_supervisor_is_degraded_naming_the_field():
    obj = supervisor_body()
    obj["status"] = invalid_status(1, [api.FieldIssue("spec.children[0].agent.image", "not an image")], T0)
    status, message = health("AgentSupervisor", obj)
    assert status == "Degraded"
    assert "spec.children[0].agent.image" in message


def test_an_edit_not_yet_observed_is_progressing_then_the_rollout_then_healthy():
    story = SupervisorStory()
    story.step(Start())
    story.all_ready()
    edited = story.edit(supervisor_body(children=3, generation=2))
    assert edited["status"]["observedGeneration"] == 1
    assert health("AgentSupervisor", edited) == (
        "Progressing",
        "Waiting for the operator to observe generation 2",
    )
    rolling = story.reconcile_edit()
    assert rolling["status"]["phase"] == "Running"  # still serving while it adds the child
    status, message = health("AgentSupervisor", rolling)
    assert status == "Progressing" and "applying a spec change" in message
    assert health("AgentSupervisor", story.all_ready()) == ("Healthy", "Running (3/3 children ready)")


def test_an_added_child_that_cannot_start_is_degraded_naming_it_while_the_others_run():
    story = SupervisorStory()
    story.step(Start())
    story.all_ready()
    story.edit(supervisor_body(children=3, generation=2))
    story.reconcile_edit()
    failed = story.step(ChildStartFailed("c2", story.attempt("c2"), "ErrImagePull: no such image"))
    assert failed["status"]["phase"] == "Running"
    status, message = health("AgentSupervisor", failed)
    assert status == "Degraded"
    assert message.startswith("2/3 children ready; added children failed to start: c2 (ErrImagePull")


# --- Agent --------------------------------------------------------------------------------------------------


def agent_body(
    name: str = "solo", generation: int = 1, agent_labels: dict[str, str] | None = None
) -> Manifest:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "generation": generation,
    }
    if agent_labels:
        metadata["labels"] = agent_labels
    return {"apiVersion": api.API_VERSION, "kind": "Agent", "metadata": metadata, "spec": {**TEMPLATE}}


class AgentStory:
    """A standalone Agent (its own one-child supervisor) through the core, plus its config status."""

    def __init__(self, **spec: Any) -> None:
        self.body = agent_body()
        self.body["spec"].update(spec)
        self.agent = projection.parse_agent(self.body)
        self.spec: SupervisorSpec = projection.standalone_spec(self.agent)
        self.state = SupervisorState.initial(self.spec)
        self.status: Manifest | None = None
        self.now = T0

    def step(self, *events: Event, applied: str | None = "rev-1", revision: str = "rev-1") -> Manifest:
        self.now += 1
        for event in events:
            self.state = decide(self.spec, self.state, event, self.now).state
        status = standalone_agent_status(
            self.agent, self.spec, Supervision(self.state), self.now, self.status
        )
        self.status = config_status(1, revision, applied, self.now, status)
        return {**copy.deepcopy(self.body), "status": copy.deepcopy(self.status)}

    def attempt(self) -> int:
        return self.state.children[0].attempt


def test_a_standalone_agent_starts_then_runs():
    story = AgentStory()
    starting = story.step(Start(), applied=None)
    assert starting["status"]["phase"] == "Starting"
    assert health("Agent", starting)[0] == "Progressing"
    running = story.step(ChildReady("solo", story.attempt()))
    assert running["status"]["phase"] == "Running"
    assert health("Agent", running) == ("Healthy", "the agent's pod is Ready")


def test_a_new_configuration_not_yet_applied_is_progressing():
    story = AgentStory()
    story.step(Start())
    pending = story.step(ChildReady("solo", story.attempt()), applied="rev-1", revision="rev-2")
    assert pending["status"]["phase"] == "Running"
    assert health("Agent", pending) == (
        "Progressing",
        "the agent runs revision rev-1; revision rev-2 is not applied yet",
    )


def test_an_agent_that_finished_its_task_is_healthy():
    story = AgentStory(task="Summarise.", restart="transient")
    story.step(Start())
    story.step(ChildReady("solo", story.attempt()))
    done = story.step(ChildExited("solo", story.attempt(), ExitReason.NORMAL, 0))
    assert done["status"]["phase"] == "Succeeded"
    assert health("Agent", done) == ("Healthy", "the agent exited and is not restarted")


def test_an_agent_over_its_restart_budget_is_degraded():
    story = AgentStory(maxRestarts=1, periodSeconds=60)
    story.step(Start())
    for _ in range(2):
        story.step(ChildReady("solo", story.attempt()))
        failed = story.step(ChildExited("solo", story.attempt(), ExitReason.ABNORMAL, 1, "Error: boom"))
    assert failed["status"]["phase"] == "Failed"
    status, message = health("Agent", failed)
    assert status == "Degraded" and message.startswith("more than 1 restarts within 60s: the agent stopped")


def supervised_agent(generation: int, story: SupervisorStory, previous: Manifest | None = None) -> Manifest:
    """Child c0 of `story`'s supervisor, with the status its supervisor and its own reconcile write."""
    body = agent_body(
        "team-c0", generation, {labels.SUPERVISOR: "team", labels.CHILD: "c0", labels.ROOT: "team"}
    )
    agent = projection.parse_agent(body)
    status = supervised_agent_status(agent, "team", story.state, story.now, previous)
    body["status"] = config_status(generation, "rev-1", "rev-1", story.now, status)
    return body


def test_a_supervised_agent_reports_the_generation_it_has_observed():
    """Its own reconcile records the generation whose config it rendered; a newer spec is Progressing."""
    story = SupervisorStory()
    story.step(Start())
    story.all_ready()
    running = supervised_agent(1, story)
    assert running["status"]["observedGeneration"] == 1
    assert health("Agent", running) == ("Healthy", "attempt 1 is Ready")
    running["metadata"]["generation"] = 2
    assert health("Agent", running) == ("Progressing", "Waiting for the operator to observe generation 2")


def test_a_supervised_agent_once_invalid_is_judged_by_its_newest_conditions():
    """status.observedGeneration left behind by an invalid spec does not hide the fixed agent's health."""
    story = SupervisorStory()
    story.step(Start())
    story.all_ready()
    earlier = invalid_status(1, [api.FieldIssue("spec.model.endpoint", "unreachable")], T0)
    assert health("Agent", {**agent_body("team-c0"), "status": earlier})[0] == "Degraded"
    fixed = supervised_agent(2, story, previous=earlier)
    assert fixed["status"]["observedGeneration"] == 2
    assert health("Agent", fixed)[0] == "Healthy"


def test_a_child_agent_being_restarted_by_its_supervisor_is_progressing():
    story = SupervisorStory(maxRestarts=3, periodSeconds=60)
    story.step(Start())
    story.all_ready()
    story.crash("c0")
    restarting = supervised_agent(1, story)
    assert restarting["status"]["phase"] == "Restarting"
    assert health("Agent", restarting) == ("Progressing", "its supervisor is restarting it")


@pytest.mark.parametrize("kind", ["Agent", "AgentSupervisor"])
def test_every_phase_maps_to_an_argo_cd_health_status(kind):
    """Whatever the conditions, the script answers one of Argo CD's statuses (no Lua error, no nil)."""
    expected = {
        "Pending": "Progressing",
        "Starting": "Progressing",
        "Restarting": "Progressing",
        "Running": "Healthy",
        "Succeeded": "Healthy",
        "Failed": "Degraded",
        "Stopped": "Suspended",
    }
    assert set(expected) == {phase.value for phase in api.Phase}
    for phase, status in expected.items():
        obj = {**agent_body(), "kind": kind, "status": {"observedGeneration": 1, "phase": phase}}
        found, message = health(kind, obj)
        assert found == status, phase
        assert message
