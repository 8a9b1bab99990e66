"""What an incarnation does before /readyz costs no more than it must (issue 12): YAML is parsed by libyaml
with the pure-Python loader's results, the TLS context is built once per process, and an incarnation forked
from the pod supervisor's forkserver imports nothing on the way to reading its checkpoint."""

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agent_runtime import fast_yaml, tls

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(documents)
def test_fast_yaml_reads_what_the_python_loader_reads(document: object) -> None:
    text = yaml.safe_dump(document)
    assert fast_yaml.safe_load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["a: [1, 2", "key: value\n  bad: indent", "!!python/object:os.system x"])
def test_fast_yaml_refuses_what_the_python_loader_refuses(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        fast_yaml.safe_load(text)


def test_the_default_tls_context_is_one_object_however_it_is_asked_for() -> None:
    # The Kubernetes client asks with an explicit None; the forkserver preloads it without arguments.
    assert tls.client_context(None) is tls.client_context()


@pytest.fixture
def api_server() -> Iterator[str]:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


READ_A_CHECKPOINT = """
import asyncio, sys
import agent_runtime.pod_supervisor.preload
from agent_runtime.checkpoint.kube_store import KubernetesCheckpointStore
from agent_runtime.kube import kube_access

before = set(sys.modules)

async def main():
    store = KubernetesCheckpointStore(kube_access(), "default", "a-checkpoint")
    assert await store.load() is None
    await store.close()

asyncio.run(main())
print(sorted(set(sys.modules) - before))
"""


def test_reading_a_checkpoint_after_the_preload_imports_nothing(api_server: str) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AGENT_", "KUBE"))}
    environment["AGENT_KUBE_API_URL"] = api_server
    done = subprocess.run(
        [sys.executable, "-c", READ_A_CHECKPOINT], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", "imported on the way to /readyz, not preloaded"
