"""The operator's policy (issue 16): which model endpoints, images, ServiceAccounts and Secrets a spec may
use; every refusal names its field and rule."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_supervisor import api
from agent_supervisor.translate import policy, projection, status
from agent_supervisor.translate.policy import Policy, Rule
from tests.translate.conftest import agent_body, supervisor_body, template

OPENAI = "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("endpoint", "allowed"),
    [
        ("https://api.openai.com/v1", True),
        ("https://api.openai.com/v1/", True),
        ("https://API.OpenAI.com/v1/chat", True),
        ("https://api.openai.com:443/v1", True),
        ("https://api.openai.com/v10", False),  # a path prefix only at a '/' boundary
        ("https://api.openai.com/", False),
        ("https://api.openai.com.evil.net/v1", False),
        ("https://api.openai.com@evil.net/v1", False),  # userinfo: the host is evil.net
        ("http://api.openai.com/v1", False),  # another scheme
        ("https://api.openai.com:8443/v1", False),  # another port
        ("not a url", False),
        ("ftp://api.openai.com/v1", False),
    ],
)
def test_endpoint_prefixes_match_scheme_host_port_and_whole_path_segments(endpoint: str, allowed: bool):
    assert policy.endpoint_allowed(endpoint, [OPENAI]) is allowed


def test_a_host_wide_prefix_allows_every_path_on_that_host():
    assert policy.endpoint_allowed("http://models.local:8000/v1", ["http://models.local:8000"])
    assert not policy.endpoint_allowed("http://models.local:8001/v1", ["http://models.local:8000"])


@given(st.text(max_size=40))
def test_no_rule_allows_anything(value: str):
    assert policy.endpoint_allowed(value, [])
    assert policy.name_allowed(value, [])


@given(
    host=st.from_regex(r"[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True),
    other=st.from_regex(r"[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True),
    path=st.from_regex(r"(/[a-z0-9]{1,6}){0,3}", fullmatch=True),
)
def test_an_endpoint_is_allowed_exactly_on_the_hosts_listed(host: str, other: str, path: str):
    assert policy.endpoint_allowed(f"https://{host}/v1{path}", [f"https://{host}/v1"])
    assert policy.endpoint_allowed(f"https://{other}/v1{path}", [f"https://{host}/v1"]) is (other == host)


@pytest.mark.parametrize(
    "bad", ["api.openai.com/v1", "https://", "https://user@api.openai.com", "https://h/v1?x=1", "file:///x"]
)
def test_a_malformed_endpoint_flag_is_refused_with_an_example(bad: str):
    with pytest.raises(ValueError, match=r"e\.g\. https://|scheme, host"):
        policy.parse_endpoint_prefix(bad)


def test_secret_label_flags_are_key_value():
    assert policy.parse_label("team=a") == ("team", "a")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        policy.parse_label("team")


def agent(**spec: Any) -> api.Agent:
    return projection.parse_agent(agent_body("solo", **spec))


def supervisor(children: list[dict[str, Any]]) -> api.AgentSupervisor:
    return projection.parse_supervisor(supervisor_body("team", children))


STRICT = Policy(
    model_endpoints=("http://models.local:8000/v1",),
    images=("registry.example.com/agents/*",),
    service_accounts=("agents-*",),
    secret_labels={"otp.agents.dev/agent-readable": "true"},
)
KEY = {"name": "model-key", "key": "api-key"}


@pytest.mark.parametrize(
    ("spec", "field", "rule"),
    [
        (
            {"model": {"endpoint": "https://evil.example/v1", "name": "m"}},
            "spec.model.endpoint",
            Rule.MODEL_ENDPOINT,
        ),
        ({"image": "evil/agent:1"}, "spec.image", Rule.IMAGE),
        ({"serviceAccountName": "default"}, "spec.serviceAccountName", Rule.SERVICE_ACCOUNT),
        (
            {"model": {"endpoint": "http://models.local:8000/v1", "name": "m", "apiKeySecretRef": KEY}},
            "spec.model.apiKeySecretRef.name",
            Rule.SECRET,
        ),
    ],
)
def test_each_rule_refuses_its_field_naming_the_flag(spec: dict[str, Any], field: str, rule: Rule):
    refused = policy.refusals(agent(**spec), STRICT, {"model-key": {"team": "a"}})
    assert [(r.field, r.rule) for r in refused] == [(field, rule)]
    assert policy.FLAGS[rule] in refused[0].message


def test_what_the_policy_lists_is_allowed():
    allowed = agent(
        model={"endpoint": "http://models.local:8000/v1", "name": "m", "apiKeySecretRef": KEY},
        image="registry.example.com/agents/runtime:1",
        serviceAccountName="agents-team",
    )
    labelled = {"model-key": {"otp.agents.dev/agent-readable": "true", "other": "x"}}
    assert policy.refusals(allowed, STRICT, labelled) == []
    # No image and no account: the operator's default image and the agent's own account.
    assert policy.refusals(agent(), STRICT, {}) == []


def test_an_operator_without_a_policy_refuses_nothing():
    assert policy.refusals(agent(image="anything", serviceAccountName="default"), Policy(), {}) == []


def test_every_child_of_a_tree_is_judged_with_its_path():
    sup = supervisor(
        [
            {"name": "a", "agent": template(image="evil/a:1")},
            {"name": "p", "pool": {"replicas": 2, "template": template(serviceAccountName="default")}},
            {"name": "w", "worker": {"image": "evil/worker:1"}},
            {
                "name": "sub",
                "supervisor": {
                    "children": [
                        {
                            "name": "x",
                            "agent": template(model={"endpoint": "https://evil.example", "name": "m"}),
                        }
                    ]
                },
            },
        ]
    )
    refused = policy.refusals(sup, STRICT, {})
    assert [(r.field, r.rule) for r in refused] == [
        ("spec.children[0].agent.image", Rule.IMAGE),
        ("spec.children[1].pool.template.serviceAccountName", Rule.SERVICE_ACCOUNT),
        ("spec.children[3].supervisor.children[0].agent.model.endpoint", Rule.MODEL_ENDPOINT),
        ("spec.children[2].worker.image", Rule.IMAGE),
    ]


def test_secrets_are_judged_only_when_their_labels_are_known():
    spec = {"model": {"endpoint": "http://models.local:8000/v1", "name": "m", "apiKeySecretRef": KEY}}
    assert policy.refusals(agent(**spec), STRICT, None) == []
    # A Secret that does not exist is the semantic checks' to report (Invalid), not the policy's.
    assert policy.refusals(agent(**spec), STRICT, {}) == []


def test_a_refused_resource_fails_with_the_rule_as_reason_until_it_passes():
    refused = policy.refusals(agent(image="evil/agent:1", serviceAccountName="default"), STRICT, {})
    written = status.refused_status(1, refused, 100)
    (condition,) = [c for c in written["conditions"] if c["type"] == "PolicyAllowed"]
    assert (condition["status"], condition["reason"]) == ("False", "ImageNotAllowed")
    assert "spec.image: image 'evil/agent:1'" in condition["message"]
    assert "spec.serviceAccountName" in condition["message"]
    assert written["phase"] == "Failed"
    # Fixed: the next status of its own reconcile says so, and the phase follows.
    passed = status.config_status(2, "rev", None, 101, written)
    (condition,) = [c for c in passed["conditions"] if c["type"] == "PolicyAllowed"]
    assert (condition["status"], condition["reason"]) == ("True", "Allowed")
    assert passed["phase"] != "Failed"
    # Never refused, never judged: an operator without a policy adds no condition.
    assert "PolicyAllowed" not in {c["type"] for c in status.config_status(1, "rev", None, 100)["conditions"]}
