"""One pod on the local node: its sandbox (directories, volumes), init containers, then containers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import aiohttp

from localcluster.apiserver.kubeconfig import write_kubeconfig
from localcluster.apiserver.service_dns_proxy import DIRECT_HOSTS, pod_proxy_url
from localcluster.kubelet.config import KubeletConfig
from localcluster.kubelet.container import ContainerRunner, LaunchPlan
from localcluster.kubelet.downward import PodFacts
from localcluster.kubelet.envvars import container_env, expand, with_service_proxy
from localcluster.kubelet.images import ContainerCannotRunError, container_argv, resolve_program
from localcluster.kubelet.objects import ObjectSource
from localcluster.kubelet.podfs import ROOT_ENV, ContainerFilesystem, PathRewriter, PodPaths
from localcluster.kubelet.probes import ProbeResult, ProbeTarget, run_command, run_probe
from localcluster.kubelet.states import timestamp
from localcluster.kubelet.status import ContainerView, pod_conditions, pod_phase
from localcluster.kubelet.timing import Backoff, Notifier
from localcluster.kubelet.volumes import MountError, PodVolumes, VolumeInputs

SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_VOLUME = "kube-api-access-local"
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"
DEFAULT_GRACE_SECONDS = 30.0
MOUNT_RETRY_SECONDS = 2.0
NODE_SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown."

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    """Receives kubelet events about a pod (the kubelet writes them to the API)."""

    def record(
        self, pod: Mapping[str, Any], event_type: str, reason: str, message: str, field_path: str | None
    ) -> None: ...


def _with_service_account(pod: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and containers, plus the service account mount a real API server would inject."""
    spec = pod.get("spec") or {}
    volumes = [dict(v) for v in spec.get("volumes") or []]
    containers = [dict(c) for c in spec.get("containers") or []]
    init_containers = [dict(c) for c in spec.get("initContainers") or []]
    if spec.get("automountServiceAccountToken") is False:
        return volumes, init_containers + containers
    mounted = any(
        str(m.get("mountPath", "")).rstrip("/") == SERVICE_ACCOUNT_PATH
        for c in init_containers + containers
        for m in c.get("volumeMounts") or []
    )
    if mounted:
        return volumes, init_containers + containers
    volumes.append(
        {
            "name": SERVICE_ACCOUNT_VOLUME,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                        }
                    },
                ]
            },
        }
    )
    mount = {"name": SERVICE_ACCOUNT_VOLUME, "mountPath": SERVICE_ACCOUNT_PATH, "readOnly": True}
    for container in init_containers + containers:
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]
    return volumes, init_containers + containers


class PodWorker:
    """Runs one pod's containers as local processes and reports its status."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        *,
        config: KubeletConfig,
        pod_ip: str,
        objects: ObjectSource,
        events: EventSink,
        on_change: Callable[[], None],
        http: aiohttp.ClientSession,
    ) -> None:
        self.pod: Mapping[str, Any] = pod
        metadata = pod.get("metadata") or {}
        self.namespace = str(metadata.get("namespace", "default"))
        self.name = str(metadata.get("name", ""))
        self.uid = str(metadata.get("uid", ""))
        self.pod_ip = pod_ip
        self.paths = PodPaths(config.pods_dir, self.namespace, self.name, self.uid)
        self._config = config
        self._objects = objects
        self._events = events
        self._on_change = on_change
        self._http = http
        spec = pod.get("spec") or {}
        self.restart_policy = str(spec.get("restartPolicy", "Always"))
        self.pod_label = f"{self.name}_{self.namespace}({self.uid})"
        self._grace = float(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
        volumes, all_containers = _with_service_account(pod)
        self._volumes = PodVolumes(self.paths, volumes)
        init_names = {str(c.get("name")) for c in spec.get("initContainers") or []}
        has_init = bool(init_names)
        self._init_runners: list[ContainerRunner] = []
        self._runners: list[ContainerRunner] = []
        for container in all_containers:
            is_init = str(container.get("name")) in init_names
            runner = ContainerRunner(
                container,
                self,
                self.paths.log_path(str(container.get("name"))),
                self.paths.pid_file(str(container.get("name"))),
                init=is_init,
                initial_reason="PodInitializing" if has_init else "ContainerCreating",
            )
            (self._init_runners if is_init else self._runners).append(runner)
        self._filesystems: dict[str, ContainerFilesystem] = {}
        self._inputs_changed = Notifier()
        self._stopping = asyncio.Event()
        self._sandbox_ready = False
        self._initialized = not self._init_runners
        self._init_failed = False
        self._start_time = timestamp()
        self._task: asyncio.Task[None] | None = None
        self._mount_error = ""
        self._node_shutdown = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")
        self._task.add_done_callback(self._log_crash)

    def _log_crash(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("pod %s/%s worker failed", self.namespace, self.name, exc_info=task.exception())
        self.changed()

    @property
    def done(self) -> bool:
        """True once no container of the pod will run again."""
        return self._task is not None and self._task.done()

    async def terminate(self, grace_seconds: float | None = None, *, node_shutdown: bool = False) -> None:
        """Stop all containers (preStop, SIGTERM, SIGKILL after the grace period); wait for the pod to end.

        ``node_shutdown``: the node stops; the pod ends Failed, as in a kubelet's graceful node shutdown.
        """
        if grace_seconds is not None:
            self._grace = grace_seconds
        self._node_shutdown = node_shutdown
        self._stopping.set()
        for runner in self._init_runners + self._runners:
            runner.request_stop()
        self._inputs_changed.notify()
        await asyncio.gather(*(r.stop(self._grace) for r in self._init_runners + self._runners))
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.changed()

    def kill(self, sig: int, container: str | None = None) -> list[str]:
        """Send ``sig`` to the process group of one container (or all); returns the names signalled."""
        runners = self._init_runners + self._runners
        names = [r.name for r in runners]
        if container is not None and container not in names:
            raise KeyError(f"pod {self.namespace}/{self.name} has no container {container!r}; it has {names}")
        return [r.name for r in runners if (container is None or r.name == container) and r.send_signal(sig)]

    def container(self, name: str) -> ContainerRunner:
        """A container of this pod by name; KeyError with kube-apiserver's wording when there is none."""
        for runner in self._init_runners + self._runners:
            if runner.name == name:
                return runner
        raise KeyError(f"container {name} is not valid for pod {self.name}")

    def exec_plan(self, runner: ContainerRunner) -> tuple[LaunchPlan, PathRewriter]:
        """The process environment of a container (as its own process gets it) and its path mapping."""
        return self.plan(runner.spec), self._filesystems[runner.name].rewriter()

    def update_pod(self, pod: Mapping[str, Any]) -> None:
        """Take the newest manifest (labels and annotations feed downwardAPI volumes)."""
        self.pod = pod
        self.inputs_changed()

    def inputs_changed(self) -> None:
        """ConfigMaps, Secrets or the pod changed: refresh volumes and retry containers waiting on them."""
        if self._sandbox_ready:
            self._volumes.refresh(self._volume_inputs())
        self._inputs_changed.notify()

    async def _run(self) -> None:
        if not await self._setup_sandbox():
            return
        for runner in self._init_runners:
            result = await runner.run()
            if result is None:
                return
            if result.exit_code != 0:
                self._init_failed = True
                self.changed()
                return
        self._initialized = True
        self.changed()
        await asyncio.gather(*(runner.run() for runner in self._runners))

    async def _setup_sandbox(self) -> bool:
        self.paths.pod_dir.mkdir(parents=True, exist_ok=True)
        self._write_kubeconfig()
        while not self._stopping.is_set():
            try:
                self._volumes.setup(self._volume_inputs())
                for runner in self._init_runners + self._runners:
                    self._filesystems[runner.name] = self._filesystem(runner.spec)
                    self._filesystems[runner.name].materialize()
            except MountError as error:
                if str(error) != self._mount_error:
                    self._mount_error = str(error)
                    self._events.record(self.pod, "Warning", "FailedMount", str(error), None)
                await self._inputs_changed.wait(MOUNT_RETRY_SECONDS)
                continue
            self._sandbox_ready = True
            self.changed()
            return True
        return False

    def _filesystem(self, container: Mapping[str, Any]) -> ContainerFilesystem:
        name = str(container.get("name"))
        filesystem = ContainerFilesystem(self.paths.container_root(name))
        for mount in container.get("volumeMounts") or []:
            volume = str(mount.get("name", ""))
            if volume not in self._volumes.names():
                raise MountError(f'container "{name}": volumeMount "{volume}" names no volume of the pod')
            target = self._volumes.host_dir(volume)
            if mount.get("subPath"):
                target = target / PurePosixPath(str(mount["subPath"]))
            try:
                filesystem.add_mount(str(mount.get("mountPath", "")), target)
            except ValueError as error:
                raise MountError(f'container "{name}": {error}') from error
        return filesystem

    def _volume_inputs(self) -> VolumeInputs:
        return VolumeInputs(self._facts(), self._objects, self._config.token)

    def _facts(self) -> PodFacts:
        return PodFacts(self.pod, self.pod_ip, self._config.host_ip)

    def _write_kubeconfig(self) -> None:
        # Pods reach the API through a kubeconfig (env KUBECONFIG) whose default namespace is the pod's own:
        # in-cluster configuration would need HTTPS, which the local API server does not speak.
        if self._config.api_url is not None:
            write_kubeconfig(
                self.paths.kubeconfig_path(), self._config.api_url, self._config.token, self.namespace
            )

    # --- what containers ask of their pod (ContainerHost) -----------------------------------------------

    def plan(self, container: Mapping[str, Any]) -> LaunchPlan:
        name = str(container.get("name"))
        filesystem = self._filesystems[name]
        message_path = str(container.get("terminationMessagePath") or DEFAULT_TERMINATION_MESSAGE_PATH)
        rewriter = filesystem.rewriter([message_path])
        base = {key: os.environ[key] for key in self._config.inherited_env if key in os.environ}
        base.update({"HOSTNAME": self.name, "POD_IP": self.pod_ip, ROOT_ENV: str(filesystem.root)})
        if self._config.api_url is not None:
            base["KUBECONFIG"] = str(self.paths.kubeconfig_path())
        env = container_env(self._facts(), container, self._objects, base)
        env = {
            key: value if base.get(key) == value else rewriter.rewrite(value) for key, value in env.items()
        }
        if self._config.service_proxy_url is not None:
            proxy_url = pod_proxy_url(self._config.service_proxy_url, self.namespace, self.name)
            env = with_service_proxy(env, proxy_url, DIRECT_HOSTS)
        argv = [
            rewriter.rewrite(expand(word, env.get)) for word in container_argv(container, self._config.images)
        ]
        return LaunchPlan(
            argv=argv,
            env=env,
            cwd=self._working_dir(container, filesystem),
            termination_message_file=filesystem.host_path(message_path),
        )

    @staticmethod
    def _working_dir(container: Mapping[str, Any], filesystem: ContainerFilesystem) -> Path:
        working_dir = str(container.get("workingDir") or "")
        if not working_dir:
            return filesystem.root
        mapped = filesystem.host_path(working_dir)
        # An existing host directory that is no mount is used as is, so a pod can run in a checkout.
        if mapped.is_relative_to(filesystem.root) and Path(working_dir).is_dir():
            return Path(working_dir)
        mapped.mkdir(parents=True, exist_ok=True)
        return mapped

    def probe_target(self, container: Mapping[str, Any], plan: LaunchPlan) -> ProbeTarget:
        ports = {
            str(p["name"]): int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name")
        }
        rewriter = self._filesystems[str(container.get("name"))].rewriter()

        async def run_exec(argv: Sequence[str], time_limit: float) -> ProbeResult:
            return await self._exec(argv, plan, rewriter, time_limit)

        return ProbeTarget(self.pod_ip, ports, run_exec, self._http)

    async def run_hook(self, container: Mapping[str, Any], plan: LaunchPlan, hook: Mapping[str, Any]) -> None:
        if "sleep" in hook:
            await asyncio.sleep(float(hook["sleep"].get("seconds", 0)))
            return
        result = await run_probe(hook, self.probe_target(container, plan), self._grace)
        if not result.ok:
            self.record_event(
                "Warning",
                "FailedPreStopHook",
                f"PreStopHook failed: {result.message}",
                str(container.get("name")),
            )

    async def _exec(
        self, argv: Sequence[str], plan: LaunchPlan, rewriter: PathRewriter, time_limit: float
    ) -> ProbeResult:
        try:
            resolved = resolve_program([rewriter.rewrite(word) for word in argv], plan.env.get("PATH"))
        except ContainerCannotRunError as error:
            return ProbeResult(False, str(error))
        return await run_command(resolved, plan.env, plan.cwd, time_limit)

    def record_event(self, event_type: str, reason: str, message: str, container: str) -> None:
        field = "initContainers" if any(r.name == container for r in self._init_runners) else "containers"
        self._events.record(self.pod, event_type, reason, message, f"spec.{field}{{{container}}}")

    def changed(self) -> None:
        self._on_change()

    async def wait_for_inputs(self, time_limit: float) -> None:
        await self._inputs_changed.wait(time_limit)

    def restart_backoff(self) -> Backoff:
        return Backoff(self._config.restart_backoff_initial, self._config.restart_backoff_max)

    def grace_seconds(self) -> float:
        return self._grace

    # --- status ------------------------------------------------------------------------------------------

    def status(self, previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The status the kubelet reports; ``previous`` supplies transition times and foreign conditions."""
        previous = previous or {}
        views = [
            ContainerView(r.name, r.state, r.finished is not None, r.last_state is not None, r.ready)
            for r in self._runners
        ]
        phase = pod_phase(
            self.restart_policy,
            views,
            initialized=self._initialized,
            init_failed=self._init_failed,
            stopped_by_kubelet=self._stopping.is_set() and self.done,
        )
        incomplete = [r.name for r in self._init_runners if not (r.finished and r.finished.exit_code == 0)]
        conditions = pod_conditions(
            previous=previous.get("conditions") or [],
            readiness_gates=(self.pod.get("spec") or {}).get("readinessGates") or [],
            sandbox_ready=self._sandbox_ready,
            initialized=self._initialized,
            incomplete_init=incomplete,
            containers=views,
            phase=phase,
            now=timestamp(),
        )
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self._config.host_ip,
            "hostIPs": [{"ip": self._config.host_ip}],
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": str(previous.get("startTime") or self._start_time),
            "containerStatuses": [r.status() for r in self._runners],
        }
        if self._init_runners:
            status["initContainerStatuses"] = [r.status() for r in self._init_runners]
        if self._node_shutdown and self.done:
            status.update(phase="Failed", reason="Terminated", message=NODE_SHUTDOWN_MESSAGE)
        return status
