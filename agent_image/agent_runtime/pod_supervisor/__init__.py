"""The pod supervisor: PID 1 of an agent's container when in-place restarts are on.

It starts each incarnation of the agent as a fresh process, reports its phase and exits on the control API
(`agent_runtime.incarnation_protocol`, the contract with the operator) and stops it on request. It never
restarts an incarnation on its own: the operator decides, as it does for pods. `main` is the entry point;
docs/in-place-restarts.md describes it.

This package file stays empty so the incarnation's own module (`child`) imports nothing it does not need.
"""
