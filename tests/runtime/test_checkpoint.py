"""Checkpoint encoding, the file store, and the Kubernetes store against the project's local API server."""

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent_runtime import exitcodes
from agent_runtime.checkpoint import CheckpointError, CheckpointTooLargeError, decode_state, encode_state
from agent_runtime.checkpoint.file_store import FileCheckpointStore
from agent_runtime.checkpoint.kube_store import DATA_KEY, KubernetesCheckpointStore
from agent_runtime.kube import KubeAccess
from agent_runtime.persistence import Persister
from agent_runtime.state import AgentState, TaskState
from localcluster.apiserver import ApiServer, ServerThread


def state_with_tool_output(size: int) -> AgentState:
    """A task whose tool result is `size` bytes of incompressible text."""
    noise = random.Random(3).randbytes(size // 2).hex()
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "tool", "tool_call_id": "1", "content": noise},
    ]
    return AgentState(agent="a", task=TaskState(id="t", prompt="u", messages=messages, step=1))


def test_encoding_round_trips() -> None:
    state = state_with_tool_output(100)
    assert decode_state(encode_state(state, 64 * 1024)) == state


def test_oversized_tool_results_are_shortened_to_fit_the_cap() -> None:
    state = state_with_tool_output(200_000)

    blob = encode_state(state, 20_000)

    assert len(blob) <= 20_000
    restored = decode_state(blob).task
    assert restored is not None
    assert restored.messages[2]["content"].endswith("[truncated to fit the checkpoint size cap]")
    assert restored.messages[:2] == state.task.messages[:2]  # type: ignore[union-attr]


def test_a_checkpoint_that_cannot_fit_is_an_error_naming_the_setting() -> None:
    state = state_with_tool_output(10)
    state.handled.update({f"id-{n}-{'x' * 50}": None for n in range(20_000)})
    with pytest.raises(CheckpointTooLargeError, match=r"checkpoint\.maxBytes=4096"):
        encode_state(state, 4096)


async def test_file_store_round_trip_and_clear(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "deep" / "agent.ckpt")
    assert await store.load() is None
    await store.save(b"one")
    await store.save(b"two")
    assert await store.load() == b"two"
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["agent.ckpt"]  # no temporary left behind
    await store.clear()
    assert await store.load() is None


async def test_file_store_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "dir.ckpt").mkdir()
    with pytest.raises(CheckpointError, match=r"dir\.ckpt"):
        await FileCheckpointStore(tmp_path / "dir.ckpt").load()


async def test_persister_groups_concurrent_saves(tmp_path: Path) -> None:
    saves: list[bytes] = []

    class SlowStore(FileCheckpointStore):
        async def save(self, blob: bytes) -> None:
            saves.append(blob)
            await asyncio.sleep(0.05)

    state = AgentState(agent="a")
    persister = Persister(SlowStore(tmp_path / "x"), 65536, lambda: state)
    persister.changed()
    first = asyncio.create_task(persister.persist())
    await asyncio.sleep(0.01)  # the first save is in flight
    for n in range(10):
        state.steps_total = n
        persister.changed()
    await asyncio.gather(first, *(persister.persist() for _ in range(10)))

    assert len(saves) == 2  # the in-flight save, then one covering all ten later changes
    assert decode_state(saves[-1]).steps_total == 9


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ServerThread(ApiServer(tmp_path_factory.mktemp("apiserver"))) as server:
        yield server


@pytest.fixture
def access(api_server: ApiServer, tmp_path: Path) -> KubeAccess:
    (tmp_path / "token").write_text("sa-token\n")
    return KubeAccess(api_url=api_server.url, serviceaccount_dir=tmp_path)


CONFIG_MAPS = "/api/v1/namespaces/default/configmaps"


async def api(server: ApiServer, method: str, path: str, body: dict | None = None) -> httpx.Response:
    """Plays the operator or another writer, straight against the API server."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await http.request(method, path, json=body)


async def test_kubernetes_store_keeps_the_blob_in_the_configmap(
    api_server: ApiServer, access: KubeAccess
) -> None:
    owner = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "k1-checkpoint", "labels": {"owned": "yes"}},
    }
    created = await api(api_server, "POST", CONFIG_MAPS, owner)
    assert created.status_code == 201  # the operator pre-creates the object
    store = KubernetesCheckpointStore(access, "default", "k1-checkpoint")

    assert await store.load() is None
    await store.save(b"\x1f\x8b binary")
    assert await store.load() == b"\x1f\x8b binary"
    stored = (await api(api_server, "GET", f"{CONFIG_MAPS}/k1-checkpoint")).json()
    assert stored["metadata"]["labels"] == {"owned": "yes"}
    assert DATA_KEY in stored["binaryData"]
    await store.clear()
    assert await store.load() is None
    # Nothing left to clear: no write (every start of a `resume: false` agent clears).
    api_server.faults.fail_next("PUT", "k1-checkpoint", status=403, count=5)
    await store.clear()
    api_server.faults.clear()
    await store.close()


async def test_kubernetes_store_rereads_on_conflict(api_server: ApiServer, access: KubeAccess) -> None:
    store = KubernetesCheckpointStore(access, "default", "k2-checkpoint")
    await store.save(b"first")  # creates the object when the operator has not
    url = f"{CONFIG_MAPS}/k2-checkpoint"
    other = (await api(api_server, "GET", url)).json()
    other["metadata"]["annotations"] = {"touched": "by someone else"}
    assert (await api(api_server, "PUT", url, other)).status_code == 200

    await store.save(b"second")  # its resourceVersion is stale: 409, reread, write again

    stored = (await api(api_server, "GET", url)).json()
    assert stored["metadata"]["annotations"] == {"touched": "by someone else"}
    assert await store.load() == b"second"
    stale = {**other, "binaryData": {}}
    assert (
        await api(api_server, "PUT", url, stale)
    ).status_code == 409  # the server does enforce resourceVersion
    await store.close()


async def test_kubernetes_store_retries_server_errors(api_server: ApiServer, access: KubeAccess) -> None:
    store = KubernetesCheckpointStore(access, "default", "k3-checkpoint")
    await store.save(b"a")
    api_server.faults.fail_next("PUT", "k3-checkpoint", status=503, count=2)
    await store.save(b"b")
    assert await store.load() == b"b"
    api_server.faults.fail_next("GET", "k3-checkpoint", status=403, count=5)
    with pytest.raises(
        CheckpointError, match=r"reading ConfigMap default/k3-checkpoint failed: HTTP 403.*get/update"
    ):
        await store.load()
    api_server.faults.clear()
    await store.close()


def test_runtime_resumes_from_the_kubernetes_store(
    api_server: ApiServer, model_server, runtimes, make_config, marker, tmp_path: Path
) -> None:
    config = make_config(
        "kube-agent",
        model_server.url,
        f"[[scenario:finish]] {marker}",
        task="job",
        tools=[{"name": "finish"}],
    )
    config["checkpoint"] = {"store": "kubernetes", "apiUrl": api_server.url}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": config["agent"]["namespace"]}}
    assert httpx.post(f"{api_server.url}/api/v1/namespaces", json=namespace).is_success
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("t")
    agent = runtimes(config, env={"AGENT_SERVICEACCOUNT_DIR": str(tmp_path / "sa")}).start()
    assert agent.wait_exit() == exitcodes.EXIT_OK

    stored = httpx.get(f"{api_server.url}/api/v1/namespaces/test/configmaps/kube-agent-checkpoint").json()
    assert DATA_KEY in stored["binaryData"]
    agent.start()
    assert agent.wait_exit() == exitcodes.EXIT_OK
    assert agent.termination()["result"] == "done: job"
    assert len(model_server.requests(marker)) == 1
