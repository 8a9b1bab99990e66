"""The supervisor readings a reconcile keeps: the parsed spec while the resource is unchanged, and the stored
supervision only for the very version this process wrote."""

from __future__ import annotations

import copy
from typing import Any

from agent_supervisor.controller.indexes import ObjectKey
from agent_supervisor.controller.readings import SupervisorReadings
from agent_supervisor.translate.projection import supervisor_spec
from agent_supervisor.translate.stored_supervision import Supervision
from tests.translate.conftest import supervisor_body, template

KEY = ObjectKey("AgentSupervisor", "ns", "team")


def body(**meta: Any) -> dict[str, Any]:
    obj = supervisor_body("team", [{"name": name, "agent": template()} for name in ("a", "b")])
    obj["metadata"].update({"uid": "u-1", "generation": 1, "resourceVersion": "10", **meta})
    return obj


def test_the_spec_is_parsed_again_only_when_generation_labels_or_annotations_change():
    readings = SupervisorReadings()
    first, spec = readings.spec(KEY, body())
    assert spec == supervisor_spec(first)
    assert readings.spec(KEY, body(resourceVersion="11"))[0] is first, "a status write changes nothing"
    for changed in (
        body(generation=2),
        body(labels={"team": "x"}),
        body(annotations={"otp.agents.dev/reset": "1"}),
        body(uid="u-2"),
    ):
        assert readings.spec(KEY, changed)[0] is not first


def test_a_changed_spec_of_the_same_generation_is_never_served_from_memory():
    readings = SupervisorReadings()
    original = body()
    readings.spec(KEY, original)
    edited = copy.deepcopy(original)
    edited["metadata"]["generation"] = 2
    edited["spec"]["strategy"] = "one_for_all"
    assert readings.spec(KEY, edited)[1].strategy.value == "one_for_all"


def test_the_stored_supervision_is_known_only_for_the_version_written():
    readings = SupervisorReadings()
    obj = body()
    _, spec = readings.spec(KEY, obj)
    supervision = Supervision.read(None, spec)
    assert readings.stored(KEY, obj) is None
    readings.written(KEY, obj, supervision)
    assert readings.stored(KEY, obj) is supervision
    assert readings.stored(KEY, body(resourceVersion="11")) is None, "someone else wrote after it"
    readings.forget(KEY)
    assert readings.stored(KEY, obj) is None
