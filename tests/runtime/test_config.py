"""The config contract: valid documents parse; every kind of mistake names its field and the fix."""

import subprocess
import sys
from pathlib import Path

import pytest

from agent_runtime import exitcodes
from agent_runtime.config import API_VERSION, ConfigError, dump_config, load_config, parse_config

MINIMAL = {
    "apiVersion": API_VERSION,
    "agent": {"name": "writer"},
    "model": {"endpoint": "https://api.example.com/v1/", "name": "gpt-x"},
    "systemPrompt": "You write.",
}


def problems(document: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    return str(caught.value)


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(MINIMAL)

    assert config.mode == "service"
    assert config.model.endpoint == "https://api.example.com/v1"
    assert config.max_steps == 50
    assert config.resume is True
    assert config.peers.address_template == "http://{name}.{namespace}.svc:8080"
    assert config.checkpoint.store == "none"
    assert config.checkpoint_config_map == "writer-checkpoint"


def test_round_trip_through_the_rendered_document(tmp_path: Path) -> None:
    document = {
        **MINIMAL,
        "task": "write a haiku",
        "revision": "abc123",
        "tools": [{"name": "http_get", "settings": {"allowedHosts": ["*.example.com"], "maxBytes": 1000}}],
        "budgets": {"maxTokens": 5000, "maxSeconds": 60},
        "peers": {"addressTemplate": "{api}/api/v1/namespaces/{namespace}/services/{name}:http/proxy"},
        "checkpoint": {"store": "kubernetes"},
    }
    config = parse_config(document)

    assert config.mode == "task"
    assert parse_config(config.to_document()) == config
    rendered = tmp_path / "config.yaml"
    rendered.write_text(dump_config(config))
    assert load_config(rendered) == config


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"apiVersion": "runtime.otp.agents.dev/v2"},
            "apiVersion: unsupported apiVersion 'runtime.otp.agents.dev/v2'",
        ),
        ({"agent": {"name": "Bad_Name"}}, "agent.name: name 'Bad_Name' must be a DNS-1123 label"),
        (
            {"model": {"endpoint": "api.example.com", "name": "m"}},
            "model.endpoint: endpoint 'api.example.com' must",
        ),
        (
            {"model": {"endpoint": "http://x", "name": "m", "parameters": {"messages": []}}},
            "model.parameters: reserved",
        ),
        ({"model": {"endpoint": "http://x", "name": "m", "apiKeyEnv": "not a name"}}, "model.apiKeyEnv:"),
        ({"tools": [{"name": "rm_rf"}]}, "tools[0]: unknown tool 'rm_rf'; known tools: ask_agent"),
        (
            {"tools": [{"name": "http_get"}]},
            "tools[0]: settings of tool 'http_get': settings.allowedHosts: Field required",
        ),
        ({"tools": [{"name": "finish", "settings": {"x": 1}}]}, "settings.x: Extra inputs are not permitted"),
        (
            {"tools": [{"name": "finish"}, {"name": "finish"}]},
            "tools: tool names must be unique; repeated: finish",
        ),
        (
            {"peers": {"addressTemplate": "http://{host}:8080"}},
            "peers.addressTemplate: unknown placeholders ['host']",
        ),
        (
            {"peers": {"addressTemplate": "http://agent:8080"}},
            "peers.addressTemplate: the template must contain {name}",
        ),
        ({"checkpoint": {"store": "file"}}, "checkpoint: store 'file' needs checkpoint.path"),
        ({"checkpoint": {"store": "s3"}}, "checkpoint.store: Input should be 'none', 'file' or 'kubernetes'"),
        ({"maxSteps": 0}, "maxSteps: Input should be greater than or equal to 1"),
        ({"systemPromt": "typo"}, "systemPromt: Extra inputs are not permitted"),
    ],
)
def test_mistakes_name_the_field(change: dict, expected: str) -> None:
    assert expected in problems({**MINIMAL, **change})


def test_missing_required_fields_are_listed() -> None:
    message = problems({"apiVersion": API_VERSION})
    for field in ("agent: Field required", "model: Field required", "systemPrompt: Field required"):
        assert field in message


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read runtime config .* set AGENT_CONFIG"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "broken.yaml")


def test_check_config_command_reports_and_sets_the_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v0\n")
    run = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == exitcodes.EXIT_CONFIG_INVALID
    assert "apiVersion: unsupported apiVersion 'v0'" in run.stderr


def test_exit_code_reasons_are_distinct() -> None:
    codes = [
        exitcodes.EXIT_OK,
        exitcodes.EXIT_CRASH,
        exitcodes.EXIT_BUDGET_EXHAUSTED,
        exitcodes.EXIT_MODEL_REJECTED,
        exitcodes.EXIT_CRASH_REQUESTED,
        exitcodes.EXIT_MODEL_UNAVAILABLE,
        exitcodes.EXIT_CONFIG_INVALID,
    ]
    assert len(set(codes)) == len(codes) == len(exitcodes.REASONS)
    assert all(code < 126 for code in codes)  # never confusable with 128+signal
    assert exitcodes.reason_for(137) == "ExitCode137"


def test_a_program_may_not_inherit_the_api_key_and_the_error_says_what_to_remove() -> None:
    document = {
        "apiVersion": "runtime.otp.agents.dev/v1",
        "agent": {"name": "a"},
        "model": {"endpoint": "http://m/v1", "name": "x", "apiKeyEnv": "KEY"},
        "systemPrompt": "s",
        "tools": [{"name": "run_program", "settings": {"command": ["env"], "inheritEnv": ["PATH", "KEY"]}}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document)
    assert str(caught.value) == (
        "invalid runtime config: tools[0].settings.inheritEnv: KEY holds the model API key "
        "(model.apiKeyEnv); a program must never get it: remove it from inheritEnv"
    )
