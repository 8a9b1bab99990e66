"""deploy/: the Argo CD Application and health ConfigMap, the Flux HelmReleases with their HelmRepository and
GitRepository sources, and the kustomize base parse, refer to what exists, render with the chart, build with
kubectl kustomize, validate, and match what the chart renders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pathspec
import pytest
import yaml

KUBERNETES_VERSION = "1.35"
NAMESPACE = "agent-supervisor-system"
Manifest = dict[str, Any]


def load_all(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def load_one(path: Path) -> Manifest:
    (document,) = load_all(path)
    return document


def run(tool: Path, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(tool), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, f"{tool.name} {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def validate(manifests: list[Manifest]) -> None:
    for manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest['kind']} {manifest['metadata']['name']}: {error.message}")


def render_chart(
    repo: Path, tools_bin: Path, env: dict[str, str], values: Manifest, tmp: Path
) -> list[Manifest]:
    values_file = tmp / "values.json"
    values_file.write_text(json.dumps(values), encoding="utf-8")
    chart = repo / "charts" / "agent-supervisor"
    out = run(
        tools_bin / "helm",
        "template",
        "agent-supervisor",
        str(chart),
        "-n",
        NAMESPACE,
        "-f",
        str(values_file),
        env=env,
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_every_file_in_deploy_is_yaml_naming_its_objects(repo):
    files = sorted((repo / "deploy").rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        for document in load_all(path):
            assert document.get("apiVersion") and document.get("kind"), path
            if document["kind"] != "Kustomization":
                assert document["metadata"]["name"], path


# --- Argo CD ------------------------------------------------------------------------------------------------


def test_the_argocd_config_map_carries_the_health_scripts_verbatim(repo):
    config = load_one(repo / "deploy" / "argocd" / "argocd-cm-health.yaml")
    assert (config["kind"], config["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    crds = [load_one(path) for path in sorted((repo / "crds").glob("*.yaml"))]
    expected = {}
    for crd in crds:
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        script = repo / "deploy" / "argocd" / "health" / f"{kind.lower()}.lua"
        expected[f"resource.customizations.health.{group}_{kind}"] = script.read_text(encoding="utf-8")
    assert config["data"] == expected, "run python deploy/render.py"


def test_the_argocd_application_installs_the_chart_with_valid_values(repo, tools_bin, tool_env, tmp_path):
    app = load_one(repo / "deploy" / "argocd" / "application.yaml")
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    source = app["spec"]["source"]
    chart = yaml.safe_load((repo / source["path"] / "Chart.yaml").read_text())
    assert chart["name"] == "agent-supervisor"
    assert source["helm"]["releaseName"] == "agent-supervisor"
    sync = app["spec"]["syncPolicy"]["syncOptions"]
    assert "ServerSideApply=true" in sync and "CreateNamespace=true" in sync
    manifests = render_chart(repo, tools_bin, tool_env, source["helm"]["valuesObject"], tmp_path)
    validate(manifests)
    assert next(m for m in manifests if m["kind"] == "Deployment")["spec"]["replicas"] == 2


# --- Flux ---------------------------------------------------------------------------------------------------


def test_the_flux_release_uses_the_repository_and_valid_values(repo, tools_bin, tool_env, tmp_path):
    flux = repo / "deploy" / "flux"
    release = load_one(flux / "helmrelease.yaml")
    repository = load_one(flux / "helmrepository.yaml")
    assert release["apiVersion"] == "helm.toolkit.fluxcd.io/v2" and release["kind"] == "HelmRelease"
    assert (
        repository["apiVersion"] == "source.toolkit.fluxcd.io/v1" and repository["kind"] == "HelmRepository"
    )
    chart_spec = release["spec"]["chart"]["spec"]
    assert chart_spec["sourceRef"] == {"kind": "HelmRepository", "name": repository["metadata"]["name"]}
    assert release["metadata"]["namespace"] == repository["metadata"]["namespace"]
    chart = yaml.safe_load((repo / "charts" / "agent-supervisor" / "Chart.yaml").read_text())
    assert chart_spec["chart"] == chart["name"]
    major, minor, _ = chart["version"].split(".")
    assert chart_spec["version"] == f"{major}.{minor}.x"
    # Helm alone never upgrades CRDs; Flux does with CreateReplace.
    assert release["spec"]["install"]["crds"] == release["spec"]["upgrade"]["crds"] == "CreateReplace"
    validate(render_chart(repo, tools_bin, tool_env, release["spec"]["values"], tmp_path))
    built = load_all_text(run(tools_bin / "kubectl", "kustomize", str(flux), env=tool_env))
    assert sorted(m["kind"] for m in built) == ["HelmRelease", "HelmRepository"]


def load_all_text(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_the_flux_git_release_builds_the_chart_from_this_repository(
    repo: Path, tools_bin: Path, tool_env: dict[str, str]
) -> None:
    """deploy/flux/from-git: the same release, with the chart folder of this repository as its source."""
    flux = repo / "deploy" / "flux"
    source = load_one(flux / "from-git" / "gitrepository.yaml")
    release = load_one(flux / "from-git" / "helmrelease.yaml")
    assert (source["apiVersion"], source["kind"]) == ("source.toolkit.fluxcd.io/v1", "GitRepository")
    assert (release["apiVersion"], release["kind"]) == ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
    assert release["metadata"]["namespace"] == source["metadata"]["namespace"]
    chart_spec = release["spec"]["chart"]["spec"]
    assert chart_spec["sourceRef"] == {"kind": "GitRepository", "name": source["metadata"]["name"]}
    chart = yaml.safe_load((repo / chart_spec["chart"] / "Chart.yaml").read_text())
    assert chart["name"] == "agent-supervisor"
    # Without Revision, Flux would rebuild the chart only when Chart.yaml's version changes, and the commits
    # in between would never reach the cluster.
    assert chart_spec["reconcileStrategy"] == "Revision"
    # The same repository and branch as the Argo CD Application, which installs the same chart.
    app_source = load_one(repo / "deploy" / "argocd" / "application.yaml")["spec"]["source"]
    assert source["spec"]["url"] == app_source["repoURL"]
    assert source["spec"]["ref"] == {"branch": app_source["targetRevision"]}
    assert Path(chart_spec["chart"]) == Path(app_source["path"])
    # The two Flux variants differ only in where the chart comes from.
    from_registry = load_one(flux / "helmrelease.yaml")
    assert {**release["spec"], "chart": None} == {**from_registry["spec"], "chart": None}
    assert release["metadata"] == from_registry["metadata"]
    built = load_all_text(run(tools_bin / "kubectl", "kustomize", str(flux / "from-git"), env=tool_env))
    assert sorted(m["kind"] for m in built) == ["GitRepository", "HelmRelease"]


def test_the_flux_git_source_fetches_the_chart_and_nothing_else(
    repo: Path, tools_bin: Path, tool_env: dict[str, str], tmp_path: Path
) -> None:
    """The GitRepository's ignore rules (gitignore syntax), applied to this checkout: what remains is a chart
    helm renders exactly as the original."""
    source = load_one(repo / "deploy" / "flux" / "from-git" / "gitrepository.yaml")
    ignored = pathspec.GitIgnoreSpec.from_lines(source["spec"]["ignore"].splitlines())
    for outside in (
        "README.md",
        "crds/agents.otp.agents.dev.yaml",
        "operator/agent_supervisor/__init__.py",
        "charts/x/a.yaml",
    ):
        assert ignored.match_file(outside), outside
    chart_files = [p for p in (repo / "charts").rglob("*") if p.is_file()]
    kept = [p for p in chart_files if not ignored.match_file(p.relative_to(repo).as_posix())]
    assert sorted(kept) == sorted(p for p in chart_files if "agent-supervisor" in p.relative_to(repo).parts)
    artifact = tmp_path / "artifact"
    for path in kept:
        target = artifact / path.relative_to(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    helm = tools_bin / "helm"
    template = ("template", "agent-supervisor", "-n", NAMESPACE, "--include-crds", "--set", "replicas=2")
    from_artifact = run(helm, *template, str(artifact / "charts" / "agent-supervisor"), env=tool_env)
    from_checkout = run(helm, *template, str(repo / "charts" / "agent-supervisor"), env=tool_env)
    assert from_artifact == from_checkout


# --- kustomize base -----------------------------------------------------------------------------------------


def without_helm_labels(manifest: Manifest) -> Manifest:
    """The chart's object with the labels that say who manages it removed, for comparing across managers."""
    manifest = json.loads(json.dumps(manifest))
    for metadata in (
        manifest["metadata"],
        ((manifest.get("spec") or {}).get("template") or {}).get("metadata"),
    ):
        if metadata and "labels" in metadata:
            metadata["labels"].pop("helm.sh/chart", None)
            metadata["labels"].pop("app.kubernetes.io/managed-by", None)
    return manifest


@pytest.fixture(scope="module")
def kustomized(repo, tools_bin, tool_env) -> list[Manifest]:
    base = repo / "deploy" / "kustomize" / "base"
    return load_all_text(run(tools_bin / "kubectl", "kustomize", str(base), env=tool_env))


def test_the_kustomize_base_builds_and_validates(kustomized):
    validate(kustomized)
    kinds = sorted(m["kind"] for m in kustomized)
    assert kinds.count("CustomResourceDefinition") == 2 and "Namespace" in kinds and "Deployment" in kinds
    namespace = next(m for m in kustomized if m["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_kustomize_base_matches_what_the_chart_renders(repo, tools_bin, tool_env, tmp_path, kustomized):
    chart = render_chart(repo, tools_bin, tool_env, {}, tmp_path)
    from_base = [m for m in kustomized if m["kind"] not in ("Namespace", "CustomResourceDefinition")]

    def key(manifest: Manifest) -> tuple[str, str]:
        return manifest["kind"], manifest["metadata"]["name"]

    assert sorted(map(key, from_base)) == sorted(map(key, chart))
    by_key = {key(m): without_helm_labels(m) for m in chart}
    for manifest in from_base:
        assert without_helm_labels(manifest) == by_key[key(manifest)], (
            f"{key(manifest)} differs from the chart"
        )
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kustomize"


def test_the_kustomize_base_ships_the_crds_unchanged(repo, kustomized):
    crds = {m["metadata"]["name"]: m for m in kustomized if m["kind"] == "CustomResourceDefinition"}
    expected = {load_one(p)["metadata"]["name"]: load_one(p) for p in (repo / "crds").glob("*.yaml")}
    assert crds == expected, "run python deploy/render.py"


def test_the_generated_files_are_up_to_date(renderer: ModuleType, capsys):
    assert renderer.main(["--check"]) == 0, capsys.readouterr().err


def test_the_renderer_finds_and_fixes_stale_files(repo, tools_bin, tmp_path):
    """A copy of the parts of the repository the renderer reads, with hand edits and an extra CRD."""
    copy = tmp_path / "repo"
    shutil.copytree(repo / "deploy", copy / "deploy")
    shutil.copytree(repo / "charts" / "agent-supervisor", copy / "charts" / "agent-supervisor")
    shutil.copytree(repo / "crds", copy / "crds")
    (copy / ".tools" / "bin").mkdir(parents=True)
    (copy / ".tools" / "bin" / "helm").symlink_to(tools_bin / "helm")
    base = copy / "deploy" / "kustomize" / "base"
    (base / "operator.yaml").write_text("# edited by hand\n", encoding="utf-8")
    (base / "crds" / "gone.yaml").write_text("{}\n", encoding="utf-8")
    lua = copy / "deploy" / "argocd" / "health" / "agent.lua"
    lua.write_text(lua.read_text() + "-- a new line\n", encoding="utf-8")
    script = str(copy / "deploy" / "render.py")

    check = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True, check=False)
    assert check.returncode == 1
    stale = ["kustomize/base/operator.yaml", "kustomize/base/crds/gone.yaml", "argocd/argocd-cm-health.yaml"]
    for path in stale:
        assert f"deploy/{path} is out of date: run python deploy/render.py" in check.stderr
    assert (base / "operator.yaml").read_text() == "# edited by hand\n", "--check must not write"

    subprocess.run([sys.executable, script], check=True)
    assert subprocess.run([sys.executable, script, "--check"], check=False).returncode == 0
    assert not (base / "crds" / "gone.yaml").exists()
    original = repo / "deploy" / "kustomize" / "base" / "operator.yaml"
    assert (base / "operator.yaml").read_text() == original.read_text()
    config = load_one(copy / "deploy" / "argocd" / "argocd-cm-health.yaml")
    assert config["data"]["resource.customizations.health.otp.agents.dev_Agent"].endswith("-- a new line\n")
