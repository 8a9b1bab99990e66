"""Rendering an Agent into the runtime's config contract, and the revision that drives hot reload."""

from __future__ import annotations

import pytest
import yaml

from agent_runtime.config import parse_config
from agent_supervisor.translate.runtime_config import MODEL_API_KEY_ENV, RenderContext, RenderError, render

CTX = RenderContext(namespace="team-ns", supervisor_path="root/team")


def test_render_fills_the_contract_and_validates_with_the_runtime(make_agent):
    agent = make_agent(
        "writer",
        task="write a poem",
        maxSteps=7,
        resume=False,
        model={
            "endpoint": "http://m:8000/v1",
            "name": "big",
            "parameters": {"temperature": 0.5, "topP": 0.9, "maxTokens": 100},
            "timeoutSeconds": 600,
            "apiKeySecretRef": {"name": "k", "key": "v"},
        },
        context={"maxTokens": 8192, "maxToolResultChars": 4000},
        tools=[
            {"name": "http_get", "allowedHosts": ["a.example"], "maxResponseBytes": 10},
            {"name": "finish"},
        ],
    )
    document, revision = render(agent, CTX)
    config = parse_config(document)
    assert config.revision == revision
    assert (config.agent.name, config.agent.namespace, config.agent.supervisor_path) == (
        "writer",
        "team-ns",
        "root/team",
    )
    assert config.task == "write a poem" and config.max_steps == 7 and config.resume is False
    # Sampling parameters are request fields: the provider's snake_case names, not the API's camelCase.
    assert config.model.parameters == {"temperature": 0.5, "top_p": 0.9}
    # The output limit and the timeout are the runtime's own fields (the limit sets the default timeout).
    assert (config.model.max_output_tokens, config.model.read_timeout_seconds) == (100, 600)
    assert (config.context.max_tokens, config.context.max_tool_result_chars) == (8192, 4000)
    assert config.model.api_key_env == MODEL_API_KEY_ENV
    assert [(tool.name, tool.settings) for tool in config.tools] == [
        ("http_get", {"allowedHosts": ["a.example"], "maxBytes": 10}),
        ("finish", {}),
    ]
    assert config.checkpoint.store == "kubernetes"
    assert config.checkpoint_config_map == "writer-checkpoint"


def test_the_yaml_text_is_the_document(make_agent):
    rendered = render(make_agent(), CTX)
    assert yaml.safe_load(rendered.text) == rendered.document


def test_no_api_key_env_without_a_secret_reference(make_agent):
    document, _ = render(make_agent(), CTX)
    assert "apiKeyEnv" not in document["model"]


@pytest.mark.parametrize(
    "change", [{"systemPrompt": "new"}, {"task": "t2"}, {"maxSteps": 9}, {"tools": [{"name": "finish"}]}]
)
def test_hot_fields_change_the_revision(make_agent, change):
    assert render(make_agent(), CTX).revision != render(make_agent(**change), CTX).revision


def test_cold_fields_and_rerendering_keep_the_revision(make_agent):
    first = render(make_agent(), CTX)
    assert render(make_agent(), CTX) == first
    assert (
        render(make_agent(image="agent:v2", env=[{"name": "X", "value": "1"}]), CTX).revision
        == first.revision
    )


def test_context_is_part_of_the_config(make_agent):
    agent = make_agent()
    ctx = RenderContext(
        namespace="ns2",
        peer_template="{api}/api/v1/namespaces/{namespace}/services/{name}:http/proxy",
        peers_via_api_server=True,
        api_url="http://127.0.0.1:6443",
    )
    config = parse_config(render(agent, ctx).document)
    assert config.peers.via_api_server is True
    assert config.checkpoint.api_url == "http://127.0.0.1:6443"
    assert render(agent, ctx).revision != render(agent, CTX).revision


@pytest.mark.parametrize(("store", "path"), [("file", "/tmp/ckpt.json"), ("none", None)])
def test_other_checkpoint_stores(make_agent, store, path):
    ctx = RenderContext(namespace="ns", checkpoint_store=store, checkpoint_path=path)
    config = parse_config(render(make_agent(), ctx).document)
    assert (config.checkpoint.store, config.checkpoint.path) == (store, path)


def test_a_tool_that_the_runtime_rejects_names_the_field(make_agent):
    with pytest.raises(
        RenderError, match=r"spec\.tools\[0\]\.allowedHosts: tool 'finish' takes no allowedHosts"
    ):
        render(make_agent(tools=[{"name": "finish", "allowedHosts": ["x.example"]}]), CTX)
    with pytest.raises(RenderError, match="allowedHosts"):
        render(make_agent(tools=[{"name": "http_get"}]), CTX)


def test_a_file_store_without_a_path_is_refused(make_agent):
    with pytest.raises(RenderError, match=r"checkpoint\.path"):
        render(make_agent(), RenderContext(namespace="ns", checkpoint_store="file"))


def test_an_agent_without_a_name_cannot_be_rendered(bodies):
    from agent_supervisor.translate.projection import parse_agent

    body = bodies.agent()
    del body["metadata"]["name"]
    with pytest.raises(RenderError, match=r"metadata\.name"):
        render(parse_agent(body), CTX)
