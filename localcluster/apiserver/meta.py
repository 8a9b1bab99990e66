"""Small helpers for object metadata: timestamps, uids, generated names, name validation."""

from __future__ import annotations

import copy
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

# kube-apiserver's generateName alphabet: no vowels (no accidental words) and no look-alike characters.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | None = None) -> str:
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def generated_name(prefix: str) -> str:
    return prefix + "".join(random.choice(_NAME_ALPHABET) for _ in range(5))


def deep_copy(obj: dict[str, Any]) -> dict[str, Any]:
    # JSON-shaped data only; copy.deepcopy's memo bookkeeping is not needed but it is the clearest spelling.
    return copy.deepcopy(obj)


def dns_subdomain_errors(name: str) -> list[str]:
    """kube-apiserver's messages for an invalid DNS-1123 subdomain (the rule for most object names)."""
    errors = []
    if len(name) > 253:
        errors.append("must be no more than 253 characters")
    if not _DNS_SUBDOMAIN.fullmatch(name):
        errors.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    return errors


def dns_label_errors(name: str) -> list[str]:
    """kube-apiserver's messages for an invalid DNS-1123 label (namespace and service names)."""
    errors = []
    if len(name) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS_LABEL.fullmatch(name):
        errors.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
            "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
            "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        )
    return errors


def without(obj: dict[str, Any], *paths: str) -> dict[str, Any]:
    """A shallow-copied view of `obj` minus the given top-level or `metadata.x` fields (for comparisons)."""
    out = dict(obj)
    meta = dict(out.get("metadata", {}))
    for path in paths:
        if path.startswith("metadata."):
            meta.pop(path.removeprefix("metadata."), None)
        else:
            out.pop(path, None)
    out["metadata"] = meta
    return out
