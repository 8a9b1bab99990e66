"""The kubelet's pure pieces: images, env, paths, atomic volumes, phase rules, addresses, back-off."""

from __future__ import annotations

import base64
import ipaddress
import re
import sys
import tempfile
from pathlib import Path

import pytest

from localcluster.kubelet import addresses
from localcluster.kubelet.addresses import PodAddressPool
from localcluster.kubelet.atomic import write_atomic
from localcluster.kubelet.downward import PodFacts
from localcluster.kubelet.envvars import ContainerConfigError, container_env, expand
from localcluster.kubelet.images import (
    ContainerCannotRunError,
    ImagePullError,
    ImageRule,
    ImageTable,
    container_argv,
    image_repository,
    resolve_program,
)
from localcluster.kubelet.objects import StaticObjects
from localcluster.kubelet.podfs import ContainerFilesystem, PodPaths
from localcluster.kubelet.states import Running, Terminated, Waiting
from localcluster.kubelet.status import ContainerView, pod_phase
from localcluster.kubelet.timing import Backoff
from localcluster.kubelet.volumes import MountError, PodVolumes, VolumeInputs

POD = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web", "tier": "front"},
    },
    "spec": {"nodeName": "local", "serviceAccountName": "builder"},
}
FACTS = PodFacts(POD, "127.0.1.7", "127.0.0.1")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


OBJECTS = StaticObjects(
    configmaps={
        ("shop", "settings"): {"data": {"mode": "fast", "level": "3"}, "binaryData": {"blob": b64("\x00")}}
    },
    secrets={("shop", "creds"): {"data": {"password": b64("s3cret"), "user": b64("admin")}}},
)


# --- images ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("ghcr.io/org/app:1.2", "ghcr.io/org/app"),
        ("localhost:5000/app@sha256:abc", "localhost:5000/app"),
        ("busybox", "busybox"),
    ],
)
def test_image_repository_drops_tag_and_digest(image, repository):
    assert image_repository(image) == repository


def test_default_image_table_maps_the_project_images():
    table = ImageTable()
    assert table.entrypoint("ghcr.io/x/agent-supervisor-operator:0.1") == (
        "python",
        "-m",
        "agent_supervisor",
        "operator",
    )
    assert table.entrypoint("ghcr.io/x/agent-supervisor-agent:0.1") == ("python", "-m", "agent_runtime")
    with pytest.raises(ImagePullError, match=re.escape('Failed to pull image "nginx:1.27"')):
        table.entrypoint("nginx:1.27")


def test_command_wins_over_image_and_args_follow_the_entrypoint():
    table = ImageTable([ImageRule("*tool*", ("tool", "--base"))])
    assert container_argv({"image": "none", "command": ["a"], "args": ["b"]}, table) == ["a", "b"]
    assert container_argv({"image": "my/tool:1", "args": ["x"]}, table) == ["tool", "--base", "x"]


def test_image_rule_parses_cli_form_and_rejects_garbage():
    assert ImageRule.parse("*web*=python -m web") == ImageRule("*web*", ("python", "-m", "web"))
    with pytest.raises(ValueError, match="PATTERN=COMMAND"):
        ImageRule.parse("no-command=")


def test_python_maps_to_this_interpreter_and_missing_programs_cannot_run():
    assert resolve_program(["python3", "-c", "1"], None)[0] == sys.executable
    assert resolve_program(["python", "x"], None) == [sys.executable, "x"]
    with pytest.raises(ContainerCannotRunError, match='exec: "no-such-program-x": executable file not found'):
        resolve_program(["no-such-program-x"], "/usr/bin")


# --- env -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)-$(B)", "1-$(B)"),
        ("$$(A)", "$(A)"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("$()", "$()"),
    ],
)
def test_expansion_follows_kubernetes_rules(text, expanded):
    assert expand(text, {"A": "1"}.get) == expanded


def test_env_from_downward_api_objects_and_expansion():
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}},
            {"name": "URL", "value": "http://$(IP):80/$(NAME)/$(UNSET)"},
        ],
    }
    env = container_env(FACTS, container, OBJECTS, {"BASE": "b"})
    assert env == {
        "BASE": "b",
        "CFG_mode": "fast",
        "CFG_level": "3",
        "NAME": "web-1",
        "TIER": "front",
        "IP": "127.0.1.7",
        "SA": "builder",
        "PW": "s3cret",
        "MODE": "fast",
        "URL": "http://127.0.1.7:80/web-1/$(UNSET)",
    }


@pytest.mark.parametrize(
    ("value_from", "message"),
    [
        ({"secretKeyRef": {"name": "gone", "key": "k"}}, 'secret "gone" not found'),
        ({"secretKeyRef": {"name": "creds", "key": "k"}}, "couldn't find key k in Secret shop/creds"),
        (
            {"configMapKeyRef": {"name": "settings", "key": "k"}},
            "couldn't find key k in ConfigMap shop/settings",
        ),
        ({"fieldRef": {"fieldPath": "spec.bogus"}}, "unsupported fieldRef fieldPath 'spec.bogus'"),
        ({"resourceFieldRef": {"resource": "limits.cpu"}}, "resourceFieldRef is not emulated"),
    ],
)
def test_env_errors_name_the_missing_piece(value_from, message):
    with pytest.raises(ContainerConfigError, match=message):
        container_env(FACTS, {"env": [{"name": "X", "valueFrom": value_from}]}, OBJECTS, {})


# --- paths -----------------------------------------------------------------------------------------------


def test_container_paths_map_into_mounts_or_the_container_root(tmp_path):
    fs = ContainerFilesystem(tmp_path / "root")
    fs.add_mount("/etc/config", tmp_path / "vol-config")
    fs.add_mount("/etc/config/extra", tmp_path / "vol-extra")
    assert fs.host_path("/etc/config/a.yaml") == tmp_path / "vol-config" / "a.yaml"
    assert fs.host_path("/etc/config/extra/b") == tmp_path / "vol-extra" / "b"
    assert fs.host_path("/dev/termination-log") == tmp_path / "root" / "dev" / "termination-log"
    with pytest.raises(ValueError, match="absolute"):
        fs.add_mount("relative/path", tmp_path)


def test_rewriter_replaces_whole_paths_only(tmp_path):
    fs = ContainerFilesystem(tmp_path / "root")
    fs.add_mount("/etc/config", tmp_path / "cfg")
    rewrite = fs.rewriter(["/dev/termination-log"]).rewrite
    assert rewrite("--config=/etc/config/a.yaml") == f"--config={tmp_path}/cfg/a.yaml"
    assert rewrite("open('/dev/termination-log','w')") == f"open('{tmp_path}/root/dev/termination-log','w')"
    assert rewrite("/etc/configuration /x/etc/config /etc/config.bak") == (
        "/etc/configuration /x/etc/config /etc/config.bak"
    )


def test_materialize_links_mounts_under_the_root(tmp_path):
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "f").write_text("hi")
    fs = ContainerFilesystem(tmp_path / "root")
    fs.add_mount("/data/in", volume)
    fs.materialize()
    fs.materialize()
    assert (tmp_path / "root" / "data" / "in" / "f").read_text() == "hi"


# --- atomic writer and volumes -----------------------------------------------------------------------------


def test_atomic_writer_swaps_data_and_drops_stale_names(tmp_path):
    target = tmp_path / "vol"
    assert write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    first = (target / "..data").readlink()
    assert (target / "a").read_text() == "1"
    assert (target / "dir" / "b").read_text() == "2"
    assert ((target / "dir" / "b").stat().st_mode & 0o777) == 0o600
    assert not write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert write_atomic(target, {"a": (b"changed", 0o644)})
    assert (target / "..data").readlink() != first
    assert not (target / first).exists()
    assert (target / "a").read_text() == "changed"
    assert not (target / "dir").exists()
    with pytest.raises(ValueError, match="relative"):
        write_atomic(target, {"../escape": (b"", 0o644)})


def _volumes(tmp_path: Path, volumes: list[dict]) -> PodVolumes:
    return PodVolumes(PodPaths(tmp_path, "shop", "web-1", "u-1"), volumes)


def test_object_volumes_have_items_modes_and_decoded_values(tmp_path):
    volumes = _volumes(
        tmp_path,
        [
            {
                "name": "cfg",
                "configMap": {"name": "settings", "items": [{"key": "mode", "path": "conf/mode"}]},
            },
            {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {
                "name": "proj",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {
                            "downwardAPI": {
                                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                            }
                        },
                    ]
                },
            },
            {"name": "scratch", "emptyDir": {}},
        ],
    )
    volumes.setup(VolumeInputs(FACTS, OBJECTS, "tok-123"))
    assert (volumes.host_dir("cfg") / "conf" / "mode").read_text() == "fast"
    assert not (volumes.host_dir("cfg") / "level").exists()
    assert (volumes.host_dir("sec") / "password").read_text() == "s3cret"
    assert ((volumes.host_dir("sec") / "password").stat().st_mode & 0o777) == 0o400
    assert (volumes.host_dir("proj") / "token").read_text() == "tok-123"
    assert (volumes.host_dir("proj") / "labels").read_text() == 'app="web"\ntier="front"'
    assert volumes.host_dir("scratch").is_dir()


def test_refresh_follows_changes_and_keeps_content_when_the_source_is_gone(tmp_path):
    objects = StaticObjects(configmaps={("shop", "settings"): {"data": {"mode": "fast"}}})
    volumes = _volumes(tmp_path, [{"name": "cfg", "configMap": {"name": "settings"}}])
    inputs = VolumeInputs(FACTS, objects, "")
    volumes.setup(inputs)
    objects.configmaps[("shop", "settings")] = {"data": {"mode": "slow"}}
    assert volumes.refresh(inputs) == ["cfg"]
    assert (volumes.host_dir("cfg") / "mode").read_text() == "slow"
    del objects.configmaps[("shop", "settings")]
    assert volumes.refresh(inputs) == []
    assert (volumes.host_dir("cfg") / "mode").read_text() == "slow"


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"name": "v", "configMap": {"name": "missing"}}, 'volume "v" : configmap "missing" not found'),
        (
            {"name": "v", "configMap": {"name": "settings", "items": [{"key": "nokey", "path": "p"}]}},
            "non-existent config key: nokey",
        ),
        ({"name": "v", "persistentVolumeClaim": {"claimName": "c"}}, "persistentVolumeClaim is not emulated"),
    ],
)
def test_volume_errors_name_the_volume(tmp_path, volume, message):
    with pytest.raises(MountError, match=message):
        _volumes(tmp_path, [volume]).setup(VolumeInputs(FACTS, OBJECTS, ""))


def test_optional_missing_objects_give_empty_volumes(tmp_path):
    volumes = _volumes(tmp_path, [{"name": "v", "secret": {"secretName": "missing", "optional": True}}])
    volumes.setup(VolumeInputs(FACTS, OBJECTS, ""))
    assert (volumes.host_dir("v") / "..data").is_dir()
    assert [p.name for p in volumes.host_dir("v").iterdir() if not p.name.startswith("..")] == []


# --- phase -----------------------------------------------------------------------------------------------


def _view(state, *, finished=False, restarted=False):
    return ContainerView("c", state, finished, restarted, False)


DONE_OK = Terminated(0, "Completed", "t", "t")
DONE_ERR = Terminated(1, "Error", "t", "t")


@pytest.mark.parametrize(
    ("policy", "views", "phase"),
    [
        ("Always", [_view(Waiting("ContainerCreating"))], "Pending"),
        ("Always", [_view(Running("t"))], "Running"),
        ("Always", [_view(Waiting("CrashLoopBackOff"), restarted=True)], "Running"),
        ("Never", [_view(DONE_OK, finished=True), _view(DONE_OK, finished=True)], "Succeeded"),
        ("Never", [_view(DONE_OK, finished=True), _view(DONE_ERR, finished=True)], "Failed"),
        ("Never", [_view(DONE_OK, finished=True), _view(Running("t"))], "Running"),
        ("OnFailure", [_view(DONE_ERR), _view(DONE_OK, finished=True)], "Running"),
        ("OnFailure", [_view(DONE_OK, finished=True)], "Succeeded"),
    ],
)
def test_pod_phase(policy, views, phase):
    assert pod_phase(policy, views, initialized=True, init_failed=False, stopped_by_kubelet=False) == phase


def test_pod_phase_before_init_after_init_failure_and_after_deletion():
    running = [_view(Running("t"))]
    assert (
        pod_phase("Always", running, initialized=False, init_failed=False, stopped_by_kubelet=False)
        == "Pending"
    )
    assert (
        pod_phase("Never", running, initialized=False, init_failed=True, stopped_by_kubelet=False) == "Failed"
    )
    killed = [_view(Terminated(143, "Error", "t", "t"), finished=True)]
    assert (
        pod_phase("Always", killed, initialized=True, init_failed=False, stopped_by_kubelet=True) == "Failed"
    )


# --- addresses and back-off -----------------------------------------------------------------------------


def test_pod_addresses_are_unique_loopback_and_reused_after_release():
    pool = PodAddressPool(ipaddress.IPv4Address("127.0.1.1"))
    first = pool.allocate("a")
    assert first == "127.0.1.1"
    assert pool.allocate("a") == first
    addresses = {pool.allocate(str(i)) for i in range(300)}
    assert len(addresses) == 300
    assert not any(address.endswith((".0", ".255")) for address in addresses)
    pool.release("a")
    assert first not in addresses


def test_backoff_first_restart_is_immediate_then_doubles_to_the_cap():
    backoff = Backoff(10, 40)
    assert [backoff.next_delay(1) for _ in range(5)] == [0, 10, 20, 40, 40]
    assert backoff.next_delay(80) == 0


def test_two_pools_start_in_their_own_random_slash_16_and_wrap_around():
    starts = {PodAddressPool().allocate("a").rsplit(".", 2)[0] for _ in range(20)}
    assert len(starts) > 1, "every pool started in the same /16"
    assert all(
        ipaddress.IPv4Address(f"{start}.0.1") in ipaddress.IPv4Network("127.0.0.0/8") for start in starts
    )
    near_the_end = PodAddressPool(ipaddress.IPv4Address("127.255.255.253"))
    assert [near_the_end.allocate(str(i)) for i in range(3)] == [
        "127.255.255.253",
        "127.255.255.254",
        "127.0.1.1",
    ]


def slash_16(pool: PodAddressPool) -> str:
    return pool.allocate("probe").rsplit(".", 2)[0]


def test_live_pools_never_share_a_slash_16_and_a_closed_pool_frees_its_own(monkeypatch, tmp_path):
    # The lock files in a directory of this test's own, so that clusters of other test runs on the machine
    # take no /16 from it.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live = [PodAddressPool() for _ in range(100)]
    # 100 random picks of 254 without the locks would repeat one almost surely (p > 0.9999).
    assert len({slash_16(pool) for pool in live}) == 100
    first = slash_16(live[0])
    live[0].close()
    second_octet = int(first.split(".")[1])
    reopened = addresses._try_lock(second_octet)
    assert reopened is not None, f"{first}.0.0/16 still held after close()"
    reopened.close()


def test_a_pool_still_gets_addresses_when_no_slash_16_can_be_locked(monkeypatch):
    # Every /16 held by others, or a temporary directory that cannot be written.
    monkeypatch.setattr(addresses, "_try_lock", lambda second_octet: None)
    assert ipaddress.IPv4Address(PodAddressPool().allocate("a")) in ipaddress.IPv4Network("127.0.0.0/8")


def test_the_first_pod_address_can_be_pinned_to_a_loopback_address(monkeypatch):
    monkeypatch.setenv("LOCALCLUSTER_FIRST_POD_IP", "127.0.1.1")
    assert PodAddressPool().allocate("a") == "127.0.1.1"
    monkeypatch.setenv("LOCALCLUSTER_FIRST_POD_IP", "10.0.0.1")
    with pytest.raises(ValueError, match=r"FIRST_POD_IP=10\.0\.0\.1: pod addresses must be loopback"):
        PodAddressPool()
