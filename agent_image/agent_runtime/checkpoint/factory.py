"""Build the checkpoint store a config asks for."""

from agent_runtime.checkpoint.base import CheckpointError, CheckpointStore, NoCheckpointStore
from agent_runtime.checkpoint.file_store import FileCheckpointStore
from agent_runtime.config import RuntimeConfig
from agent_runtime.kube import KubeAccessError, kube_access


def open_store(config: RuntimeConfig) -> CheckpointStore:
    settings = config.checkpoint
    if settings.store == "file":
        assert settings.path is not None  # enforced by CheckpointConfig
        return FileCheckpointStore(settings.path)
    if settings.store == "kubernetes":
        try:
            access = kube_access(settings.api_url)
        except KubeAccessError as err:
            raise CheckpointError(f"checkpoint.store kubernetes: {err}") from err
        from agent_runtime.checkpoint.kube_store import KubernetesCheckpointStore  # it imports httpx

        return KubernetesCheckpointStore(access, config.agent.namespace, config.checkpoint_config_map)
    return NoCheckpointStore()
