"""The kubelet's list+watch stays equal to the server across dropped streams and expired resourceVersions."""

from __future__ import annotations

import asyncio

import aiohttp

from localcluster.apiserver import ApiServer
from localcluster.kubelet.client import ApiClient
from localcluster.kubelet.informer import Informer
from localcluster.kubelet.timing import Notifier

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


async def test_informer_catches_up_after_an_outage_longer_than_the_watch_history(tmp_path):
    server = ApiServer(tmp_path, history=5)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = ApiClient(server.url, server.token, session)
            await client.post(CONFIGMAPS, {"metadata": {"name": "doomed"}})
            seen: list[tuple[str, str]] = []
            changes = Notifier()
            stuck = asyncio.Event()
            release = asyncio.Event()

            async def handler(kind: str, obj: dict) -> None:
                name = obj["metadata"]["name"]
                seen.append((kind, name))
                changes.notify()
                if name == "blocker" and not release.is_set():
                    stuck.set()
                    await release.wait()

            informer = Informer(client, "/api/v1/configmaps", handler)
            task = asyncio.create_task(informer.run())
            await informer.synced.wait()
            await client.post(CONFIGMAPS, {"metadata": {"name": "blocker"}})
            await stuck.wait()
            # Its stream ends; more changes than the server's history keeps happen before it watches again.
            server.faults.drop_watches()
            await client.delete(f"{CONFIGMAPS}/doomed", {})
            for i in range(12):
                await client.post(CONFIGMAPS, {"metadata": {"name": f"new-{i}"}})
            release.set()
            expected = {("default", f"new-{i}") for i in range(12)} | {("default", "blocker")}

            async def caught_up() -> None:
                while {key for key in informer.cache if key[0] == "default"} != expected:
                    await changes.wait(1)

            await asyncio.wait_for(caught_up(), 10)
            assert ("DELETED", "doomed") in seen
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await server.stop()
