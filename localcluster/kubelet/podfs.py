"""Where a pod's files live on the host, and how container paths map onto them.

A local process cannot mount anything, so each container gets its own root directory on the host
(``<pod dir>/containers/<name>/root``). A volumeMount at ``/etc/config`` becomes a symlink at
``<root>/etc/config`` pointing at the volume's directory, and the container learns its root from the env
``LOCALCLUSTER_ROOT``. Paths that the pod spec itself names (command, args, env values, workingDir, exec
probes, terminationMessagePath) are rewritten from the container view to the host view, so the common case —
a program told where its config is — works unchanged. Host paths outside the state directory are never
touched: two pods mounting the same path would otherwise fight over it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOT_ENV = "LOCALCLUSTER_ROOT"
PID_FILE = "pid"


def pod_dir_name(namespace: str, name: str, uid: str) -> str:
    """The directory name shared with the API server's log reader (see lc-arch: pods/<ns>_<name>_<uid>)."""
    return f"{namespace}_{name}_{uid}"


@dataclass(frozen=True)
class PodPaths:
    """The host directories of one pod."""

    pods_dir: Path
    namespace: str
    name: str
    uid: str

    @property
    def pod_dir(self) -> Path:
        return self.pods_dir / pod_dir_name(self.namespace, self.name, self.uid)

    @property
    def volumes_dir(self) -> Path:
        return self.pod_dir / "volumes"

    def volume_dir(self, volume_name: str) -> Path:
        return self.volumes_dir / volume_name

    def log_path(self, container_name: str) -> Path:
        return self.pod_dir / f"{container_name}.log"

    def container_root(self, container_name: str) -> Path:
        return self.pod_dir / "containers" / container_name / "root"

    def pid_file(self, container_name: str) -> Path:
        """Where the running process of a container is recorded (see orphans.py)."""
        return self.pod_dir / "containers" / container_name / PID_FILE

    def kubeconfig_path(self) -> Path:
        return self.pod_dir / "kubeconfig"


def _container_relative(container_path: str) -> PurePosixPath:
    path = PurePosixPath(container_path)
    if not path.is_absolute():
        raise ValueError(f"mountPath {container_path!r} must be an absolute path")
    parts = [part for part in path.parts[1:] if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"mountPath {container_path!r} must not contain '..'")
    return PurePosixPath(*parts) if parts else PurePosixPath()


@dataclass
class ContainerFilesystem:
    """Translates container paths (as written in the pod spec) to host paths for one container."""

    root: Path
    # container path -> host path, for every mount; longest prefixes are matched first
    mounts: dict[str, Path] = field(default_factory=dict)

    def add_mount(self, mount_path: str, host_target: Path) -> None:
        relative = _container_relative(mount_path)
        if not relative.parts:
            raise ValueError(f"mountPath {mount_path!r} cannot be the container's root directory")
        self.mounts[str(PurePosixPath("/") / relative)] = host_target

    def host_path(self, container_path: str) -> Path:
        """The host path a container path refers to: inside a mount, or else under the container root."""
        normalized = str(PurePosixPath("/") / _container_relative(container_path))
        for mount_path in sorted(self.mounts, key=len, reverse=True):
            if normalized == mount_path:
                return self.mounts[mount_path]
            if normalized.startswith(mount_path + "/"):
                return self.mounts[mount_path] / normalized[len(mount_path) + 1 :]
        return self.root / _container_relative(container_path)

    def materialize(self) -> None:
        """Create the root and one symlink per mount, so the container view exists on the host."""
        self.root.mkdir(parents=True, exist_ok=True)
        for mount_path, target in self.mounts.items():
            link = self.root / _container_relative(mount_path)
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(link.readlink()) == target:
                    continue
                link.unlink()
            link.symlink_to(target, target_is_directory=target.is_dir())

    def rewriter(self, extra_paths: Iterable[str] = ()) -> PathRewriter:
        return PathRewriter({path: self.host_path(path) for path in [*self.mounts, *extra_paths]})


class PathRewriter:
    """Replaces container paths that appear in a string with their host paths.

    A path is replaced only where it stands as a whole path (not as part of a longer name), so that
    ``/etc/config`` changes in ``--config=/etc/config/a.yaml`` or ``open('/etc/config')`` but not in
    ``/etc/configuration``.
    """

    def __init__(self, mapping: dict[str, Path]) -> None:
        self._mapping = {path: str(host) for path, host in mapping.items()}
        ordered = sorted(self._mapping, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![\w.~/-])(" + "|".join(re.escape(p) for p in ordered) + r")(?![\w.-])")
            if ordered
            else None
        )

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self._mapping[match.group(1)], text)
