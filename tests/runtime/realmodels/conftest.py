"""The real-model suite (`make test-models`): llama.cpp's server with SmolLM2-135M, one per session."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import eventually, free_address
from tests.runtime.realmodels.llamacpp import available


class LlamaServer:
    def __init__(self, log: Path, context: int = 2048) -> None:
        self.host, self.port = free_address()
        self.url = f"http://{self.host}:{self.port}/v1"
        command = [sys.executable, "-m", "tests.runtime.realmodels.llamacpp"]
        command += ["--host", self.host, "--port", str(self.port), "--context", str(context)]
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=out, env=os.environ.copy())
        self.log = log
        eventually(self._up, timeout=60, interval=0.1, what="llama.cpp's server to load the model")

    def _up(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()[-2000:]
        try:
            return httpx.get(f"http://{self.host}:{self.port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    if (missing := available()) is not None:
        pytest.skip(missing)
    server = LlamaServer(tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()
