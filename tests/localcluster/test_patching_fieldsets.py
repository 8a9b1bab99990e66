"""FieldsV1 encoding: the managedFields tree format kubectl shows and writes back."""

from localcluster.patching.fieldsets import (
    contains_member,
    decode_fields,
    encode_fields,
    field,
    key_element,
    path_string,
    remove_members,
    value_element,
)

KUBECTL_SHAPED = {
    "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {'v:"example.com/cleanup"': {}}},
    "f:spec": {
        "f:containers": {
            'k:{"name":"app"}': {
                ".": {},
                "f:image": {},
                "f:name": {},
                "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
            }
        }
    },
}

LABELS = (field("metadata"), field("labels"))
APP_LABEL = (*LABELS, field("app"))
CONTAINER = (field("spec"), field("containers"), key_element({"name": "app"}))


def test_decode_then_encode_round_trips():
    paths = decode_fields(KUBECTL_SHAPED)
    assert LABELS in paths and APP_LABEL in paths and CONTAINER in paths
    assert (field("spec"),) not in paths  # a container of owned fields, not owned itself
    assert encode_fields(paths) == KUBECTL_SHAPED
    assert list(encode_fields(paths)["f:metadata"]["f:labels"]) == [".", "f:app"]


def test_path_strings_match_kube_apiserver_conflict_messages():
    port = (*CONTAINER, field("ports"), key_element({"containerPort": 80, "protocol": "TCP"}))
    assert path_string((*CONTAINER, field("image"))) == '.spec.containers[name="app"].image'
    assert path_string(port) == '.spec.containers[name="app"].ports[containerPort=80,protocol="TCP"]'
    finalizer = (field("metadata"), field("finalizers"), value_element("example.com/cleanup"))
    assert path_string(finalizer) == '.metadata.finalizers[="example.com/cleanup"]'


def test_contains_member_looks_up_without_decoding():
    assert contains_member(KUBECTL_SHAPED, APP_LABEL)
    assert contains_member(KUBECTL_SHAPED, LABELS)  # has "."
    assert not contains_member(KUBECTL_SHAPED, (field("spec"),))
    assert not contains_member(KUBECTL_SHAPED, (*CONTAINER, field("env")))


def test_remove_members_prunes_emptied_levels_and_leaves_the_input_alone():
    image = (*CONTAINER, field("image"))
    result = remove_members(KUBECTL_SHAPED, [APP_LABEL, image])
    assert result["f:metadata"]["f:labels"] == {}  # still owned itself, nothing below
    assert "f:image" not in result["f:spec"]["f:containers"]['k:{"name":"app"}']
    assert "f:app" in KUBECTL_SHAPED["f:metadata"]["f:labels"]
    assert decode_fields(result) == decode_fields(KUBECTL_SHAPED) - {APP_LABEL, image}

    ports = (*CONTAINER, field("ports"), key_element({"containerPort": 80, "protocol": "TCP"}))
    only_port = remove_members(KUBECTL_SHAPED, [(*ports, field("containerPort"))])
    assert only_port["f:spec"]["f:containers"]['k:{"name":"app"}']["f:ports"] == {
        'k:{"containerPort":80,"protocol":"TCP"}': {}
    }
    everything = remove_members(KUBECTL_SHAPED, decode_fields(KUBECTL_SHAPED))
    assert everything == {}
    assert remove_members(KUBECTL_SHAPED, [(field("status"),)]) == KUBECTL_SHAPED
