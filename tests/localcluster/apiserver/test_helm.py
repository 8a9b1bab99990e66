"""helm 4 install / upgrade / uninstall of a tiny chart against the local API server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HELM = REPO / ".tools" / "bin" / "helm"

pytestmark = pytest.mark.skipif(not HELM.exists(), reason="helm not fetched (make tools)")

TEMPLATES = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-svc
spec:
  selector: {app: tiny}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
spec:
  replicas: 1
  selector: {matchLabels: {app: tiny}}
  template:
    metadata: {labels: {app: tiny}}
    spec:
      containers: [{name: app, image: busybox}]
"""


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (root / "values.yaml").write_text("greeting: hello\n")
    (root / "templates" / "all.yaml").write_text(TEMPLATES)
    return root


def test_install_upgrade_uninstall(local_apiserver, kubectl, namespace, chart):
    def helm(*args: str) -> str:
        result = subprocess.run(
            [str(HELM), *args, "-n", namespace],
            capture_output=True,
            text=True,
            env=local_apiserver.env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "STATUS: deployed" in helm("install", "tiny", str(chart))
    config = json.loads(kubectl("get", "cm", "tiny-config", "-n", namespace, "-o", "json").stdout)
    assert config["data"] == {"greeting": "hello"}
    service = json.loads(kubectl("get", "svc", "tiny-svc", "-n", namespace, "-o", "json").stdout)
    assert service["spec"]["clusterIP"].startswith("10.96.")

    assert "REVISION: 2" in helm("upgrade", "tiny", str(chart), "--set", "greeting=bye")
    config = json.loads(kubectl("get", "cm", "tiny-config", "-n", namespace, "-o", "json").stdout)
    assert config["data"] == {"greeting": "bye"}
    releases = json.loads(helm("list", "-o", "json"))
    assert [(r["name"], r["revision"], r["status"]) for r in releases] == [("tiny", "2", "deployed")]
    # helm keeps its release records as Secrets written through client-go (protobuf bodies).
    secrets = kubectl("get", "secrets", "-n", namespace, "-l", "owner=helm", "-o", "name").stdout.split()
    assert sorted(secrets) == ["secret/sh.helm.release.v1.tiny.v1", "secret/sh.helm.release.v1.tiny.v2"]

    assert 'release "tiny" uninstalled' in helm("uninstall", "tiny")
    left = kubectl("get", "cm,svc,deploy,secret", "-n", namespace, "-o", "name").stdout.split()
    assert left == []
