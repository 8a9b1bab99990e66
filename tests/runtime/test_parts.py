"""Small parts with their own rules: termination message size, peer addresses, the event stream format."""

import json
from pathlib import Path

import pytest
import yaml

from agent_runtime import termination
from agent_runtime.checkpoint import CheckpointError
from agent_runtime.checkpoint.file_store import FileCheckpointStore
from agent_runtime.config import PeersConfig
from agent_runtime.events import EventBus
from agent_runtime.kube import KubeAccess, KubeAccessError, kube_access
from agent_runtime.paths import CONTAINER_ROOT_ENV, builtin_path
from agent_runtime.peers import AGENT_TOKEN_HEADER, PeerClient
from agent_runtime.persistence import Persister
from agent_runtime.state import AgentState


def test_termination_message_fits_the_kubelet_limit() -> None:
    text = termination.render(
        {"exitCode": 0, "reason": "Completed", "message": "m" * 3000, "result": "é" * 5000, "skipped": None}
    )
    assert len(text.encode()) <= termination.MAX_BYTES
    parsed = json.loads(text)
    assert parsed["exitCode"] == 0 and "skipped" not in parsed
    assert parsed["result"].endswith("…")


def test_termination_message_is_written_where_the_env_says(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(termination.PATH_ENV, str(tmp_path / "log"))
    termination.write({"exitCode": 3})
    assert json.loads((tmp_path / "log").read_text()) == {"exitCode": 3}


def test_peer_addresses_from_template_fixed_map_and_api_server(tmp_path: Path) -> None:
    cluster = PeerClient("a", "team", PeersConfig(addresses={"b": "http://10.0.0.2:8080/"}), "tok", None)
    assert cluster.address("worker") == "http://worker.team.svc:8080"
    assert cluster.address("b") == "http://10.0.0.2:8080"
    assert cluster._headers() == {"Authorization": "Bearer tok"}

    (tmp_path / "token").write_text("sa")
    local = PeerClient(
        "a",
        "team",
        PeersConfig(
            addressTemplate="{api}/api/v1/namespaces/{namespace}/services/{name}:http/proxy",
            viaApiServer=True,
        ),
        "tok",
        KubeAccess("http://127.0.0.1:6443", tmp_path),
    )
    assert (
        local.address("worker") == "http://127.0.0.1:6443/api/v1/namespaces/team/services/worker:http/proxy"
    )
    assert local._headers() == {"Authorization": "Bearer sa", AGENT_TOKEN_HEADER: "tok"}


async def test_event_stream_is_server_sent_events() -> None:
    bus = EventBus()
    stream = bus.stream()
    assert await anext(stream) == ": subscribed\n\n"
    bus.publish("step", step=1)
    chunk = await anext(stream)
    lines = chunk.splitlines()
    assert lines[0] == "id: 1" and lines[1] == "event: step"
    assert json.loads(lines[2].removeprefix("data: "))["step"] == 1
    await stream.aclose()


def test_builtin_paths_honour_the_local_cluster_container_root(monkeypatch) -> None:
    monkeypatch.delenv(CONTAINER_ROOT_ENV, raising=False)
    assert builtin_path("/etc/agent/config.yaml") == Path("/etc/agent/config.yaml")
    monkeypatch.setenv(CONTAINER_ROOT_ENV, "/state/pods/p/containers/agent/root")
    assert builtin_path("/etc/agent/config.yaml") == Path(
        "/state/pods/p/containers/agent/root/etc/agent/config.yaml"
    )


def test_kube_access_sources_in_order(tmp_path: Path, monkeypatch) -> None:
    for name in ("AGENT_KUBE_API_URL", "KUBERNETES_SERVICE_HOST", "KUBECONFIG", CONTAINER_ROOT_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AGENT_SERVICEACCOUNT_DIR", str(tmp_path))
    (tmp_path / "token").write_text("sa-token\n")
    with pytest.raises(KubeAccessError, match=r"set checkpoint\.apiUrl or env AGENT_KUBE_API_URL"):
        kube_access()

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "current-context": "local",
                "contexts": [{"name": "local", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:7000"}}],
                "users": [{"name": "u", "user": {"token": "kc-token"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    from_kubeconfig = kube_access()
    assert (from_kubeconfig.api_url, from_kubeconfig.token()) == ("http://127.0.0.1:7000", "kc-token")

    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    in_cluster = kube_access()
    assert (in_cluster.api_url, in_cluster.token()) == ("https://10.96.0.1:443", "sa-token")
    assert kube_access("http://explicit:1/").api_url == "http://explicit:1"


async def test_a_corrupt_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "c").write_bytes(b"not gzip")
    persister = Persister(FileCheckpointStore(tmp_path / "c"), 4096, lambda: AgentState(agent="a"))
    with pytest.raises(CheckpointError, match=r"unreadable .* set resume: false"):
        await persister.load()
