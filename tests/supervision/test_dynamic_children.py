"""Dynamic children: editing the spec is this project's start_child / terminate_child / delete_child."""

from agent_supervisor.supervision import EventReason, SupervisorLifecycle
from tests.supervision.driver import Driver, agent, child_supervisor, supervisor


def test_child_added_to_the_spec_is_started():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a", "b"))
    sup.settle()
    assert sup.ops() == [("start", "b")]
    assert EventReason.CHILD_ADDED in sup.reasons()


def test_children_added_together_start_in_order_each_after_the_previous_is_ready():
    sup = Driver(supervisor("one_for_one", "a"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a", "b", "c"))
    assert sup.ops() == [("start", "b")]
    sup.ready("b")
    assert sup.ops() == [("start", "b"), ("start", "c")]


def test_child_removed_from_the_spec_is_stopped_then_its_objects_removed():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a"))
    assert sup.ops() == [("stop", "b")]
    assert sup.removed == []
    sup.complete_stop("b")
    assert sup.removed == ["b"]
    assert [child.name for child in sup.state.children] == ["a"]
    assert sup.state.restarts == []  # explicit terminations never count


def test_child_removed_from_the_spec_that_crashes_while_stopping_is_not_restarted():
    sup = Driver(supervisor("one_for_all", "a", "b"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_all", "a"))
    sup.crash("b")
    sup.settle()
    assert sup.ops() == [("stop", "b")]
    assert sup.removed == ["b"]
    assert sup.state.restarts == []


def test_child_removed_from_the_spec_while_down_is_removed_at_once():
    sup = Driver(supervisor("one_for_one", "a", agent("b", "transient")))
    sup.start_and_settle()
    sup.finish("b")
    sup.edit(supervisor("one_for_one", "a"))
    assert sup.removed == ["b"]
    assert sup.reasons()[-1] is EventReason.CHILD_REMOVED


def test_reordered_children_set_the_order_of_the_next_group_restart():
    sup = Driver(supervisor("one_for_all", "a", "b", "c"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_all", "c", "a", "b"))
    assert sup.ops() == []  # reordering alone touches nothing
    sup.crash("a")
    sup.settle()
    assert sup.ops() == [("stop", "b"), ("stop", "c"), ("start", "c"), ("start", "a"), ("start", "b")]


def test_template_change_replaces_children_one_at_a_time_in_start_order_without_counting():
    sup = Driver(supervisor("one_for_all", "a", "b", "c", max_restarts=0))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_all", agent("a", template="v2"), "b", agent("c", template="v2")))
    assert sup.ops() == [("stop", "a")]
    sup.complete_stop("a")
    assert sup.ops()[-1] == ("start", "a")
    sup.ready("a")
    assert sup.ops()[-1] == ("stop", "c")
    sup.settle()
    assert sup.ops() == [("stop", "a"), ("start", "a"), ("stop", "c"), ("start", "c")]
    assert {name: pod.template_hash for name, pod in sup.pods.items()} == {"a": "v2", "b": "v1", "c": "v2"}
    assert sup.state.restarts == []
    assert sup.reasons().count(EventReason.CHILD_REPLACED) == 2


def test_restart_after_a_template_change_uses_the_new_template():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a", agent("b", template="v2")))
    sup.crash("a")  # b is being replaced; a restarts independently
    sup.settle()
    assert {name: pod.template_hash for name, pod in sup.pods.items()} == {"a": "v1", "b": "v2"}


def test_child_supervisor_applies_its_own_spec_edits_in_place():
    before = supervisor("one_for_one", "a", child_supervisor("team"))
    sup = Driver(before)
    sup.start_and_settle()
    edited = before.model_copy(
        update={
            "children": (before.children[0], before.children[1].model_copy(update={"template_hash": "v2"}))
        }
    )
    sup.edit(edited)
    sup.settle()
    assert sup.ops() == []
    assert sup.child("team").template_hash == "v2"


def test_child_whose_kind_changes_is_replaced():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a", child_supervisor("b")))
    sup.settle()
    assert sup.ops() == [("stop", "b"), ("start", "b")]
    assert sup.child("b").kind == "supervisor"


def test_child_re_added_while_it_was_being_removed_is_started_again():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start_and_settle()
    sup.edit(supervisor("one_for_one", "a"))
    sup.edit(supervisor("one_for_one", "a", "b"))
    sup.settle()
    assert sup.ops() == [("stop", "b"), ("start", "b")]
    assert sup.removed == []


def test_children_added_during_start_up_start_after_the_initial_children():
    sup = Driver(supervisor("one_for_one", "a", "b"))
    sup.start()
    sup.edit(supervisor("one_for_one", "a", "b", "c"))
    sup.settle()
    assert sup.ops() == [("start", "a"), ("start", "b"), ("start", "c")]
    assert sup.lifecycle is SupervisorLifecycle.RUNNING


def test_spec_change_does_not_revive_a_terminated_supervisor():
    sup = Driver(supervisor("one_for_one", "a", max_restarts=0))
    sup.start_and_settle()
    sup.crash("a")
    sup.edit(supervisor("one_for_one", agent("a", template="v2"), max_restarts=0))
    sup.settle()
    assert sup.ops() == []
    assert sup.lifecycle is SupervisorLifecycle.TERMINATED
