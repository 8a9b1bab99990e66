"""Imported once by the forkserver, before it forks any incarnation: everything an incarnation would import.

Each incarnation is a fork of the forkserver, so it starts with all of this in memory and reaches /readyz
without importing anything (a fresh `python -m agent_runtime` spends most of its start-up importing). Listed
beyond what the runtime imports at start-up: what is imported on first use, during start-up (uvicorn's HTTP
protocol) or at the first model call, message or checkpoint (httpx, its transport, the Kubernetes store, and
anyio's asyncio backend, which anyio imports at the first request: about 25 ms of an incarnation's CPU
before /readyz, as its checkpoint is read through the Kubernetes store).
"""

import contextlib
import gc
import ssl

import anyio._backends._asyncio
import anyio.lowlevel
import anyio.streams.memory
import anyio.streams.stapled
import anyio.streams.tls
import httpcore
import httpx
import uvicorn.lifespan.off
import uvicorn.protocols.http.h11_impl

import agent_runtime.checkpoint.file_store
import agent_runtime.checkpoint.kube_store
import agent_runtime.logs
import agent_runtime.pod_supervisor.child
import agent_runtime.runner
import agent_runtime.tools.http_get
from agent_runtime import kube, tls, tracing
from agent_runtime.config import ConfigError, config_path_from_env, load_config

# The TLS contexts every incarnation's clients use (tls.py): built here once instead of in each of them.
tls.client_context()

# The MCP client costs an incarnation about 0.85 s to import and a pod about 26 MiB: preloaded only for an
# agent whose config (as the forkserver starts) names MCP servers. One that gains them later imports it then.
with contextlib.suppress(ConfigError, OSError):
    if load_config(config_path_from_env()).mcp_servers:
        import mcp.client.session
        import mcp.client.sse
        import mcp.client.streamable_http  # noqa: F401
# OpenTelemetry (about 0.3 s to import with its exporter) only when the pod's environment asks for traces.
if tracing.requested():
    import opentelemetry.exporter.otlp.proto.http.trace_exporter
    import opentelemetry.sdk.trace.export
    import opentelemetry.trace.propagation.tracecontext  # noqa: F401
with contextlib.suppress(OSError, ssl.SSLError, ValueError, kube.KubeAccessError):
    ca = kube.kube_access().ca_file
    if ca is not None:
        tls.client_context(str(ca))

__all__ = ["agent_runtime", "anyio", "httpcore", "httpx", "uvicorn"]

# What the forkserver holds now is shared by every incarnation copy-on-write. Freezing it keeps the garbage
# collector from touching (and so copying) those objects in each incarnation, and from scanning them again and
# again (the gc module's documentation recommends exactly this before forking).
gc.freeze()
