"""File checkpoint backend (tests and development): atomic replace, fsynced."""

import asyncio
import os
from pathlib import Path

from agent_runtime.checkpoint.base import CheckpointError


class FileCheckpointStore:
    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)

    async def load(self) -> bytes | None:
        try:
            return await asyncio.to_thread(self._path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CheckpointError(f"cannot read checkpoint file {str(self._path)!r}: {err.strerror}") from err

    async def save(self, blob: bytes) -> None:
        try:
            await asyncio.to_thread(self._write, blob)
        except OSError as err:
            raise CheckpointError(
                f"cannot write checkpoint file {str(self._path)!r}: {err.strerror}"
            ) from err

    def _write(self, blob: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(self._path.name + ".tmp")
        with temporary.open("wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        # A crash leaves either the old or the new checkpoint, never a torn one.
        temporary.replace(self._path)

    async def clear(self) -> None:
        await asyncio.to_thread(self._path.unlink, missing_ok=True)

    async def close(self) -> None:
        return None
