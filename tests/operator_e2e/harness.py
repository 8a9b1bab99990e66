"""The end-to-end harness: API access, a pod event recorder, operator processes, waiting with deadlines."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from localcluster.cluster import LocalClusterThread
from tests.polling import poll_until

REPO = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO / ".tools" / "bin"
GROUP_PATH = "/apis/otp.agents.dev/v1alpha1"
AGENT_IMAGE = "ghcr.io/agent-supervisor/agent-supervisor-agent:e2e"


def wait_for(
    condition: Callable[[], Any], timeout: float = 30.0, what: str = "", interval: float = 0.05
) -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    return poll_until(condition, timeout, what, interval)


class Api:
    """A minimal synchronous client for the tests: plain dicts in and out."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    @staticmethod
    def path(kind: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
        bases = {
            "pods": "/api/v1",
            "configmaps": "/api/v1",
            "services": "/api/v1",
            "secrets": "/api/v1",
            "events": "/api/v1",
            "namespaces": "/api/v1",
            "serviceaccounts": "/api/v1",
            "roles": "/apis/rbac.authorization.k8s.io/v1",
            "rolebindings": "/apis/rbac.authorization.k8s.io/v1",
            "leases": "/apis/coordination.k8s.io/v1",
            "agents": GROUP_PATH,
            "agentsupervisors": GROUP_PATH,
        }
        parts = [bases[kind]]
        if namespace is not None:
            parts.append(f"namespaces/{namespace}")
        parts.append(kind)
        if name is not None:
            parts.append(name)
        if sub is not None:
            parts.append(sub)
        return "/".join(parts)

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        response = self.http.get(self.path(kind, namespace, name))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def list(self, kind: str, namespace: str | None, selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": selector} if selector else {}
        response = self.http.get(self.path(kind, namespace), params=params)
        response.raise_for_status()
        return list(response.json()["items"])

    def create(self, kind: str, namespace: str | None, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(self.path(kind, namespace), json=body)

    def patch(self, kind: str, namespace: str | None, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.patch(
            self.path(kind, namespace, name),
            content=json.dumps(body),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        response.raise_for_status()
        return dict(response.json())

    def delete(self, kind: str, namespace: str | None, name: str) -> int:
        return self.http.delete(self.path(kind, namespace, name)).status_code


@dataclass
class PodEvent:
    type: str
    name: str
    attempt: int | None
    child: str | None
    deleting: bool
    phase: str | None
    ready: bool


@dataclass
class PodRecorder:
    """Records the watch events of every pod in a namespace, in the order the API server sent them."""

    api: Api
    namespace: str
    events: list[PodEvent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> PodRecorder:
        listing = self.api.http.get(self.api.path("pods", self.namespace)).json()
        version = listing["metadata"]["resourceVersion"]
        started = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(version, started), daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def _watch(self, version: str, started: threading.Event) -> None:
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "false"}
        with httpx.Client(base_url=self.api.url, timeout=None) as http:
            while not self._stop.is_set():
                with http.stream("GET", self.api.path("pods", self.namespace), params=params) as stream:
                    started.set()
                    for line in stream.iter_lines():
                        if self._stop.is_set():
                            return
                        if line:
                            self._record(json.loads(line), params)

    def _record(self, event: dict[str, Any], params: dict[str, str]) -> None:
        pod = event["object"]
        metadata = pod["metadata"]
        params["resourceVersion"] = metadata.get("resourceVersion", params["resourceVersion"])
        if event["type"] not in ("ADDED", "MODIFIED", "DELETED"):
            return
        labels = metadata.get("labels") or {}
        attempt = labels.get("otp.agents.dev/attempt")
        status = pod.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        self.events.append(
            PodEvent(
                type=event["type"],
                name=metadata["name"],
                attempt=int(attempt) if attempt else None,
                child=labels.get("otp.agents.dev/child"),
                deleting=bool(metadata.get("deletionTimestamp")),
                phase=status.get("phase"),
                ready=conditions.get("Ready") == "True",
            )
        )

    def stop(self) -> None:
        self._stop.set()

    def created(self) -> list[str]:
        """Pod names in the order they were created."""
        return [e.name for e in list(self.events) if e.type == "ADDED"]

    def deletion_requested(self) -> list[str]:
        """Pod names in the order their deletion began (deletionTimestamp set, or removed at once)."""
        names: list[str] = []
        for event in list(self.events):
            if (event.deleting or event.type == "DELETED") and event.name not in names:
                names.append(event.name)
        return names

    def index(self, name: str, what: str) -> int:
        """Position of the first event of pod `name` where it was `created`, `deleting` (its deletion
        began), `ended` (its container terminated or it is gone) or `ready`."""
        tests: dict[str, Callable[[PodEvent], bool]] = {
            "created": lambda e: e.type == "ADDED",
            "deleting": lambda e: e.deleting or e.type == "DELETED",
            "ended": lambda e: e.type == "DELETED" or e.phase in ("Failed", "Succeeded"),
            "ready": lambda e: e.ready,
        }
        matches = [i for i, e in enumerate(list(self.events)) if e.name == name and tests[what](e)]
        if not matches:
            raise AssertionError(f"pod {name} was never seen {what}")
        return matches[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Operator:
    """One operator replica as a real process."""

    env: dict[str, str]
    namespace: str
    identity: str
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        command = [
            sys.executable,
            "-m",
            "agent_supervisor.controller.main",
            "--namespace",
            self.namespace,
            "--lease-namespace",
            self.namespace,
            "--id",
            self.identity,
            "--metrics-port",
            str(self.metrics_port),
            "--default-image",
            AGENT_IMAGE,
            "--lease-duration",
            "3",
            "--lease-renew",
            "1",
            # Some tests script crashes with the test-only crash tool.
            "--allow-test-tools",
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        # A deadline for a start-up, not a goal: with test files in parallel on a loaded 2-core machine the
        # operator's imports alone have taken over 30 s.
        wait_for(self._healthy, timeout=60, what=f"operator {self.identity} to serve /healthz")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"operator {self.identity} exited early:\n{self.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The sum of a metric's samples whose labels include `labels` (0 when absent)."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            sample, _, label_text = head.partition("{")
            if sample != name:
                continue
            if labels and not all(f'{k}="{v}"' in label_text for k, v in labels.items()):
                continue
            total += float(value)
        return total

    def is_leader(self) -> bool:
        try:
            return self.metric("agent_supervisor_leader") == 1.0
        except httpx.HTTPError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Env:
    """What a test gets: the cluster, an API client, its own namespace, and operator/recorder factories."""

    cluster: LocalClusterThread
    api: Api
    namespace: str
    tool_env: dict[str, str]
    workdir: Path
    model_url: str
    operators: list[Operator] = field(default_factory=list)
    recorders: list[PodRecorder] = field(default_factory=list)

    def operator(self, identity: str = "op-1", *args: str) -> Operator:
        op = Operator(
            env=self.tool_env,
            namespace=self.namespace,
            identity=identity,
            log_path=self.workdir / f"operator-{identity}.log",
            extra_args=list(args),
        )
        self.operators.append(op)
        return op.start()

    def record_pods(self) -> PodRecorder:
        recorder = PodRecorder(self.api, self.namespace).start()
        self.recorders.append(recorder)
        return recorder

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(TOOLS_BIN / "kubectl"), "-n", self.namespace, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.tool_env,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest))

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.api.get(kind, self.namespace, name)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        obj = self.get(kind, name)
        return dict((obj or {}).get("status") or {})

    def pods(self) -> dict[str, dict[str, Any]]:
        return {pod["metadata"]["name"]: pod for pod in self.api.list("pods", self.namespace)}

    def running_pods(self) -> set[str]:
        """Ready pods that are not being deleted."""
        names = set()
        for name, pod in self.pods().items():
            conditions = {c["type"]: c["status"] for c in (pod.get("status") or {}).get("conditions") or []}
            if conditions.get("Ready") == "True" and not pod["metadata"].get("deletionTimestamp"):
                names.add(name)
        return names

    def kill_pod(self, name: str, sig: str = "SIGKILL") -> None:
        assert self.cluster.kill_pod(self.namespace, name, sig), f"pod {name} has no running container"

    def condition(self, kind: str, name: str, condition_type: str) -> dict[str, Any] | None:
        for condition in self.status(kind, name).get("conditions") or []:
            if condition["type"] == condition_type:
                return dict(condition)
        return None

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        events = self.api.list("events", self.namespace)
        return [e for e in events if reason is None or e.get("reason") == reason]

    def dump(self) -> str:
        """Diagnostics for a failed test: operator logs, object states, events and pod logs."""
        parts = [f"--- operator {op.identity} ---\n{op.log_tail()}" for op in self.operators]
        for kind in ("agentsupervisors", "agents"):
            for obj in self.api.list(kind, self.namespace):
                parts.append(f"--- {kind} {obj['metadata']['name']} ---\n{yaml.safe_dump(obj.get('status'))}")
        parts.append("--- pods ---\n" + "\n".join(f"{e}" for r in self.recorders for e in r.events))
        for event in self.events():
            when = event.get("lastTimestamp") or event.get("eventTime")
            subject = (event.get("involvedObject") or {}).get("name")
            kind = f"{event.get('type')} {event.get('reason')}"
            parts.append(f"event {when} {kind} {subject}: {event.get('message')}")
        # Every pod's log: the pod supervisor's and its incarnations' lines say why each one ended. A log that
        # cannot be read is named, not raised: the dump runs in the fixture's teardown, before its clean-up.
        for name in self.pods():
            try:
                result = self.kubectl("logs", name, check=False)
            except (subprocess.SubprocessError, OSError) as error:
                parts.append(f"--- logs {name} --- not read: {error}")
                continue
            parts.append(f"--- logs {name} ---\n{result.stdout[-6000:]}{result.stderr[-500:]}")
        return "\n".join(parts)


def applied_revision(status: Mapping[str, Any]) -> str | None:
    """The config revision an Agent's running pod reports applied, once it is the one the operator rendered
    (condition ConfigApplied True and appliedConfigRevision == configRevision)."""
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    revision = status.get("configRevision")
    if (
        conditions.get("ConfigApplied") == "True"
        and revision
        and status.get("appliedConfigRevision") == revision
    ):
        return str(revision)
    return None


def agent_template(**overrides: Any) -> dict[str, Any]:
    """An agent child template: a service agent of the real runtime (it idles; no model call is made)."""
    template: dict[str, Any] = {
        "model": {"endpoint": "http://127.0.0.1:9/v1", "name": "scripted"},
        "systemPrompt": "You are a test agent.",
    }
    template.update(overrides)
    return template


def supervisor(name: str, children: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "otp.agents.dev/v1alpha1",
        "kind": "AgentSupervisor",
        "metadata": {"name": name},
        "spec": {**spec, "children": children},
    }


def agent_child(name: str, **fields: Any) -> dict[str, Any]:
    """A child entry; brutal kill by default so that stops in tests are instant."""
    template = fields.pop("agent", None) or agent_template()
    return {"name": name, "shutdown": {"brutalKill": True}, **fields, "agent": template}


def ready_children(env: Env, name: str) -> str | None:
    status = env.status("agentsupervisors", name)
    return status.get("readyChildren") if status.get("phase") == "Running" else None


def wait_running(env: Env, name: str, children: int, timeout: float = 60) -> None:
    """Until the supervisor is Running with every child Ready, and its agents' pods are Ready as kubectl shows
    them (a pod supervisor tells the operator of Ready sooner than the kubelet's probe tells the API)."""
    wanted = f"{children}/{children}"
    wait_for(lambda: ready_children(env, name) == wanted, timeout, f"{name} Running with {wanted} ready")
    wait_for(lambda: pods_ready(env, name), timeout, f"the pods of {name} Ready")


def pods_ready(env: Env, supervisor_name: str) -> bool:
    """Every running pod of the supervisor's agent children (not being deleted) has its Ready condition."""
    for pod in env.pods().values():
        metadata, status = pod["metadata"], pod.get("status") or {}
        if (metadata.get("labels") or {}).get("otp.agents.dev/supervisor") != supervisor_name:
            continue
        if metadata.get("deletionTimestamp") or status.get("phase") != "Running":
            continue
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("Ready") != "True":
            return False
    return True


def attempt_pods(env: Env) -> dict[str, int]:
    """Live (not being deleted) pods of the namespace by child name -> attempt."""
    found: dict[str, int] = {}
    for pod in env.pods().values():
        metadata = pod["metadata"]
        labels = metadata.get("labels") or {}
        if metadata.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in (
            "Failed",
            "Succeeded",
        ):
            continue
        found[labels["otp.agents.dev/child"]] = int(labels["otp.agents.dev/attempt"])
    return found
