"""The scripted model server's HTTP app: OpenAI-compatible endpoints plus a request log for tests."""

import asyncio
import hmac
import time
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from agent_runtime.body_limit import BodyLimit
from agent_runtime.modelserver.scenarios import (
    AFTER_SCRIPT,
    Scenario,
    choose,
    completion,
    conversation_key,
    prompt_words,
    step_index,
)
from agent_runtime.modelserver.strict import context_problem, request_problem


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": "scripted_error", "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""A chat request carries the whole conversation, which can be long; past this it is refused with 413."""


def create_model_app(
    scenarios: dict[str, Scenario],
    api_key: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> FastAPI:
    app = FastAPI(title="scripted-model-server", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        BodyLimit,
        max_bytes=max_request_bytes,
        error_body=lambda message: {
            "error": {"message": message, "type": "invalid_request_error", "code": 413}
        },
    )
    failures: Counter[tuple[str, int, str]] = Counter()
    log: list[dict[str, Any]] = []
    usage = {"requests": 0, "promptTokens": 0, "completionTokens": 0}

    def authorised(request: Request) -> bool:
        if api_key is None:
            return True
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), api_key.encode())

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        names = ["scripted", *(f"scripted:{name}" for name in sorted(scenarios))]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "owned_by": "scripted"} for n in names],
        }

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(request: Request) -> JSONResponse | PlainTextResponse:
        if not authorised(request):
            return _error(401, "invalid API key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _error(400, "messages must be a list of objects")
        if body.get("stream"):
            return _error(400, "the scripted server does not stream; send stream: false")
        model = str(body.get("model", ""))
        name = choose(model, messages, scenarios)
        index = step_index(messages)
        steps = scenarios[name].steps
        step = steps[index] if index < len(steps) else AFTER_SCRIPT
        entry: dict[str, Any] = {
            "time": time.time(),
            "scenario": name,
            "step": index,
            "model": model,
            "system": next((m.get("content") for m in messages if m.get("role") == "system"), None),
            "messages": len(messages),
            "tools": [t.get("function", {}).get("name") for t in body.get("tools") or []],
            "toolChoice": body.get("tool_choice"),
            "maxTokens": body.get("max_tokens"),
        }
        log.append(entry)
        problem = request_problem(messages)
        limit = scenarios[name].context_words
        if problem is None and limit is not None and (words := prompt_words(messages)) > limit:
            problem = context_problem(words, limit)
        if problem is not None:
            entry["status"] = problem[0]
            return JSONResponse(problem[1], status_code=problem[0])
        if step.fail is not None:
            key = (name, index, conversation_key(messages))
            failures[key] += 1
            if failures[key] <= step.fail.times:
                entry["status"] = step.fail.status
                headers = dict(step.fail.headers)
                if step.fail.retry_after_seconds is not None:
                    headers["Retry-After"] = f"{step.fail.retry_after_seconds:g}"
                if step.fail.body is not None:
                    return JSONResponse(step.fail.body, status_code=step.fail.status, headers=headers)
                return _error(
                    step.fail.status, f"scripted failure {failures[key]}/{step.fail.times}", headers
                )
        if step.delay_seconds:
            await asyncio.sleep(step.delay_seconds)
        entry["status"] = 200
        if step.malformed == "not_json":
            return PlainTextResponse("<html>scripted garbage</html>")
        if step.malformed == "no_choices":
            return JSONResponse({"object": "chat.completion", "choices": []})
        response = completion(model, messages, step, index)
        usage["requests"] += 1
        usage["promptTokens"] += response["usage"]["prompt_tokens"]
        usage["completionTokens"] += response["usage"]["completion_tokens"]
        entry["completedAt"] = time.time()
        return JSONResponse(response)

    @app.get("/scripted/requests")
    async def requests() -> dict[str, Any]:
        """Every request seen, in order, and usage totals: lets tests assert what the agent sent."""
        return {"requests": log, "usage": usage}

    return app
