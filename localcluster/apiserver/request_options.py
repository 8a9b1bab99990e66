"""Query parameters (and DeleteOptions bodies) read into the options `Resources` takes, with kube-apiserver's
defaults and error messages. Shared by the CRUD handlers and watch streams."""

from __future__ import annotations

from aiohttp import web

from .errors import bad_request
from .negotiation import read_body
from .resources import APPLY_PATCH, DeleteOptions, ListOptions, WriteOptions


def flag(request: web.Request, key: str) -> bool:
    return request.query.get(key, "").lower() in ("true", "1")


def _int(request: web.Request, key: str) -> int | None:
    text = request.query.get(key)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request(f"{key}: invalid value {text!r}: must be an integer") from exc


def write_options(request: web.Request) -> WriteOptions:
    validation = request.query.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise bad_request(
            f'fieldValidation: Unsupported value: "{validation}": '
            'supported values: "Ignore", "Strict", "Warn"'
        )
    manager = request.query.get("fieldManager") or ""
    if not manager and request.content_type != APPLY_PATCH:
        # kube-apiserver names an unnamed manager after the client's User-Agent program name.
        manager = request.headers.get("User-Agent", "").split("/", 1)[0] or "unknown"
    return WriteOptions(
        dry_run=bool(request.query.getall("dryRun", [])),
        field_manager=manager,
        field_validation=validation,
        force=flag(request, "force"),
    )


def list_options(request: web.Request) -> ListOptions:
    return ListOptions(
        label_selector=request.query.get("labelSelector", ""),
        field_selector=request.query.get("fieldSelector", ""),
        limit=_int(request, "limit") or 0,
        continue_token=request.query.get("continue", ""),
    )


async def delete_options(request: web.Request) -> DeleteOptions:
    body = await read_body(request) or {}
    if not isinstance(body, dict):
        raise bad_request("DeleteOptions must be a JSON object")
    policy = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = request.query.get("orphanDependents") or body.get("orphanDependents")
    if policy is None and str(orphan).lower() == "true":
        policy = "Orphan"
    if policy not in (None, "Background", "Foreground", "Orphan"):
        raise bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": '
            'supported values: "Background", "Foreground", "Orphan"'
        )
    grace = _int(request, "gracePeriodSeconds")
    if grace is None and body.get("gracePeriodSeconds") is not None:
        grace = int(body["gracePeriodSeconds"])
    return DeleteOptions(
        propagation=policy,
        grace_period=grace,
        preconditions=dict(body.get("preconditions") or {}),
        dry_run=bool(request.query.getall("dryRun", []) or body.get("dryRun")),
    )
