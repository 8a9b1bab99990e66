"""The committed CRDs (top-level and in the chart) are exactly what the generator produces from the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent_supervisor.api import crd_manifests
from agent_supervisor.api.crdgen import generated_files, main, stale_files

ROOT = Path(__file__).resolve().parents[2]
COMMITTED_DIRS = [ROOT / "crds", ROOT / "charts" / "agent-supervisor" / "crds"]
# Generating takes a fraction of a second; once is enough for the comparisons.
GENERATED = generated_files()


@pytest.mark.parametrize("directory", COMMITTED_DIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_committed_crds_match_the_models(directory: Path) -> None:
    stale = [str(path.relative_to(ROOT)) for path in stale_files(directory, GENERATED)]
    assert not stale, f"{stale} differ from what the API models generate: run make crds"


@pytest.mark.parametrize("directory", COMMITTED_DIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_no_other_crd_files_linger(directory: Path) -> None:
    extra = {path.name for path in directory.glob("*.yaml")} - set(GENERATED)
    assert not extra, f"{sorted(extra)} in {directory} are not generated any more: delete them (make crds)"


def test_files_parse_back_to_the_manifests() -> None:
    by_name = {crd["metadata"]["name"]: crd for crd in crd_manifests()}
    for name, text in GENERATED.items():
        assert yaml.safe_load(text) == by_name[name.removesuffix(".yaml")]


def test_generation_is_deterministic() -> None:
    assert generated_files() == GENERATED


def test_cli_writes_both_directories_and_check_detects_drift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, chart = tmp_path / "crds", tmp_path / "chart" / "crds"
    args = ["--out", str(out), "--chart-out", str(chart)]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(GENERATED)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        p.name: p.read_bytes() for p in chart.iterdir()
    }
    assert main([*args, "--check"]) == 0

    edited = chart / "agents.otp.agents.dev.yaml"
    edited.write_text("# hand-edited\n", encoding="utf-8")
    assert main([*args, "--check"]) == 1
    assert f"{edited} is out of date with the API models: run make crds" in capsys.readouterr().err
    assert edited.read_text(encoding="utf-8") == "# hand-edited\n", "--check must not write"


@pytest.mark.parametrize("crd", crd_manifests(), ids=lambda crd: crd["metadata"]["name"])
def test_crd_is_a_valid_customresourcedefinition_object(crd: dict[str, Any]) -> None:
    """Checked against the Kubernetes schema of CustomResourceDefinition, unknown fields included."""
    kubernetes_validate.validate(crd, "1.31", strict=True)


def test_crd_identity() -> None:
    agent, supervisor = crd_manifests()
    for crd, kind, short in ((agent, "Agent", "ag"), (supervisor, "AgentSupervisor", "asup")):
        spec = crd["spec"]
        assert spec["group"] == "otp.agents.dev"
        assert spec["scope"] == "Namespaced"
        assert spec["names"]["kind"] == kind
        assert spec["names"]["shortNames"] == [short]
        assert spec["names"]["categories"] == ["otp"]
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    agent, supervisor = crd_manifests()
    columns = {
        crd["spec"]["names"]["kind"]: [
            (c["name"], c["jsonPath"]) for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]
        ]
        for crd in (agent, supervisor)
    }
    assert columns["Agent"] == [
        ("Phase", ".status.phase"),
        ("Restarts", ".status.totalRestarts"),
        ("Supervisor", ".status.supervisor"),
        ("Model", ".spec.model.name"),
        ("Last Exit", ".status.lastExit.reason"),
        ("Dependencies", '.status.conditions[?(@.type=="DependencyAvailable")].reason'),
        ("Tokens/h Left", ".status.hourlyTokenBudgetLeft"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert columns["AgentSupervisor"] == [
        ("Strategy", ".spec.strategy"),
        ("Ready", ".status.readyChildren"),
        ("Pools", ".status.poolsReady"),
        ("Workers", ".status.workersReady"),
        ("Restarts", ".status.restartsInWindow"),
        ("Phase", ".status.phase"),
        ("Degraded", '.status.conditions[?(@.type=="Degraded")].status'),
        ("Age", ".metadata.creationTimestamp"),
    ]
