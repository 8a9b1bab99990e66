"""Request-level fault injection: fail or delay matching requests, drop all watch streams.

Rules match an HTTP method (or "*") and a regular expression searched in the request's path and query.
Controlled from Python (`server.faults`) or over HTTP under /localcluster/v1/faults (never faulted itself).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import REASONS, status_body
from .negotiation import json_response
from .watch import WatchHub

ADMIN_PREFIX = "/localcluster/"


@dataclass
class _Rule:
    method: str
    pattern: re.Pattern[str]
    remaining: int | None  # None: until cleared

    def matches(self, request: web.Request) -> bool:
        return self.method in ("*", request.method) and bool(self.pattern.search(request.path_qs))

    def use(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.pattern.pattern, "remaining": self.remaining}


@dataclass
class _Failure(_Rule):
    status: int = 500

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "status": self.status}


@dataclass
class _Delay(_Rule):
    seconds: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "seconds": self.seconds}


class Faults:
    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []

    def fail_next(self, method: str, path_regex: str, status: int = 500, count: int = 1) -> None:
        """The next `count` requests matching `method` and `path_regex` get a Status error with `status`."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error code (400-599), got {status}")
        self._failures.append(_Failure(method.upper(), re.compile(path_regex), count, status))

    def delay(self, method: str, path_regex: str, seconds: float, count: int | None = None) -> None:
        """Matching requests wait `seconds` before being handled; `count=None`: until cleared."""
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        self._delays.append(_Delay(method.upper(), re.compile(path_regex), count, seconds))

    def drop_watches(self) -> int:
        """Ends every open watch stream now; returns how many were dropped."""
        return self._hub.close_all()

    def compact_history(self) -> int:
        """Expires the watch history now (see WatchHub.compact); returns the compacted resourceVersion."""
        return self._hub.compact()

    def clear(self) -> None:
        self._failures.clear()
        self._delays.clear()

    def describe(self) -> dict[str, Any]:
        return {
            "failures": [f.describe() for f in self._failures],
            "delays": [d.describe() for d in self._delays],
        }

    def _take(self, rules: list[Any], request: web.Request) -> Any:
        for rule in rules:
            if rule.matches(request):
                rule.use()
                if rule.spent:
                    rules.remove(rule)
                return rule
        return None

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        delay = self._take(self._delays, request)
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        failure = self._take(self._failures, request)
        if failure is not None:
            reason = REASONS.get(failure.status, "Unknown")
            message = "Internal error occurred: injected fault" if failure.status == 500 else "injected fault"
            return json_response(status_body(failure.status, message, reason), status=failure.status)
        return await handler(request)

    # -- HTTP admin endpoints ------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/localcluster/v1/faults", self._get),
            web.delete("/localcluster/v1/faults", self._clear),
            web.post("/localcluster/v1/faults/fail", self._post_fail),
            web.post("/localcluster/v1/faults/delay", self._post_delay),
            web.post("/localcluster/v1/faults/drop-watches", self._post_drop),
            web.post("/localcluster/v1/faults/compact-history", self._post_compact),
        ]

    async def _get(self, _request: web.Request) -> web.Response:
        return json_response(self.describe())

    async def _clear(self, _request: web.Request) -> web.Response:
        self.clear()
        return json_response(self.describe())

    async def _post_fail(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            self.fail_next(
                str(body.get("method", "*")),
                str(body["path"]),
                int(body.get("status", 500)),
                int(body.get("count", 1)),
            )
        except (KeyError, ValueError, re.error) as exc:
            return _admin_error(f"fail needs {{method, path (regex), status, count}}: {exc}")
        return json_response(self.describe())

    async def _post_delay(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            count = body.get("count")
            self.delay(
                str(body.get("method", "*")),
                str(body["path"]),
                float(body["seconds"]),
                None if count is None else int(count),
            )
        except (KeyError, ValueError, re.error) as exc:
            return _admin_error(f"delay needs {{method, path (regex), seconds, count?}}: {exc}")
        return json_response(self.describe())

    async def _post_drop(self, _request: web.Request) -> web.Response:
        return json_response({"dropped": self.drop_watches()})

    async def _post_compact(self, _request: web.Request) -> web.Response:
        return json_response({"compactedResourceVersion": str(self.compact_history())})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _admin_error(message: str) -> web.Response:
    return json_response(status_body(400, message, "BadRequest"), status=400)
