"""The real-model suite (`make test-models`): llama.cpp's server with SmolLM2-135M, one per session."""

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
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


PageProbe = Callable[[str], Awaitable[bool]]
"""Whether the model, asked about this URL, calls http_get with it."""


class Pages:
    """A local web site serving fixed pages (any other path gets the first one)."""

    def __init__(self, pages: Mapping[str, bytes]) -> None:
        default = next(iter(pages.values()))

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, default)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


async def pages_the_model_copies(pages: Mapping[str, bytes], probe: PageProbe, tries: int = 10) -> Pages:
    """A site whose URLs the model copies into its http_get call.

    SmolLM2-135M copies a URL faithfully about 19 times in 20; which URLs it garbles (or answers without
    fetching) depends on the port's digits, and at temperature 0 it garbles them every time. The suite tests
    the loop, not the model, so it picks a port the model copies, asking exactly as the tests will.
    """
    for _ in range(tries):
        site = Pages(pages)
        if all([await probe(site.url + path) for path in pages]):
            return site
        site.close()
    raise AssertionError(f"the model garbled the URLs of {tries} ports in a row")
