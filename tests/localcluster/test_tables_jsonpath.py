"""The Kubernetes JSONPath subset that printer columns use."""

import pytest

from localcluster.apiserver.jsonpath import JSONPathError, compile_json_path, find

AGENT = {
    "metadata": {"name": "a1", "labels": {"app.kubernetes.io/name": "agents", "tier": "x"}},
    "spec": {
        "children": [{"name": "planner", "restarts": 2}, {"name": "coder", "restarts": 0}],
        "replicas": 3,
    },
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}],
    },
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (".status.phase", ["Running"]),
        ("{.status.phase}", ["Running"]),
        ("$.spec.replicas", [3]),
        (".spec.children[*].name", ["planner", "coder"]),
        (".spec.children[0].name", ["planner"]),
        (".spec.children[-1].name", ["coder"]),
        (".spec.children[0:1].name", ["planner"]),
        (".spec.children[::-1].name", ["coder", "planner"]),
        (".metadata.labels.tier", ["x"]),
        (".metadata.labels['app.kubernetes.io/name']", ["agents"]),
        (r".metadata.labels.app\.kubernetes\.io/name", ["agents"]),
        (".metadata.labels['tier','missing']", ["x"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Degraded"]),
        (".spec.children[?(@.restarts>1)].name", ["planner"]),
        (".spec.children[?(@.restarts<=0)].name", ["coder"]),
        (".spec.children[?(@.restarts)].name", ["planner", "coder"]),  # existence, whatever the value
        (".spec.children[?(@.missing)].name", []),
        ("..name", ["a1", "planner", "coder"]),
        (".spec.*", [[{"name": "planner", "restarts": 2}, {"name": "coder", "restarts": 0}], 3]),
        (".status.missing", []),
        (".spec.children[7].name", []),
        (".spec.replicas.deeper", []),
    ],
)
def test_find(expression, expected):
    assert find(expression, AGENT) == expected


def test_filter_compares_against_another_path():
    obj = {"spec": {"want": "b"}, "items": [{"n": "a"}, {"n": "b"}]}
    assert find(".items[?(@.n==$.spec.want)].n", obj) == ["b"]


def test_filter_does_not_mix_types():
    obj = {"items": [{"v": "1"}, {"v": 1}, {"v": True}]}
    assert find(".items[?(@.v==1)].v", obj) == [1]
    assert find(".items[?(@.v=='1')].v", obj) == ["1"]
    assert find(".items[?(@.v==true)].v", obj) == [True]


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("status.phase", "unexpected 's'"),
        ("", "empty JSONPath expression"),
        (".a[", "expected ']'"),
        (".a['x", "unterminated string"),
        (".a[?(@.x==)]", "expected a string, number or boolean"),
        (".a[?@.x]", "expected '(' after '?'"),
        (".a[1:2:3:4]", "invalid array index"),
        ("..", "expected a field name"),
    ],
)
def test_invalid_expressions_name_the_problem(expression, fragment):
    with pytest.raises(JSONPathError, match=None) as caught:
        compile_json_path(expression)
    assert fragment in str(caught.value)
