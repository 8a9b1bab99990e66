"""Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

Go clients built on client-go's typed clientset (kubectl's `create service|deployment|role|secret|...`,
`kubectl run`, helm's release storage) send built-in objects as protobuf, and client-go falls back to JSON
on a 415 only for CBOR, so the server must read them. Responses are always JSON (clients accept it), so
only request decoding is needed. The message layouts are Kubernetes' wire format, generated into
`protobuf_messages.json` by scripts/gen_protobuf_messages.py from k8s.io/api and k8s.io/apimachinery; no
protobuf library is used (the messages are plain proto2 with varint and length-delimited fields only).

Go's protobuf encoding writes every non-pointer field, zero or not; JSON's `omitempty` drops zeros. So a
zero scalar is kept only where the Go field is a pointer or has no `omitempty` (flag `z`), and nested
messages are always kept (Go's JSON always writes structs). A field number the layout does not know is
refused (415) rather than silently dropped.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

MAGIC = b"k8s\x00"
_LAYOUT_FILE = Path(__file__).with_name("protobuf_messages.json")
_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_UNKNOWN = "k8s.io.apimachinery.pkg.runtime.Unknown"
_TYPE_META = "k8s.io.apimachinery.pkg.runtime.TypeMeta"


class ProtobufError(ValueError):
    pass


@cache
def layouts() -> dict[str, dict[int, tuple[str, str, str]]]:
    raw: dict[str, dict[str, list[str]]] = json.loads(_LAYOUT_FILE.read_text())
    return {
        name: {int(number): (spec[0], spec[1], spec[2]) for number, spec in fields.items()}
        for name, fields in raw.items()
    }


def message_for(api_version: str, kind: str) -> str:
    """The protobuf message of a built-in kind: k8s.io.api.<first label of the group, or core>.<version>."""
    group, _, version = api_version.rpartition("/")
    if kind in ("DeleteOptions", "Status", "ListOptions", "GetOptions"):
        return f"{_META}.{kind}"
    return f"k8s.io.api.{group.split('.')[0] or 'core'}.{version}.{kind}"


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
    """(field number, value) pairs: ints for varints and fixed fields, bytes for length-delimited ones."""
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
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            out.append((number, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            out.append((number, int.from_bytes(data[pos : pos + 8], "little")))
            pos += 8
        elif wire == 5:
            out.append((number, int.from_bytes(data[pos : pos + 4], "little")))
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a length-delimited field")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise ProtobufError("expected a varint field")
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes, micro: bool) -> str | None:
    parts = dict(_fields(data))
    seconds, nanos = _int(parts.get(1, 0)), _int(parts.get(2, 0))
    if not seconds and not nanos:
        return None
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{nanos // 1000:06d}Z" if micro else f"{moment}Z"


def _duration(nanos: int) -> str:
    """Go's time.Duration.String() for whole-second-or-finer values (e.g. 1h0m0s, 1.5s, 0s)."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    hours, rest = divmod(nanos, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".")
    text = (f"{hours}h{minutes}m" if hours else f"{minutes}m" if minutes else "") + f"{seconds}s"
    return sign + text


def _special(name: str, data: bytes) -> Any:
    parts = dict(_fields(data))
    short = name.rsplit(".", 1)[1]
    if short in ("Time", "MicroTime"):
        return _time(data, short == "MicroTime")
    if short == "Duration":
        return _duration(_int(parts.get(1, 0)))
    if short == "IntOrString":
        if _int(parts.get(1, 0)) == 1:
            return _bytes(parts.get(3, b"")).decode()
        return _int(parts.get(2, 0))
    if short == "Quantity":
        return _bytes(parts.get(1, b"")).decode()
    if short in ("FieldsV1", "RawExtension"):
        raw = _bytes(parts.get(1, b""))
        return json.loads(raw) if raw else None
    raise ProtobufError(f"no decoder for {name}")


def _value(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return _bytes(value).decode()
    if kind == "bytes":
        return base64.b64encode(_bytes(value)).decode()
    if kind == "int":
        return _int(value)
    if kind == "bool":
        return bool(value)
    if kind == "double":
        if not isinstance(value, int):
            raise ProtobufError("expected a fixed64 field")
        return float(struct.unpack("<d", value.to_bytes(8, "little"))[0])
    name = kind.removeprefix("msg:")
    if name in layouts():
        return decode_message(name, _bytes(value))
    return _special(name, _bytes(value))


def _zero(value: Any) -> bool:
    return value in ("", 0, False, None) and not isinstance(value, dict)


def decode_message(name: str, data: bytes) -> dict[str, Any]:
    layout = layouts()[name]
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in layout:
            raise ProtobufError(
                f"field {number} of {name.rsplit('.', 1)[1]} is not known to the local cluster; send JSON"
            )
        field, kind, flags = layout[number]
        if kind.startswith("map:"):
            entry = dict(_fields(_bytes(value)))
            key = _bytes(entry.get(1, b"")).decode()
            element = kind.removeprefix("map:")
            default: int | bytes = 0 if element in ("int", "bool") else b""
            out.setdefault(field, {})[key] = _value(element, entry.get(2, default))
        elif "r" in flags:
            out.setdefault(field, []).append(_value(kind, value))
        else:
            decoded = _value(kind, value)
            if decoded is not None and ("z" in flags or kind.startswith("msg:") or not _zero(decoded)):
                out[field] = decoded
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object (magic + runtime.Unknown envelope) as the JSON-shaped dict it stands for."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (missing the k8s\\x00 prefix)")
    envelope = dict(_fields(body[len(MAGIC) :]))
    type_meta = decode_message(_TYPE_META, _bytes(envelope.get(1, b"")))
    api_version, kind = type_meta.get("apiVersion", "v1"), type_meta.get("kind", "")
    name = message_for(api_version, kind)
    if name not in layouts():
        raise ProtobufError(
            f"protobuf bodies are not understood for {kind or 'this kind'} ({api_version}); send JSON instead"
        )
    return {"apiVersion": api_version, "kind": kind, **decode_message(name, _bytes(envelope.get(2, b"")))}
