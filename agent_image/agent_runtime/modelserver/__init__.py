"""A scripted, deterministic OpenAI-compatible model server for tests and demos.

Run it with `agent-runtime model-server --port N --scenarios FILE`.
"""
