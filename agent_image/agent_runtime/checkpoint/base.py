"""The checkpoint store interface every backend implements."""

from typing import Protocol


class CheckpointError(Exception):
    """The checkpoint store cannot be read or written; the message says which store and why."""


class CheckpointStore(Protocol):
    """Stores one opaque, already compressed blob per agent."""

    async def load(self) -> bytes | None:
        """The last saved blob, or None when nothing was saved."""
        ...

    async def save(self, blob: bytes) -> None:
        """Replace the stored blob; returns only once it is durable."""
        ...

    async def clear(self) -> None:
        """Forget the stored blob (a clean restart)."""
        ...

    async def close(self) -> None: ...


class NoCheckpointStore:
    """`store: none`: nothing survives a restart."""

    async def load(self) -> bytes | None:
        return None

    async def save(self, blob: bytes) -> None:
        return None

    async def clear(self) -> None:
        return None

    async def close(self) -> None:
        return None
