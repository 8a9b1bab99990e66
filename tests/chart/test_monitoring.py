"""The chart's monitoring: the agents' PodMonitor, the Grafana dashboard ConfigMap and the PrometheusRule.

The rules and every dashboard query go through the real promtool (Debian's prometheus package, fetched into
.tools/bin by `make tools`): `promtool check rules` parses them, `promtool test rules` runs
tests/chart/monitoring/alerts_test.yaml, whose input series make each alert fire and stay quiet. Every metric
they name must be one the operator or the agent runtime exports.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry, Metric

from agent_runtime import token_window
from agent_runtime.metrics import Metrics
from agent_supervisor.controller import metrics as operator_metrics
from agent_supervisor.translate import labels
from agent_supervisor.translate.agent_pod import PORT_NAME
from tests.chart.conftest import TOOLS_BIN, Manifest

PROMTOOL = TOOLS_BIN / "promtool"
UNIT_TESTS = Path(__file__).parent / "monitoring" / "alerts_test.yaml"
ALL_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True},
        "agentPodMonitor": {"enabled": True},
        "dashboard": {"enabled": True},
        "prometheusRule": {"enabled": True},
    }
}
ALERTS = {
    "AgentSupervisorIntensityExceeded",
    "AgentSupervisorEscalated",
    "AgentSupervisorRestartBudgetLow",
    "AgentDependencyUnavailable",
    "AgentTokenBudgetLow",
}
Render = Callable[[dict[str, Any]], list[Manifest]]


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    if not PROMTOOL.exists():
        pytest.skip(
            f"promtool is not at {PROMTOOL}: run make tools (it needs apt-get for Debian's prometheus)"
        )

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PROMTOOL), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
        )

    return run


def _rule(render: Render, values: dict[str, Any], pick: Callable[..., Manifest]) -> Manifest:
    return pick(render(values), "PrometheusRule")


def _dashboard(render: Render, pick: Callable[..., Manifest]) -> dict[str, Any]:
    config_map = pick(render(ALL_ON), "ConfigMap", "agent-supervisor-dashboard")
    dashboard: dict[str, Any] = json.loads(config_map["data"]["agent-supervisor.json"])
    return dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": ".*", "$supervisor": ".*"}


def _dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every query of the dashboard, Grafana's variables replaced by what they stand for:
    the panels' targets and the selectors inside the variables' label_values()."""
    queries = [
        (f"panel {panel['title']!r} {target['refId']}", target["expr"])
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"]["query"])
            assert found, f"variable {variable['name']}: not a label_values(selector, label) query"
            queries.append((f"variable {variable['name']}", found[1]))
    for name, value in GRAFANA_VARIABLES.items():
        queries = [(where, expr.replace(name, value)) for where, expr in queries]
    return queries


def _exported_names(families: Iterator[Metric]) -> set[str]:
    """The series names a scrape shows for these metric families (a counter `x` is `x_total`, ...)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    return {family.name + suffix for family in families for suffix in suffixes[family.type]}


def _code_metric_names() -> set[str]:
    budgets = [operator_metrics.RestartBudget("ns", "sup", 3, 5, ())]
    collectors = CollectorRegistry()
    collectors.register(operator_metrics.BudgetCollector(lambda: budgets, lambda: 0.0))
    collectors.register(operator_metrics.PhaseCollector(lambda: [("Agent", "Running")]))
    operator = [f for f in REGISTRY.collect() if f.name.startswith(operator_metrics.PREFIX)]
    agent = Metrics("agent")
    # The hourly token figures are collected only for an agent with an hourly budget.
    agent.watch_hourly_tokens(lambda: (0, token_window.judge([], 0.0, 1000)))
    return (
        _exported_names(iter(operator))
        | _exported_names(collectors.collect())
        | _exported_names(agent.registry.collect())
    )


def _metric_names(expr: str) -> set[str]:
    # Every metric of the project starts with agent_ (the operator's agent_supervisor_); no label does.
    return set(re.findall(r"\bagent_[a-z0-9_]*[a-z0-9]\b", expr))


# --- off by default, and where each object goes -------------------------------------------------------------


def test_monitoring_objects_are_off_by_default(render, kinds):
    manifests = render({})
    assert kinds(manifests, "PrometheusRule") == []
    assert kinds(manifests, "PodMonitor") == []
    assert [m["metadata"]["name"] for m in kinds(manifests, "ConfigMap")] == []


def test_the_dashboard_configmap_carries_the_grafana_sidecar_label_or_the_configured_ones(render, pick):
    default = pick(render(ALL_ON), "ConfigMap", "agent-supervisor-dashboard")
    assert default["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert default["metadata"]["namespace"] == "agent-supervisor-system"

    custom = {
        "metrics": {
            "dashboard": {
                "enabled": True,
                "labels": {"grafana_dashboard": None, "dashboards": "agents"},
                "annotations": {"grafana_folder": "Agents"},
                "namespace": "monitoring",
            }
        }
    }
    config_map = pick(render(custom), "ConfigMap", "agent-supervisor-dashboard")
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Agents"}
    assert config_map["metadata"]["labels"]["dashboards"] == "agents"
    assert "grafana_dashboard" not in config_map["metadata"]["labels"]


def test_the_prometheus_rule_is_a_monitoring_coreos_v1_object_with_the_configured_labels(render, pick):
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "labels": {"release": "prom"},
                "alertLabels": {"team": "agents"},
            }
        }
    }
    rule = _rule(render, values, pick)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "prom"
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {alert["alert"] for alert in alerts} == ALERTS
    for alert in alerts:
        assert alert["labels"]["team"] == "agents", alert["alert"]
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["runbook_url"].endswith("#" + alert["alert"].lower())
        assert "{{ $labels.namespace }}/" in alert["annotations"]["description"]


def test_the_pod_monitor_scrapes_agent_pods_and_labels_series_with_their_tree(render, pick):
    monitor = pick(render(ALL_ON), "PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"any": True}
    assert monitor["spec"]["selector"]["matchExpressions"] == [{"key": labels.AGENT, "operator": "Exists"}]
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == PORT_NAME
    # Prometheus turns a pod label's dots and slashes into underscores in its discovery labels.
    copied = {r["targetLabel"]: r["sourceLabels"][0] for r in endpoint["relabelings"]}
    for target, key in {
        "supervisor": labels.SUPERVISOR,
        "agent": labels.AGENT,
        "child": labels.CHILD,
        "root": labels.ROOT,
    }.items():
        assert copied[target] == "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)

    watched = pick(render({**ALL_ON, "watchNamespaces": ["team-a", "team-b"]}), "PodMonitor")
    assert watched["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}


def test_the_service_monitor_keeps_the_supervisors_namespace_label(render, pick):
    monitor = pick(render(ALL_ON), "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True


# --- the rules, with promtool ------------------------------------------------------------------------------


def _write_rules(rule: Manifest, folder: Path) -> Path:
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False), encoding="utf-8")
    return path


def test_the_rendered_rules_pass_promtool_check_rules(render, pick, promtool, tmp_path):
    rules = _write_rules(_rule(render, ALL_ON, pick), tmp_path)
    result = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


def test_each_alert_fires_and_stays_quiet_as_the_unit_tests_say(render, pick, promtool, tmp_path):
    _write_rules(_rule(render, ALL_ON, pick), tmp_path)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    result = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", UNIT_TESTS.read_text()))
    assert tested == ALERTS, "every alert has unit tests"


def _expected(alertname: str, labels: dict[str, str], description: str) -> dict[str, Any]:
    """One expected alert of a promtool unit test; promtool compares the annotations too."""
    summaries = {
        "AgentSupervisorRestartBudgetLow": "A supervisor has nearly used up its restart budget.",
        "AgentDependencyUnavailable": "An agent cannot reach a dependency past its retries and waits.",
    }
    runbook = "https://github.com/agent-supervisor/agent-supervisor/blob/main/docs/operations.md"
    return {
        "exp_labels": labels,
        "exp_annotations": {
            "summary": summaries[alertname],
            "description": description,
            "runbook_url": f"{runbook}#{alertname.lower()}",
        },
    }


def test_the_thresholds_and_alert_labels_come_from_the_values(render, pick, promtool, tmp_path):
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "budgetLeftThreshold": 2,
                "dependencyUnavailableFor": "2m",
                "alertLabels": {"team": "agents"},
            }
        }
    }
    _write_rules(_rule(render, values, pick), tmp_path)
    series = 'namespace="team", supervisor="crew"'
    dependency = f'{series}, agent="crew-a", dependency="model"'
    crew = {"severity": "warning", "team": "agents", "namespace": "team", "supervisor": "crew"}
    low = _expected(
        "AgentSupervisorRestartBudgetLow",
        crew,
        "Supervisor team/crew has 2 restarts left within its period; one more than that and it stops all its "
        "children and exits.",
    )
    unavailable = _expected(
        "AgentDependencyUnavailable",
        {**crew, "agent": "crew-a", "dependency": "model"},
        "Agent team/crew-a of supervisor crew has found its dependency model unavailable for 2m or more; it "
        "waits and is not restarted.",
    )
    cases = {
        "rule_files": ["rules.yaml"],
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"agent_supervisor_restart_budget_left{{{series}}}", "values": "3 2"},
                    {"series": f"agent_supervisor_restart_budget_max{{{series}}}", "values": "3 3"},
                    {"series": f"agent_dependency_available{{{dependency}}}", "values": "0x3"},
                ],
                "alert_rule_test": [
                    {"eval_time": "0m", "alertname": "AgentSupervisorRestartBudgetLow", "exp_alerts": []},
                    {"eval_time": "1m", "alertname": "AgentSupervisorRestartBudgetLow", "exp_alerts": [low]},
                    {"eval_time": "1m", "alertname": "AgentDependencyUnavailable", "exp_alerts": []},
                    {
                        "eval_time": "2m",
                        "alertname": "AgentDependencyUnavailable",
                        "exp_alerts": [unavailable],
                    },
                ],
            }
        ],
    }
    (tmp_path / "custom_test.yaml").write_text(yaml.safe_dump(cases), encoding="utf-8")
    result = promtool("test", "rules", "custom_test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_fails_when_an_expectation_is_wrong(render, pick, promtool, tmp_path):
    """The unit tests can fail: the same file with one expected annotation changed does."""
    _write_rules(_rule(render, ALL_ON, pick), tmp_path)
    wrong = UNIT_TESTS.read_text().replace(
        "Supervisor team/crew has 1 restarts", "Supervisor team/crew has 2 restarts"
    )
    assert wrong != UNIT_TESTS.read_text()
    (tmp_path / "wrong_test.yaml").write_text(wrong, encoding="utf-8")
    result = promtool("test", "rules", "wrong_test.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "AgentSupervisorRestartBudgetLow" in result.stdout + result.stderr


# --- the dashboard -----------------------------------------------------------------------------------------


def test_the_dashboard_is_grafana_json_with_a_query_in_every_panel(render, pick):
    dashboard = _dashboard(render, pick)
    assert dashboard["uid"] and dashboard["title"]
    panels = list(_panels(dashboard))
    assert len({panel["id"] for panel in panels}) == len(panels), "panel ids are unique"
    for panel in panels:
        if panel["type"] != "row":
            assert panel.get("targets"), f"panel {panel['title']!r} has no query"
            assert panel["datasource"]["uid"] == "${datasource}"
    shown = " ".join(expr for _, expr in _dashboard_queries(dashboard))
    for wanted in (
        "agent_supervisor_restarts_total",
        "agent_supervisor_group_restarts_total",
        "agent_supervisor_restart_budget_left",
        "agent_supervisor_reaction_seconds_bucket",
        "agent_tokens_total",
    ):
        assert wanted in shown, f"the dashboard shows {wanted}"


def test_every_dashboard_query_parses_with_promtool(render, pick, promtool, tmp_path):
    queries = _dashboard_queries(_dashboard(render, pick))
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = promtool("check", "rules", str(path), cwd=tmp_path)
    where = "\n".join(f"query_{i}: {where}" for i, (where, _) in enumerate(queries))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{where}"
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_every_metric_the_dashboard_and_the_alerts_name_exists_in_the_code(render, pick):
    exported = _code_metric_names()
    dashboard = [(where, expr) for where, expr in _dashboard_queries(_dashboard(render, pick))]
    rule = _rule(render, ALL_ON, pick)
    alerts = [(r["alert"], r["expr"]) for group in rule["spec"]["groups"] for r in group["rules"]]
    named = {name: where for where, expr in [*dashboard, *alerts] for name in _metric_names(expr)}
    assert named, "the queries name metrics"
    unknown = {name: where for name, where in named.items() if name not in exported}
    assert not unknown, f"metrics no code exports: {unknown}"


def test_the_metric_check_knows_a_name_the_code_does_not_export():
    exported = _code_metric_names()
    assert "agent_supervisor_restart_budget_left" in exported
    assert "agent_tokens_total" in exported
    assert "agent_supervisor_reaction_seconds_bucket" in exported
    assert _metric_names("rate(agent_supervisor_restart_total[5m])") - exported == {
        "agent_supervisor_restart_total"
    }


def test_every_alerts_runbook_anchor_is_a_heading_of_the_operations_guide(render, pick, chart):
    guide = (chart.parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    headings = {line[4:].strip().lower() for line in guide.splitlines() if line.startswith("### ")}
    rule = _rule(render, ALL_ON, pick)
    for alert in (r for group in rule["spec"]["groups"] for r in group["rules"]):
        anchor = alert["annotations"]["runbook_url"].rpartition("#")[2]
        assert anchor in headings, f"{alert['alert']}: no '### {alert['alert']}' in docs/operations.md"


def test_helm_lint_strict_passes_with_every_monitoring_object_on(helm, chart):
    result = helm.run("lint", str(chart), "--strict", "-f", str(helm.values_file(ALL_ON)))
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[ERROR]" not in result.stdout and "[WARNING]" not in result.stdout
