"""The Observer page in a real headless browser (Debian's chromium through Playwright), on the local cluster
with the real operator and real agents: a known tree shows, coloured by phase; a crash the test injects shows
up without a reload; a one_for_all restart marks every child it restarted; no Secret's value is on the page.

OBSERVER_SCREENSHOT=<path> saves a screenshot of the page after the group restart (`make screenshot`)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

from playwright.async_api import Page

from tests.operator_e2e.harness import Env, wait_for, wait_running
from tests.operator_e2e.observer_process import StatusWrites, observer
from tests.operator_e2e.test_observer import secret_tree

RUNNING_COLOUR = "rgb(31, 157, 85)"  # --running in observer.css


def row(ns: str, name: str) -> str:
    return f'.node[data-id="{ns}/{name}"]'


async def test_the_page_shows_the_tree_a_crash_and_a_group_restart_and_no_secret(
    env: Env, browser_page: Page
) -> None:
    page = browser_page
    secret_value = f"observer-secret-{uuid.uuid4().hex}"
    secret_tree(env, secret_value)
    env.operator()
    await asyncio.to_thread(wait_running, env, "team", 3)
    ns = env.namespace
    with observer(env) as running:
        await page.set_viewport_size({"width": 1280, "height": 860})
        await page.goto(running.url)
        # The known tree: the supervisor, then its three children in start order, each Running and green.
        await page.wait_for_selector(f'{row(ns, "team-c")}[data-phase="Running"]')
        shown = await page.eval_on_selector_all(".node", "rows => rows.map(r => r.dataset.id)")
        assert shown == [f"{ns}/team", f"{ns}/team-a", f"{ns}/team-b", f"{ns}/team-c"]
        colour = await page.eval_on_selector(row(ns, "team-a"), "r => getComputedStyle(r).borderLeftColor")
        assert colour == RUNNING_COLOUR
        assert await page.locator(".node.restarted").count() == 0

        writes = StatusWrites(
            env.cluster.url, f"/apis/otp.agents.dev/v1alpha1/namespaces/{ns}/agents"
        ).start()
        try:
            crashed = env.status("agents", "team-b")["podName"]
            killed_at = time.time()
            env.kill_pod(crashed)
            # The crash shows up on the open page (pushed, no reload): team-b's last exit. raf polling: the
            # browser's clock at the first frame that shows it.
            shown_at = await page.wait_for_function(
                f"""() => document.querySelector('{row(ns, "team-b")}[data-last-exit]') && Date.now()""",
                polling="raf",
            )
            # This process's watch may see the write after the page did: wait for it too.
            written_at = await asyncio.to_thread(
                wait_for,
                lambda: writes.first("team-b", lambda status: bool(status.get("lastExit"))),
                10,
                "the status write with team-b's last exit",
            )
        finally:
            writes.stop.set()
        on_page = await shown_at.json_value() / 1000

        # The one_for_all restart marks every child it restarted, by the same timeline entry.
        children = [row(ns, name) for name in ("team-a", "team-b", "team-c")]
        await page.wait_for_function(
            f"() => {json.dumps(children)}.every(s => document.querySelector(s + '.restarted'))"
        )
        marks = {await page.get_attribute(child, "data-restarted-by") for child in children}
        assert len(marks) == 1
        entry = page.locator('#timeline li[data-reason="GroupRestarted"]')
        assert (await entry.get_attribute("data-restarted")).split() == [
            f"{ns}/{n}" for n in ("team-a", "team-b", "team-c")
        ]
        assert await page.locator(f"{row(ns, 'team')}.restarted").count() == 0

        # A node's detail: team-b's exit, the log tail of its ended pod and its runtime summary (screenshot);
        # then the agent whose model key is in the Secret.
        await asyncio.to_thread(wait_running, env, "team", 3)
        await page.click(row(ns, "team-b"))
        await page.wait_for_selector(f'#detail pre.log[data-pod="{crashed}"]:not(:text("loading"))')
        await page.wait_for_selector('#detail [data-field="tokens"]')
        if os.environ.get("OBSERVER_SCREENSHOT"):
            await page.screenshot(path=os.environ["OBSERVER_SCREENSHOT"], full_page=True)
        await page.click(row(ns, "team-a"))
        await page.wait_for_selector('#detail [data-field="tokens"]')

        html = await page.content()
        received = await page.evaluate("() => JSON.stringify(latest)")
        assert secret_value not in html
        assert secret_value not in received

    # Recorded, not asserted (the 2 s goal and the figures: docs/benchmarks.md); `pytest -s` shows them.
    # The test's own watch is one more client of the write, so "after the write" can come out negative.
    print(
        f"\nobserver: kill -> status write {written_at - killed_at:.3f} s (the test's watch), "
        f"kill -> on the page {on_page - killed_at:.3f} s, write -> page {on_page - written_at:+.3f} s"
    )
