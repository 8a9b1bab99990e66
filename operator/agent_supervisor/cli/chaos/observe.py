"""The observer: watches the tree from outside the operator and keeps the history the auditor reads.

Three API watches (pods, Agents, AgentSupervisors of the soak's namespace) and one watch per agent pod on its
pod supervisor's control API, which reports every incarnation's start, readiness and exit with timestamps.
The faults drop and compact the API watches too: every watch here resumes from its last resourceVersion, and
lists again when that is gone (410), so what it misses is only intermediate readings, never the final state.

On the soak's own local cluster pods are local processes: the observer reaches each pod supervisor at its
pod's address and checks old incarnations' processes itself. On another cluster (`local_processes=False`)
it reaches them through the API server's pod proxy, with the control token in its own header (the API server
consumes Authorization), and knows of processes only what the pod supervisors and the pods' statuses report.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
import psutil

from agent_runtime.incarnation_protocol import (
    CONTROL_TOKEN_HEADER,
    DEFAULT_CONTROL_PORT,
    IncarnationState,
    WatchLine,
)
from agent_supervisor.cli.chaos.ledger import (
    AgentReading,
    ChildReading,
    FinalState,
    History,
    Incarnation,
)
from agent_supervisor.translate import labels
from localcluster import procid

GROUP = "/apis/otp.agents.dev/v1alpha1"
# A failed request or a dropped stream is retried after this pause: the faults make both routine.
RETRY_PAUSE = 0.2
CANCELLED_START = "NotStarted"


def _time(text: str | None) -> float | None:
    return None if not text else datetime.fromisoformat(text).timestamp()


@dataclass(frozen=True)
class PodView:
    """The pod supervisor's latest report for one pod."""

    pod: str
    agent: str
    attempt: int
    phase: str
    pid: int | None
    address: str


class Observer:
    def __init__(self, url: str, token: str | None, namespace: str, *, local_processes: bool = True) -> None:
        self.url = url
        self.namespace = namespace
        self.local_processes = local_processes
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pods: dict[str, dict[str, Any]] = {}
        self._agents: dict[str, dict[str, Any]] = {}
        self._supervisors: dict[str, dict[str, Any]] = {}
        self._incarnations: dict[tuple[str, int], Incarnation] = {}
        self._views: dict[str, PodView] = {}
        self._followed: set[str] = set()
        self._child_readings: list[ChildReading] = []
        self._agent_readings: list[AgentReading] = []
        self._token: str | None = None
        self._processes: dict[tuple[str, int], tuple[int, str]] = {}
        self.errors: list[str] = []
        """Why pod supervisors could not be reached (the last few distinct reasons), for a run that never
        settles: missing RBAC for the control Secret or pods/proxy shows here."""

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Observer:
        for plural, prefix, handler in (
            ("pods", "/api/v1", self._on_pod),
            ("agents", GROUP, self._on_agent),
            ("agentsupervisors", GROUP, self._on_supervisor),
        ):
            path = f"{prefix}/namespaces/{self.namespace}/{plural}"
            threading.Thread(target=self._watch, args=(path, handler), daemon=True, name=plural).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def client(self, timeout: float | httpx.Timeout = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self._headers, timeout=timeout)

    # --- API watches -----------------------------------------------------------------------------------

    def _watch(self, path: str, handler: Callable[[str, dict[str, Any]], None]) -> None:
        with self.client(httpx.Timeout(10.0, read=60.0)) as http:
            version: str | None = None
            while not self._stop.is_set():
                try:
                    if version is None:
                        listing = http.get(path)
                        listing.raise_for_status()
                        body = listing.json()
                        for item in body["items"]:
                            handler("LISTED", item)
                        version = str(body["metadata"]["resourceVersion"])
                    version = self._stream(http, path, version, handler)
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    if isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 410:
                        version = None
                    self._stop.wait(RETRY_PAUSE)

    def _stream(
        self, http: httpx.Client, path: str, version: str, handler: Callable[[str, dict[str, Any]], None]
    ) -> str | None:
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true"}
        with http.stream("GET", path, params=params) as stream:
            stream.raise_for_status()
            for line in stream.iter_lines():
                if self._stop.is_set():
                    return version
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    # 410 Gone: the history this watch would resume from was compacted; list again.
                    return None if obj.get("code") == 410 else version
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if event.get("type") != "BOOKMARK":
                    handler(str(event["type"]), obj)
        return version

    def _on_pod(self, event: str, pod: dict[str, Any]) -> None:
        metadata = pod["metadata"]
        name = metadata["name"]
        pod_labels = metadata.get("labels") or {}
        agent = pod_labels.get(labels.AGENT)
        with self._lock:
            if event == "DELETED":
                self._pods.pop(name, None)
            else:
                self._pods[name] = pod
            if agent and labels.ATTEMPT in pod_labels:
                self._note_pod_incarnation(agent, int(pod_labels[labels.ATTEMPT]), name, pod)
        if agent and event != "DELETED" and _running(pod) and name not in self._followed:
            address = (pod.get("status") or {}).get("podIP")
            if address:
                self._followed.add(name)
                threading.Thread(
                    target=self._follow_pod, args=(name, agent, address), daemon=True, name=name
                ).start()

    def _note_pod_incarnation(self, agent: str, attempt: int, pod: str, body: dict[str, Any]) -> None:
        """A pod's first incarnation, known from the pod even if its pod supervisor was never reached. Its
        container's end time (whole seconds, rounded down) is a time the pod's last incarnation was alive."""
        key = (agent, attempt)
        current = self._incarnations.get(key) or Incarnation(agent, attempt, pod, started=None)
        if current.created is None:
            current = replace(current, created=_time(body["metadata"].get("creationTimestamp")))
        if current.seen is None:
            current = replace(current, seen=time.time())
        if current.pod_ready is None:
            for condition in (body.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Ready" and condition.get("status") == "True":
                    current = replace(current, pod_ready=_time(condition.get("lastTransitionTime")))
        self._incarnations[key] = current
        for status in (body.get("status") or {}).get("containerStatuses") or []:
            finished = _time(((status.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            if finished is None:
                continue
            last = max((i for i in self._incarnations.values() if i.pod == pod), key=lambda i: i.attempt)
            latest = max(finished, last.alive_until or finished)
            self._incarnations[(agent, last.attempt)] = replace(last, alive_until=latest)

    def _on_agent(self, event: str, agent: dict[str, Any]) -> None:
        name = agent["metadata"]["name"]
        status = agent.get("status") or {}
        with self._lock:
            if event == "DELETED":
                self._agents.pop(name, None)
                return
            self._agents[name] = agent
            attempt = status.get("attempt")
            self._agent_readings.append(AgentReading(name, int(attempt) if attempt is not None else None))

    def _on_supervisor(self, event: str, supervisor: dict[str, Any]) -> None:
        name = supervisor["metadata"]["name"]
        status = supervisor.get("status") or {}
        with self._lock:
            if event == "DELETED":
                self._supervisors.pop(name, None)
                return
            self._supervisors[name] = supervisor
            for child in status.get("children") or []:
                attempt = child.get("attempt")
                self._child_readings.append(
                    ChildReading(
                        name,
                        str(child["name"]),
                        int(attempt) if attempt is not None else None,
                        int(child.get("restarts") or 0),
                    )
                )

    # --- pod supervisors -------------------------------------------------------------------------------

    def _control_token(self, http: httpx.Client) -> str | None:
        if self._token is None:
            path = f"/api/v1/namespaces/{self.namespace}/secrets/{labels.CONTROL_SECRET}"
            response = http.get(path)
            if response.status_code == 200:
                data = response.json().get("data") or {}
                self._token = base64.b64decode(data.get(labels.CONTROL_TOKEN_KEY, "")).decode() or None
            elif response.status_code != 404:  # 404: the operator has not created it yet
                self._problem(
                    f"reading Secret {self.namespace}/{labels.CONTROL_SECRET}: {response.status_code}"
                )
        return self._token

    def _problem(self, text: str) -> None:
        with self._lock:
            if text not in self.errors:
                self.errors = [*self.errors[-4:], text]

    def _control(self, pod: str, address: str, token: str) -> tuple[httpx.Client, str, dict[str, str]]:
        """A client, the URL of the pod supervisor's /v1/incarnation and the headers that authenticate."""
        timeout = httpx.Timeout(5.0, read=30.0)
        if self.local_processes:
            url = f"http://{address}:{DEFAULT_CONTROL_PORT}/v1/incarnation"
            return httpx.Client(timeout=timeout), url, {"Authorization": f"Bearer {token}"}
        # The pod proxy: the API server passes the request on to the pod's control port, and every header
        # but its own Authorization with it. The URL carries no secret (API servers log URLs).
        url = f"/api/v1/namespaces/{self.namespace}/pods/{pod}:{DEFAULT_CONTROL_PORT}/proxy/v1/incarnation"
        return self.client(timeout), url, {CONTROL_TOKEN_HEADER: token}

    def _follow_pod(self, pod: str, agent: str, address: str) -> None:
        with self.client() as api:
            while not self._stop.is_set() and self._pod_alive(pod):
                try:
                    token = self._control_token(api)
                    if token is None:
                        self._stop.wait(RETRY_PAUSE)
                        continue
                    http, url, headers = self._control(pod, address, token)
                    with http, http.stream("GET", url, params={"watch": "true"}, headers=headers) as stream:
                        if stream.status_code in (401, 403):
                            stream.read()
                            self._problem(
                                f"watching pod {pod}'s supervisor: {stream.status_code} {stream.text}"
                            )
                        stream.raise_for_status()
                        for raw in stream.iter_lines():
                            if self._stop.is_set():
                                return
                            if raw.strip():
                                line = WatchLine.model_validate(json.loads(raw))
                                if line.state is not None:
                                    self._on_state(pod, agent, address, line.state)
                except (httpx.HTTPError, ValueError):
                    self._stop.wait(RETRY_PAUSE)
        with self._lock:
            self._views.pop(pod, None)

    def _pod_alive(self, pod: str) -> bool:
        with self._lock:
            body = self._pods.get(pod)
        return body is not None and _running(body)

    def _on_state(self, pod: str, agent: str, address: str, state: IncarnationState) -> None:
        with self._lock:
            self._views[pod] = PodView(pod, agent, state.attempt, state.phase, state.pid, address)
            for done in state.exits:
                key = (agent, done.attempt)
                if done.reason == CANCELLED_START:
                    # A start the operator cancelled before it ran: no process, no incarnation.
                    self._incarnations.pop(key, None)
                    continue
                known = self._incarnations.get(key) or Incarnation(agent, done.attempt, pod, started=None)
                self._incarnations[key] = replace(known, pod=pod, ended=_time(done.finished_at))
            key = (agent, state.attempt)
            if self.local_processes and state.pid is not None and key not in self._processes:
                self._probe_older(agent, state.attempt)
                recorded = procid.identity(state.pid)
                if recorded is not None:
                    self._processes[key] = (state.pid, recorded)
            known = self._incarnations.get(key) or Incarnation(agent, state.attempt, pod, started=None)
            self._incarnations[key] = replace(
                known,
                pod=pod,
                started=_time(state.started_at),
                ready=_time(state.ready_at) if state.ready_at else known.ready,
            )

    def _probe_older(self, agent: str, attempt: int) -> None:
        """A new incarnation of `agent` runs: is any older one's process still alive? (The local cluster's
        pods are local processes.) One that is gets `alive_until` now, which the auditor finds later than
        the new one's start. Only a process the exit of which was never reported can still be alive."""
        now = time.time()
        for (other, older), (pid, recorded) in list(self._processes.items()):
            if other != agent or older >= attempt:
                continue
            if _alive(pid, recorded):
                known = self._incarnations[(agent, older)]
                self._incarnations[(agent, older)] = replace(known, alive_until=now)
            else:
                del self._processes[(other, older)]

    # --- what the injector and the auditor read --------------------------------------------------------

    def views(self) -> dict[str, PodView]:
        """Agent -> the pod supervisor report of its live pod (the newest, if there are several)."""
        with self._lock:
            found: dict[str, PodView] = {}
            for view in self._views.values():
                body = self._pods.get(view.pod)
                if body is None or not _running(body):
                    continue
                if view.agent not in found or view.attempt > found[view.agent].attempt:
                    found[view.agent] = view
            return found

    def incarnation(self, agent: str, attempt: int) -> Incarnation | None:
        with self._lock:
            return self._incarnations.get((agent, attempt))

    def supervisor_status(self, name: str) -> dict[str, Any]:
        with self._lock:
            return dict((self._supervisors.get(name) or {}).get("status") or {})

    def agent_status(self, name: str) -> dict[str, Any]:
        with self._lock:
            return dict((self._agents.get(name) or {}).get("status") or {})

    def child_status(self, supervisor: str, child: str) -> dict[str, Any]:
        for entry in self.supervisor_status(supervisor).get("children") or []:
            if entry.get("name") == child:
                return dict(entry)
        return {}

    def pod_of(self, agent: str) -> str | None:
        view = self.views().get(agent)
        return None if view is None else view.pod

    def history(self, final: FinalState | None) -> History:
        with self._lock:
            return History(
                incarnations=sorted(self._incarnations.values(), key=lambda i: (i.agent, i.attempt)),
                child_readings=list(self._child_readings),
                agent_readings=list(self._agent_readings),
                final=final,
            )

    def live_attempts(self, agents: list[str]) -> dict[str, list[int]]:
        """Asked afresh of every live pod's pod supervisor: the incarnations that run now, per agent."""
        found: dict[str, list[int]] = {agent: [] for agent in agents}
        with self.client() as api:
            token = self._control_token(api) or ""
            pods = api.get(f"/api/v1/namespaces/{self.namespace}/pods")
            pods.raise_for_status()
            for pod in pods.json()["items"]:
                agent = (pod["metadata"].get("labels") or {}).get(labels.AGENT)
                if agent not in found or not _running(pod):
                    continue
                http, url, headers = self._control(
                    pod["metadata"]["name"], pod["status"].get("podIP", ""), token
                )
                with http:
                    response = http.get(url, headers=headers)
                response.raise_for_status()
                state = IncarnationState.model_validate(response.json())
                if state.phase != "Exited":
                    found[agent].append(state.attempt)
        return found


def _alive(pid: int, recorded: str) -> bool:
    try:
        return procid.same_process(pid, recorded) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _running(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Pending", "Running") and not pod["metadata"].get(
        "deletionTimestamp"
    )


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.1) -> bool:
    """Polls `condition` until it is truthy (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
