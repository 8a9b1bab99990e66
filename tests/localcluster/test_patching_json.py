"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) with kube-apiserver's error statuses."""

import copy

import pytest

from localcluster.patching import PatchError, json_merge_patch, json_patch

# RFC 7386 appendix A: (target, patch, result).
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_examples(target, patch, result):
    before = copy.deepcopy(target)
    assert json_merge_patch(target, patch) == result
    assert target == before


def test_merge_patch_keeps_nulls_inside_arrays_and_does_not_alias_the_patch():
    patch = {"spec": {"items": [None, {"x": 1}]}}
    result = json_merge_patch({"spec": {"items": [1]}}, patch)
    assert result == {"spec": {"items": [None, {"x": 1}]}}
    result["spec"]["items"][1]["x"] = 2
    assert patch["spec"]["items"][1]["x"] == 1


def test_merge_patch_body_must_be_an_object():
    with pytest.raises(PatchError) as caught:
        json_merge_patch({"a": 1}, [1, 2])
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")
    assert "must be a JSON object" in caught.value.message


# RFC 6902 appendix A (a selection): (target, ops, result).
RFC6902_EXAMPLES = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    (
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    (
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": "bar"}, [{"op": "copy", "from": "/foo", "path": "/baz"}], {"foo": "bar", "baz": "bar"}),
]


@pytest.mark.parametrize(("target", "ops", "result"), RFC6902_EXAMPLES)
def test_json_patch_rfc6902_examples(target, ops, result):
    before = copy.deepcopy(target)
    assert json_patch(target, ops) == result
    assert target == before


def test_json_patch_kopf_finalizer_edit_with_resource_version_test():
    obj = {
        "metadata": {
            "name": "a",
            "resourceVersion": "7",
            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
        }
    }
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]
    assert json_patch(obj, ops)["metadata"]["finalizers"] == []


def test_failed_test_operation_is_422_invalid_and_leaves_the_target_alone():
    obj = {"metadata": {"resourceVersion": "8", "finalizers": ["x"]}}
    ops = [
        {"op": "remove", "path": "/metadata/finalizers/0"},
        {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
    ]
    with pytest.raises(PatchError) as caught:
        json_patch(obj, ops)
    assert (caught.value.status, caught.value.reason) == (422, "Invalid")
    assert caught.value.message.startswith("the server rejected our request due to an error in our request")
    assert obj["metadata"]["finalizers"] == ["x"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/spec/missing", "value": 1}],
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "add", "path": "/items/9", "value": 1}],
        [{"op": "replace", "path": "", "value": [1]}],
    ],
)
def test_operations_that_cannot_apply_are_422(ops):
    with pytest.raises(PatchError) as caught:
        json_patch({"spec": {}, "items": []}, ops)
    assert caught.value.status == 422


@pytest.mark.parametrize("body", [{"op": "add"}, ["not-an-op"], "x"])
def test_malformed_json_patch_body_is_400(body):
    with pytest.raises(PatchError) as caught:
        json_patch({}, body)
    assert (caught.value.status, caught.value.reason) == (400, "BadRequest")


def test_unsupported_media_type_names_the_accepted_patch_types():
    error = PatchError.unsupported_media_type(
        "application/strategic-merge-patch+json",
        ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"],
    )
    assert (error.status, error.reason) == (415, "UnsupportedMediaType")
    assert "accepted media types include: application/json-patch+json, application/merge-patch+json" in str(
        error
    )
