"""Durable agent checkpoints: one interface, a file backend and a Kubernetes ConfigMap backend."""

from agent_runtime.checkpoint.base import CheckpointError, CheckpointStore, NoCheckpointStore
from agent_runtime.checkpoint.codec import CheckpointTooLargeError, decode_state, encode_state

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "CheckpointTooLargeError",
    "NoCheckpointStore",
    "decode_state",
    "encode_state",
]
