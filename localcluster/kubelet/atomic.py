"""Atomic updates of a directory of files, in the layout the real kubelet uses for configMap/secret volumes.

``<dir>/..data`` is a symlink to a timestamped directory holding the files; each visible name is a symlink
through ``..data``. An update writes a new timestamped directory and swaps ``..data`` with one rename, so a
reader sees either the old or the new set of files, never a mix. Hand-written because it is the kubelet's
specific on-disk contract (programs watch ``..data`` to learn about updates); no library offers it.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

DATA_LINK = "..data"

FileSet = Mapping[str, tuple[bytes, int]]
"""Relative path -> (content, permission bits)."""


def _read_tree(directory: Path) -> dict[str, tuple[bytes, int]]:
    found: dict[str, tuple[bytes, int]] = {}
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            found[path.relative_to(directory).as_posix()] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return found


def _check_relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or not relative.parts
        or relative.parts[0].startswith("..")
    ):
        raise ValueError(f"volume item path {path!r} must be relative, without '..', and not start with '..'")
    return relative


def write_atomic(target: Path, files: FileSet) -> bool:
    """Make ``target`` hold exactly ``files``; returns whether anything changed."""
    checked = {path: _check_relative(path) for path in files}
    wanted = {path: (content, mode & 0o777) for path, (content, mode) in files.items()}
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / DATA_LINK
    old_dir = target / data_link.readlink() if data_link.is_symlink() else None
    if old_dir is not None and old_dir.is_dir() and _read_tree(old_dir) == wanted:
        return False

    new_dir = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{uuid.uuid4().hex[:8]}"
    new_dir.mkdir()
    for path, (content, mode) in wanted.items():
        file_path = new_dir / checked[path]
        file_path.parent.mkdir(parents=True, exist_ok=True)
        file_path.write_bytes(content)
        file_path.chmod(mode)

    staging_link = target / "..data_tmp"
    staging_link.unlink(missing_ok=True)
    staging_link.symlink_to(new_dir.name, target_is_directory=True)
    staging_link.replace(data_link)

    visible = {relative.parts[0] for relative in checked.values()}
    for name in visible:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"{DATA_LINK}/{name}")
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in visible:
            entry.unlink()
    if old_dir is not None and old_dir != new_dir:
        shutil.rmtree(old_dir, ignore_errors=True)
    return True
