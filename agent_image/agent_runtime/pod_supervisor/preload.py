"""Imported once by the forkserver, before it forks any incarnation: everything an incarnation would import.

Each incarnation is a fork of the forkserver, so it starts with all of this in memory and reaches /readyz
without importing anything (a fresh `python -m agent_runtime` spends most of its start-up importing). Listed
beyond the runtime's own modules: what its libraries import lazily on first use, during start-up (uvicorn's
HTTP protocol) or at the first model call or message (httpx's transport).
"""

import gc

import httpcore
import uvicorn.lifespan.off
import uvicorn.protocols.http.h11_impl

import agent_runtime.checkpoint.file_store
import agent_runtime.checkpoint.kube_store
import agent_runtime.logs
import agent_runtime.pod_supervisor.child
import agent_runtime.runner

__all__ = ["agent_runtime", "httpcore", "uvicorn"]

# What the forkserver holds now is shared by every incarnation copy-on-write. Freezing it keeps the garbage
# collector from touching (and so copying) those objects in each incarnation, and from scanning them again and
# again (the gc module's documentation recommends exactly this before forking).
gc.freeze()
