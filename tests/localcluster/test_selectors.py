"""Label and field selectors: grammar, matching semantics and kube-apiserver's error messages."""

import pytest

from localcluster.apiserver.selectors import (
    Operator,
    SelectorError,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selector_from_labels,
)

POD_FIELDS = {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app=web", {"app": "db"}, False),
        ("app=web", {}, False),
        ("app==web", {"app": "web"}, True),
        ("app!=web", {"app": "db"}, True),
        ("app!=web", {}, True),  # absent label satisfies !=
        ("app!=web", {"app": "web"}, False),
        ("app in (web,db),!missing", {"app": "db"}, True),
        ("app in (web,db),!missing", {"app": "db", "missing": "x"}, False),
        ("app in (web, db)", {"app": "cache"}, False),
        ("app notin (web,db)", {}, True),
        ("app notin (web,db)", {"app": "web"}, False),
        ("app", {"app": ""}, True),
        ("app", {"other": "x"}, False),
        ("!app", {}, True),
        ("tier=", {"tier": ""}, True),  # empty exact value means the empty string
        ("tier=", {}, False),
        ("env in (in, notin)", {"env": "notin"}, True),  # keywords are identifiers in value position
        ("replicas>2", {"replicas": "3"}, True),
        ("replicas>2", {"replicas": "2"}, False),
        ("replicas<2", {"replicas": "x"}, False),
        ("example.com/team=a", {"example.com/team": "a"}, True),
        ("", {"anything": "x"}, True),
        ("  app = web , tier in ( front ) ", {"app": "web", "tier": "front"}, True),
    ],
)
def test_label_selector_matching(text, labels, expected):
    assert parse_label_selector(text).matches(labels) is expected


def test_label_selector_structure_and_string_form():
    selector = parse_label_selector("app in (web,db),!missing,tier")
    assert [(r.key, r.operator, r.values) for r in selector.requirements] == [
        ("app", Operator.IN, ("db", "web")),
        ("missing", Operator.DOES_NOT_EXIST, ()),
        ("tier", Operator.EXISTS, ()),
    ]
    assert str(selector) == "app in (db,web),!missing,tier"
    assert parse_label_selector("").empty
    assert parse_label_selector("app in (,a)").requirements[0].values == ("", "a")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app in web", "unable to parse requirement: found 'web' expected: '('"),
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
        ("app=web db", "found 'db', expected: ',' or 'end of string'"),
        ("app=web,", "found '', expected: identifier after ','"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        ("app=(x)", "unable to parse requirement: found '(', expected: identifier"),
        (
            "app=we$b",
            'unable to parse requirement: values[0][app]: Invalid value: "we$b": '
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character "
            "(e.g. 'MyValue',  or 'my_value',  or '12345', "
            "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        (
            "-app=x",
            'unable to parse requirement: <nil>: Invalid value: "-app": '
            "name part must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character "
            "(e.g. 'MyName',  or 'my.name',  or '123-abc', "
            "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            "x>a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ],
)
def test_label_selector_errors_match_the_apiserver(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    assert str(caught.value) == message


def test_label_key_prefix_must_be_a_dns_subdomain():
    with pytest.raises(SelectorError, match=r"prefix part a lowercase RFC 1123 subdomain"):
        parse_label_selector("Bad_Prefix/app=x")


def test_label_selector_from_dict_combines_labels_and_expressions():
    selector = label_selector_from_dict(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches({"app": "web", "tier": "back"})
    assert not selector.matches({"app": "web", "tier": "back", "legacy": "1"})
    assert not selector.matches({"app": "web"})


def test_null_selector_matches_nothing_and_empty_selector_everything():
    assert not label_selector_from_dict(None).matches({"a": "b"})
    assert label_selector_from_dict({}).matches({"a": "b"})
    assert label_selector_from_dict({}).matches(None)


def test_label_selector_from_dict_rejects_bad_expressions():
    with pytest.raises(SelectorError, match='"Maybe" is not a valid label selector operator'):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Maybe"}]})
    with pytest.raises(SelectorError) as caught:
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "In"}]})
    assert str(caught.value) == (
        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
    )
    with pytest.raises(SelectorError, match=r"values set must be empty for exists"):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})


def test_matches_object_reads_metadata_labels():
    selector = parse_label_selector("app=web")
    assert selector.matches_object({"metadata": {"labels": {"app": "web"}}})
    assert not selector.matches_object({"metadata": {}})


def test_selector_from_labels_is_equality_on_every_key():
    selector = selector_from_labels({"app": "web", "tier": "front"})
    assert selector.matches({"app": "web", "tier": "front", "extra": "1"})
    assert not selector.matches({"app": "web"})
    assert str(selector) == "app=web,tier=front"


def _pod(name="a1", namespace="default", phase="Running", node="local"):
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("text", "obj", "expected"),
    [
        ("metadata.name=a1", _pod(), True),
        ("metadata.name==a1", _pod(name="a2"), False),
        ("status.phase!=Failed", _pod(), True),
        ("status.phase!=Failed", _pod(phase="Failed"), False),
        ("status.phase=Pending,spec.nodeName=local", _pod(phase="Pending"), True),
        ("spec.nodeName=", {"metadata": {"name": "x"}}, True),  # a missing field reads as ""
        ("metadata.namespace=default,metadata.name=a1", _pod(namespace="other"), False),
        ("", _pod(), True),
    ],
)
def test_field_selector_matching(text, obj, expected):
    assert parse_field_selector(text, POD_FIELDS).matches(obj) is expected


def test_field_selector_reads_involved_object_and_booleans():
    event = {
        "involvedObject": {"kind": "Pod", "name": "a1", "namespace": "ns", "uid": "u-1"},
        "type": "Normal",
    }
    fields = {
        "involvedObject.kind",
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "type",
    }
    text = "involvedObject.name=a1,involvedObject.namespace=ns,involvedObject.kind=Pod,involvedObject.uid=u-1"
    assert parse_field_selector(text, fields).matches(event)
    node = {"spec": {"unschedulable": True}}
    assert parse_field_selector("spec.unschedulable=true", {"spec.unschedulable"}).matches(node)


def test_field_selector_escapes_and_exact_value():
    selector = parse_field_selector(r"metadata.name=a\,b\=c\\d", POD_FIELDS)
    assert selector.exact_value("metadata.name") == "a,b=c\\d"
    assert selector.matches({"metadata": {"name": "a,b=c\\d"}})
    assert str(selector) == r"metadata.name=a\,b\=c\\d"
    assert parse_field_selector("status.phase!=Failed", POD_FIELDS).exact_value("status.phase") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec.restartPolicy=Always", "field label not supported: spec.restartPolicy"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        (
            "status.phase>Running",
            "invalid selector: 'status.phase>Running'; can't understand 'status.phase>Running'",
        ),
        ("metadata.name=a=b", "invalid field selector: unescaped character: ="),
        (r"metadata.name=a\x", r"invalid field selector: invalid escape sequence: \x"),
    ],
)
def test_field_selector_errors(text, message):
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text, POD_FIELDS)
    assert str(caught.value) == message
