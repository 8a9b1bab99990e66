"""Pod volumes materialised as directories under the pod's state directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.kubelet.atomic import write_atomic
from localcluster.kubelet.downward import FieldRefError, PodFacts, field_value
from localcluster.kubelet.objects import ObjectSource, configmap_bytes, secret_bytes
from localcluster.kubelet.podfs import PodPaths

DEFAULT_MODE = 0o644
SUPPORTED_TYPES = ("configMap", "secret", "projected", "downwardAPI", "emptyDir", "hostPath")
# Every namespace of a real cluster has this ConfigMap (the cluster CA). The local API server is plain HTTP
# and has no CA, so a projected reference to it yields an empty ca.crt instead of blocking the pod.
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


class MountError(Exception):
    """A volume cannot be set up (reported as a FailedMount event; the pod waits in ContainerCreating)."""


@dataclass(frozen=True)
class VolumeInputs:
    """Everything a volume's content can come from."""

    facts: PodFacts
    objects: ObjectSource
    service_account_token: str

    @property
    def namespace(self) -> str:
        return str((self.facts.pod.get("metadata") or {}).get("namespace", "default"))


def _items(
    values: Mapping[str, bytes], source: Mapping[str, Any], kind: str, name: str, default_mode: int
) -> dict[str, tuple[bytes, int]]:
    items = source.get("items")
    if not items:
        return {key: (value, default_mode) for key, value in values.items()}
    selected: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in values:
            if source.get("optional", False):
                continue
            raise MountError(f"{kind.lower()} references non-existent config key: {key} ({kind} {name})")
        selected[str(item.get("path", key))] = (values[key], int(item.get("mode", default_mode)))
    return selected


def _object_files(
    inputs: VolumeInputs, kind: str, source: Mapping[str, Any], default_mode: int
) -> dict[str, tuple[bytes, int]]:
    name = str(source.get("secretName" if kind == "Secret" and "secretName" in source else "name", ""))
    if kind == "Secret":
        obj = inputs.objects.secret(inputs.namespace, name)
    else:
        obj = inputs.objects.configmap(inputs.namespace, name)
    if obj is None:
        if kind == "ConfigMap" and name == ROOT_CA_CONFIGMAP:
            return _items({"ca.crt": b""}, source, kind, name, default_mode)
        if source.get("optional", False):
            return {}
        raise MountError(f'{kind.lower()} "{name}" not found')
    values = secret_bytes(obj) if kind == "Secret" else configmap_bytes(obj)
    return _items(values, source, kind, name, default_mode)


def _downward_files(
    inputs: VolumeInputs, source: Mapping[str, Any], default_mode: int
) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {}
    for item in source.get("items") or []:
        path = str(item.get("path", ""))
        if "fieldRef" not in item:
            raise MountError(
                f"downwardAPI item {path!r}: only fieldRef is emulated (resourceFieldRef is not)"
            )
        try:
            value = field_value(inputs.facts, str(item["fieldRef"].get("fieldPath", "")), whole_maps=True)
        except FieldRefError as error:
            raise MountError(f"downwardAPI item {path!r}: {error}") from error
        files[path] = (value.encode(), int(item.get("mode", default_mode)))
    return files


def _projected_files(
    inputs: VolumeInputs, source: Mapping[str, Any], default_mode: int
) -> dict[str, tuple[bytes, int]]:
    files: dict[str, tuple[bytes, int]] = {}
    for projection in source.get("sources") or []:
        if "configMap" in projection:
            files.update(_object_files(inputs, "ConfigMap", projection["configMap"], default_mode))
        elif "secret" in projection:
            files.update(_object_files(inputs, "Secret", projection["secret"], default_mode))
        elif "downwardAPI" in projection:
            files.update(_downward_files(inputs, projection["downwardAPI"], default_mode))
        elif "serviceAccountToken" in projection:
            path = str(projection["serviceAccountToken"].get("path", "token"))
            files[path] = (inputs.service_account_token.encode(), default_mode)
        else:
            raise MountError(f"projected source {sorted(projection)} is not emulated by the local cluster")
    return files


def atomic_files(volume: Mapping[str, Any], inputs: VolumeInputs) -> dict[str, tuple[bytes, int]] | None:
    """The files of a configMap/secret/projected/downwardAPI volume; None for other volume types."""
    for kind_field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
        if kind_field in volume:
            source = volume[kind_field]
            return _object_files(inputs, kind, source, int(source.get("defaultMode", DEFAULT_MODE)))
    if "projected" in volume:
        source = volume["projected"]
        return _projected_files(inputs, source, int(source.get("defaultMode", DEFAULT_MODE)))
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        return _downward_files(inputs, source, int(source.get("defaultMode", DEFAULT_MODE)))
    return None


class PodVolumes:
    """Sets up a pod's volumes once, then refreshes the object-backed ones on demand."""

    def __init__(self, paths: PodPaths, volumes: Sequence[Mapping[str, Any]]) -> None:
        self._paths = paths
        self._volumes = volumes
        self._ready = False

    def host_dir(self, volume_name: str) -> Path:
        return self._paths.volume_dir(volume_name)

    def names(self) -> set[str]:
        return {str(volume.get("name", "")) for volume in self._volumes}

    def setup(self, inputs: VolumeInputs) -> None:
        """Create every volume; raises :class:`MountError` naming the volume that cannot be set up."""
        for volume in self._volumes:
            name = str(volume.get("name", ""))
            try:
                self._setup_one(volume, inputs)
            except (MountError, ValueError) as error:
                raise MountError(f'MountVolume.SetUp failed for volume "{name}" : {error}') from error
        self._ready = True

    def refresh(self, inputs: VolumeInputs) -> list[str]:
        """Bring object-backed volumes up to date; returns the names of those that changed.

        Like the real kubelet, a volume whose source has gone keeps its last content.
        """
        if not self._ready:
            return []
        changed: list[str] = []
        for volume in self._volumes:
            try:
                files = atomic_files(volume, inputs)
            except (MountError, ValueError):
                continue
            name = str(volume.get("name", ""))
            if files is not None and write_atomic(self.host_dir(name), files):
                changed.append(name)
        return changed

    def _setup_one(self, volume: Mapping[str, Any], inputs: VolumeInputs) -> None:
        name = str(volume.get("name", ""))
        directory = self.host_dir(name)
        files = atomic_files(volume, inputs)
        if files is not None:
            write_atomic(directory, files)
        elif "emptyDir" in volume:
            directory.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            self._link_host_path(directory, volume["hostPath"])
        else:
            kinds = sorted(set(volume) - {"name"})
            raise MountError(
                f"volume type {', '.join(kinds) or '(none)'} is not emulated by the local cluster; "
                f"supported: {', '.join(SUPPORTED_TYPES)}"
            )

    @staticmethod
    def _link_host_path(directory: Path, source: Mapping[str, Any]) -> None:
        host = Path(str(source.get("path", "")))
        if not host.is_absolute():
            raise MountError(f"hostPath.path {str(host)!r} must be absolute")
        if not host.exists():
            if source.get("type") != "DirectoryOrCreate":
                raise MountError(f"hostPath {host} does not exist (use type DirectoryOrCreate to create it)")
            host.mkdir(parents=True, exist_ok=True)
        directory.parent.mkdir(parents=True, exist_ok=True)
        if not directory.is_symlink():
            directory.symlink_to(host, target_is_directory=host.is_dir())
