"""agent-supervisor: Erlang/OTP-style supervision trees for LLM agents on Kubernetes."""

__version__ = "0.1.0"
