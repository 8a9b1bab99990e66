"""The process kubelet's streaming backend: `kubectl exec`, `attach` and `port-forward` for its pods.

The API server checks the pod and hands the request over (localcluster/apiserver/streaming.py). exec and
attach speak the websocket channel protocol (channels.py); port-forward speaks SPDY tunnelled through a
websocket (portforward.py). kubectl 1.35 tries these first; its SPDY fallbacks (a POST with
`Upgrade: SPDY/3.1`) are refused with a Status that says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from localcluster import logformat
from localcluster.apiserver.errors import ApiError, bad_request
from localcluster.kubelet import channels, execsession, portforward
from localcluster.kubelet.channels import ChannelSocket
from localcluster.kubelet.container import ContainerRunner
from localcluster.kubelet.images import ContainerCannotRunError, resolve_program
from localcluster.kubelet.kubelet import Kubelet
from localcluster.kubelet.pod import PodWorker

FOLLOW_POLL_SECONDS = 0.05


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1")


def _require_websocket(request: web.Request, subresource: str, protocols: str) -> None:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise bad_request(
            f"the local cluster serves pods/{subresource} over websockets ({protocols}) only, not SPDY; "
            "use kubectl 1.31 or newer, which speaks them"
        )


class KubeletStreaming:
    def __init__(self, kubelet: Kubelet) -> None:
        self._kubelet = kubelet

    async def serve(self, request: web.Request, subresource: str, pod: dict[str, Any]) -> web.StreamResponse:
        if subresource == "portforward":
            _require_websocket(request, subresource, portforward.PROTOCOL)
            return await portforward.serve(request, self._worker(pod).pod_ip)
        _require_websocket(request, subresource, ", ".join(channels.PROTOCOLS))
        # Refusals go on the error channel once the websocket is up: a refused upgrade would make kubectl
        # retry over SPDY and show that refusal instead.
        socket = await ChannelSocket.accept(request)
        try:
            worker = self._worker(pod)
            runner = self._container(request, worker, pod)
            if subresource == "exec":
                await self._exec(socket, request, worker, runner)
            else:
                await self._attach(socket, request, runner)
        except ApiError as error:
            await socket.finish(channels.failure(error.message, error.code, error.reason))
        return socket.socket

    def _worker(self, pod: dict[str, Any]) -> PodWorker:
        worker = self._kubelet.worker(str(pod["metadata"].get("uid", "")))
        if worker is None:
            name = pod["metadata"]["name"]
            raise bad_request(f'pod "{name}" is not running on node {self._kubelet.config.node_name}')
        return worker

    @staticmethod
    def _container(request: web.Request, worker: PodWorker, pod: dict[str, Any]) -> ContainerRunner:
        name = request.query.get("container", "")
        if not name:
            containers = [c["name"] for c in pod["spec"].get("containers", ())]
            if len(containers) != 1:
                raise bad_request(
                    f"a container name must be specified for pod {worker.name}, "
                    f"choose one of: [{' '.join(containers)}]"
                )
            name = containers[0]
        try:
            return worker.container(name)
        except KeyError as error:
            raise bad_request(str(error.args[0])) from error

    async def _exec(
        self, socket: ChannelSocket, request: web.Request, worker: PodWorker, runner: ContainerRunner
    ) -> None:
        command = request.query.getall("command", [])
        if not command:
            raise bad_request("you must specify at least 1 command")
        process = runner.running_process
        if process is None:
            raise bad_request(f"container {runner.name} is not running in pod {worker.name}")
        try:
            plan, rewriter = worker.exec_plan(runner)
        except KeyError as error:
            raise bad_request(f"container {runner.name} is not ready for exec yet") from error
        try:
            argv = resolve_program([rewriter.rewrite(word) for word in command], plan.env.get("PATH"))
        except ContainerCannotRunError as error:
            await socket.finish(channels.failure(f"error executing command in container: {error}"))
            return
        session = execsession.ExecRequest(
            argv=argv,
            env=plan.env,
            cwd=plan.cwd,
            stdin=_flag(request, "stdin"),
            stdout=_flag(request, "stdout"),
            stderr=_flag(request, "stderr") and not _flag(request, "tty"),
            tty=_flag(request, "tty"),
            container_dir=worker.paths.pid_file(runner.name).parent,
            container_ended=process.ended,
        )
        await execsession.run(session, socket)

    async def _attach(self, socket: ChannelSocket, request: web.Request, runner: ContainerRunner) -> None:
        process = runner.running_process
        if process is None:
            raise bad_request(f"container {runner.name} is not running")
        if _flag(request, "tty") or runner.spec.get("tty"):
            raise bad_request(
                "the process kubelet gives containers no terminal, so `kubectl attach -t` cannot be served; "
                "attach without a TTY (kubectl attach -i=false -t=false) or use kubectl exec -it"
            )
        follower = logformat.Follower(timestamps=False)
        path = runner.log_path
        offset = path.stat().st_size if path.exists() else 0

        async def to_stdin(data: bytes) -> None:
            pipe = process.stdin
            if pipe is not None and _flag(request, "stdin") and not pipe.is_closing():
                pipe.write(data)

        async def close_stdin() -> None:
            pipe = process.stdin
            if pipe is not None and runner.spec.get("stdinOnce"):
                pipe.close()

        def read_new() -> bytes:
            nonlocal offset
            with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
                handle.seek(offset)
                raw = handle.read()
                offset += len(raw)
                return raw
            return b""

        client = asyncio.create_task(socket.receive(to_stdin, close_stdin, lambda _w, _h: None))
        try:
            while not client.done():
                ended = runner.running_process is not process  # checked first: its output is all written
                raw = read_new()
                if raw and _flag(request, "stdout"):
                    await socket.send(channels.STDOUT, follower.feed(raw))
                if ended:
                    break
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
        finally:
            client.cancel()
        await socket.finish(channels.success())
