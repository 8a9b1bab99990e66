"""Startup, readiness and liveness probes: httpGet (against the pod IP), tcpSocket and exec."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ExecRunner = Callable[[Sequence[str], float], Awaitable["ProbeResult"]]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class ProbeTiming:
    """The timing fields of a Probe, with Kubernetes' defaults."""

    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int
    termination_grace: float | None

    @classmethod
    def of(cls, probe: Mapping[str, Any]) -> ProbeTiming:
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds", 0)),
            period=float(probe.get("periodSeconds", 10)),
            timeout=float(probe.get("timeoutSeconds", 1)),
            success_threshold=int(probe.get("successThreshold", 1)),
            failure_threshold=int(probe.get("failureThreshold", 3)),
            termination_grace=None if grace is None else float(grace),
        )


@dataclass(frozen=True)
class ProbeTarget:
    """Where a container's probes are sent and how its exec probes run."""

    pod_ip: str
    ports: Mapping[str, int]
    run_exec: ExecRunner
    http: aiohttp.ClientSession

    def port(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        if str(value).isdigit():
            return int(value)
        if str(value) in self.ports:
            return self.ports[str(value)]
        raise ValueError(f"probe port {value!r} names no containerPort of the container")


async def _http_get(action: Mapping[str, Any], target: ProbeTarget, time_limit: float) -> ProbeResult:
    scheme = str(action.get("scheme", "HTTP")).lower()
    host = str(action.get("host") or target.pod_ip)
    path = str(action.get("path", "/"))
    url = f"{scheme}://{host}:{target.port(action.get('port'))}{path if path.startswith('/') else '/' + path}"
    headers = {str(h.get("name")): str(h.get("value", "")) for h in action.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.35")
    try:
        async with target.http.get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=time_limit),
            ssl=False,
            allow_redirects=True,
        ) as response:
            await response.read()
            if 200 <= response.status < 400:
                return ProbeResult(True)
            return ProbeResult(False, f"HTTP probe failed with statuscode: {response.status}")
    except TimeoutError:
        return ProbeResult(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded)')
    except aiohttp.ClientConnectorError as error:
        return ProbeResult(False, f'Get "{url}": {_dial_error(error.host, error.port or 0, error.os_error)}')
    except aiohttp.ClientError as error:
        return ProbeResult(False, f'Get "{url}": {error}')


def _dial_error(host: str, port: int, error: OSError) -> str:
    """Go's wording for a failed connection, which is what users know from kubelet events."""
    reason = os.strerror(error.errno).lower() if error.errno else str(error)
    return f"dial tcp {host}:{port}: connect: {reason}"


async def _tcp_socket(action: Mapping[str, Any], target: ProbeTarget, time_limit: float) -> ProbeResult:
    host = str(action.get("host") or target.pod_ip)
    port = target.port(action.get("port"))
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), time_limit)
    except TimeoutError:
        return ProbeResult(False, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as error:
        return ProbeResult(False, _dial_error(host, port, error))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True)


async def run_probe(probe: Mapping[str, Any], target: ProbeTarget, time_limit: float) -> ProbeResult:
    """One probe attempt."""
    try:
        if "httpGet" in probe:
            return await _http_get(probe["httpGet"], target, time_limit)
        if "tcpSocket" in probe:
            return await _tcp_socket(probe["tcpSocket"], target, time_limit)
        if "exec" in probe:
            return await target.run_exec(list(probe["exec"].get("command") or []), time_limit)
    except ValueError as error:
        return ProbeResult(False, str(error))
    return ProbeResult(False, "probe has no httpGet, tcpSocket or exec action (grpc is not emulated)")


async def run_command(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, time_limit: float
) -> ProbeResult:
    """Run an exec probe or hook command; success is exit code 0, the message its output."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except OSError as error:
        return ProbeResult(False, f"exec {argv[0] if argv else ''!r} failed: {error}")
    try:
        output, _ = await asyncio.wait_for(process.communicate(), time_limit)
    except TimeoutError:
        return ProbeResult(False, f"command {' '.join(argv)!r} timed out")
    finally:
        # also when the probe is cancelled: the command must not outlive it
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    text = output.decode(errors="replace").strip()
    if process.returncode == 0:
        return ProbeResult(True, text)
    return ProbeResult(False, text or f"command {' '.join(argv)!r} exited with {process.returncode}")


class ProbeCounter:
    """Applies success/failure thresholds to a stream of probe results."""

    def __init__(self, timing: ProbeTiming, initially_ok: bool) -> None:
        self._timing = timing
        self._successes = 0
        self.failures = 0
        self.ok = initially_ok

    def record(self, result: ProbeResult) -> bool:
        """Count one result; returns whether the probe's verdict changed."""
        if result.ok:
            self.failures = 0
            self._successes += 1
            if not self.ok and self._successes >= self._timing.success_threshold:
                self.ok = True
                return True
        else:
            self._successes = 0
            self.failures += 1
            if self.ok and self.failures >= self._timing.failure_threshold:
                self.ok = False
                return True
        return False
