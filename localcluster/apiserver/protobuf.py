"""Decoding of Kubernetes protobuf request bodies for a few core kinds.

Go clients built on client-go's typed clientset (kubectl's `create namespace|configmap|secret|serviceaccount`,
helm's release storage) send built-in objects as `application/vnd.kubernetes.protobuf`. Responses are
always JSON (clients accept it), so only request decoding is needed. No protobuf library is used because the
message layouts are tiny and fixed: the field numbers below are those of the Kubernetes wire format
(k8s.io/api and k8s.io/apimachinery `generated.proto`). Other kinds are answered 415 with a hint to send JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"

# Field kinds: "string", "bytes", "int", "bool", "time", "msg:<Name>", "map:string", "map:bytes", each
# optionally prefixed with "[]" for repeated fields; a "?" suffix marks Go pointer fields, whose zero value
# is meaningful (e.g. gracePeriodSeconds=0) where other fields' zero values mean "unset".
Schema = dict[int, tuple[str, str]]
MESSAGES: dict[str, Schema] = {
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int?"),
        11: ("labels", "map:string"),
        12: ("annotations", "map:string"),
        13: ("ownerReferences", "[]msg:OwnerReference"),
        14: ("finalizers", "[]string"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool?"),
        7: ("blockOwnerDeletion", "bool?"),
    },
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "[]string")},
    "ConfigMap": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:string"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool?"),
    },
    "Secret": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "string"),
        4: ("stringData", "map:string"),
        5: ("immutable", "bool?"),
    },
    "ServiceAccount": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("secrets", "[]msg:ObjectReference"),
        3: ("imagePullSecrets", "[]msg:LocalObjectReference"),
        4: ("automountServiceAccountToken", "bool?"),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int?"),
        2: ("preconditions", "msg:Preconditions"),
        3: ("orphanDependents", "bool?"),
        4: ("propagationPolicy", "string"),
        5: ("dryRun", "[]string"),
    },
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
}
DECODABLE_KINDS = ("Namespace", "ConfigMap", "Secret", "ServiceAccount", "DeleteOptions")


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        assert isinstance(value, bytes)
        return value.decode()
    if kind == "bytes":
        assert isinstance(value, bytes)
        return base64.b64encode(value).decode()
    if kind == "int":
        assert isinstance(value, int)
        return _signed(value)
    if kind == "bool":
        return bool(value)
    if kind == "time":
        assert isinstance(value, bytes)
        seconds = decode_message("Time", value).get("seconds", 0)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None
    assert isinstance(value, bytes)
    return decode_message(kind.removeprefix("msg:"), value)


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    schema = MESSAGES[name]
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue  # a field this decoder does not know: dropped, like an unknown JSON field
        field, kind = schema[number]
        if kind.startswith("map:"):
            assert isinstance(value, bytes)
            entry = dict(_fields(value))
            key = entry.get(1, b"")
            assert isinstance(key, bytes)
            out.setdefault(field, {})[key.decode()] = _scalar(kind.removeprefix("map:"), entry.get(2, b""))
        elif kind.startswith("[]"):
            out.setdefault(field, []).append(_scalar(kind[2:].removesuffix("?"), value))
        else:
            decoded = _scalar(kind.removesuffix("?"), value)
            # Go always encodes non-pointer fields; their zero values mean "unset", as JSON's omitempty does.
            if kind.endswith("?") or decoded not in ("", 0, False, None):
                out[field] = decoded
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object (magic + runtime.Unknown envelope) as the JSON-shaped dict it stands for."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (missing the k8s\\x00 prefix)")
    # The runtime.Unknown envelope: field 1 is the TypeMeta, field 2 the encoded object.
    envelope = dict(_fields(body[len(MAGIC) :]))
    type_meta_bytes, raw = envelope.get(1, b""), envelope.get(2, b"")
    assert isinstance(type_meta_bytes, bytes) and isinstance(raw, bytes)
    type_meta = decode_message("TypeMeta", type_meta_bytes)
    kind = type_meta.get("kind", "")
    if kind not in DECODABLE_KINDS:
        raise ProtobufError(
            f"protobuf bodies are understood only for {', '.join(DECODABLE_KINDS)}, "
            f"not {kind or 'this kind'}; "
            "send JSON instead (e.g. kubectl apply -f / kubectl create -f)"
        )
    return {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **decode_message(kind, raw)}
