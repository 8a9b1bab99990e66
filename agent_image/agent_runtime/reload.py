"""Hot reload: notice a changed config file (or a reload call) and hand it to the agent.

ConfigMap volumes are updated by an atomic symlink swap, so the file is compared by content, not by mtime.
"""

import asyncio
import logging
from pathlib import Path

from agent_runtime.agent import Agent
from agent_runtime.config import ConfigError, RuntimeConfig, load_config

log = logging.getLogger(__name__)


class ConfigReloader:
    def __init__(self, path: Path, agent: Agent) -> None:
        self._path = path
        self._agent = agent
        self._seen = self._read()

    def _read(self) -> bytes | None:
        try:
            return self._path.read_bytes()
        except OSError:
            return None

    def reload_now(self) -> RuntimeConfig:
        """Read the file and queue it for the next step boundary; ConfigError when it cannot be used."""
        self._seen = self._read()
        config = load_config(self._path)
        self._agent.request_reload(config)
        return config

    async def watch(self, interval_seconds: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            content = await asyncio.to_thread(self._read)
            if content is None or content == self._seen:
                continue
            try:
                config = self.reload_now()
            except ConfigError as err:
                self._agent.record_error(f"config change not applied: {err}")
            else:
                log.info("config file changed: revision %s queued", config.revision)
