"""Node ids shared by the tree, the timeline and the page: `<namespace>/<name>`.

Kind-free on purpose: an Event names a child of a supervisor by its name only, which may be an Agent, an
AgentSupervisor or a worker, and the timeline must point at the same node the tree shows. A pool is not a
resource; its node gets a suffix no resource name can have.
"""

from __future__ import annotations


def node_id(namespace: str, name: str, *, pool: bool = False) -> str:
    return f"{namespace}/{name}" + ("#pool" if pool else "")
