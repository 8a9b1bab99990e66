"""The Node as both Python clients read it (they refuse one missing required fields)."""

from __future__ import annotations

import json
import urllib.request

import kubernetes_asyncio.client as aclient
import kubernetes_asyncio.config as aconfig
from kubernetes import client, config

from localcluster.apiserver import ApiServer, ServerThread

REQUIRED_NODE_INFO = (
    "machine_id",
    "system_uuid",
    "boot_id",
    "kernel_version",
    "os_image",
    "container_runtime_version",
    "kubelet_version",
    "kube_proxy_version",
    "operating_system",
    "architecture",
)


def test_kubernetes_client_lists_and_reads_the_node(local_apiserver):
    with config.new_client_from_config(config_file=str(local_apiserver.kubeconfig)) as api:
        core = client.CoreV1Api(api)
        [listed] = core.list_node().items
        node = core.read_node("local")
    assert listed.metadata.name == node.metadata.name == "local"
    info = node.status.node_info
    assert all(getattr(info, name) is not None for name in REQUIRED_NODE_INFO)
    assert info.kubelet_version.startswith("v1.35")
    assert node.metadata.labels["kubernetes.io/arch"] == info.architecture
    assert {c.type for c in node.status.conditions} >= {"Ready", "MemoryPressure", "DiskPressure"}


async def test_kubernetes_asyncio_lists_and_reads_the_node(local_apiserver):
    api = await aconfig.new_client_from_config(config_file=str(local_apiserver.kubeconfig))
    async with api:
        core = aclient.CoreV1Api(api)
        listed = await core.list_node()
        node = await core.read_node("local")
    assert [n.metadata.name for n in listed.items] == ["local"]
    assert all(getattr(node.status.node_info, name) is not None for name in REQUIRED_NODE_INFO)


def test_a_node_restored_from_an_older_store_is_described_again(tmp_path):
    state = tmp_path / "state"
    thread = ServerThread(ApiServer(state, persist=True))
    thread.start()
    thread.stop()
    store = json.loads((state / "store.json").read_text())
    text = json.dumps(store)
    assert '"machineID"' in text
    (state / "store.json").write_text(text.replace('"machineID"', '"oldField"'))
    thread = ServerThread(ApiServer(state, persist=True))
    server = thread.start()
    try:
        with config.new_client_from_config(
            config_file=str(server.write_kubeconfig(tmp_path / "kubeconfig"))
        ) as api:
            node = client.CoreV1Api(api).read_node("local")
        assert node.status.node_info.machine_id
        with urllib.request.urlopen(f"{server.url}/api/v1/nodes/local") as response:
            assert "oldField" not in json.load(response)["status"]["nodeInfo"]
    finally:
        thread.stop()
