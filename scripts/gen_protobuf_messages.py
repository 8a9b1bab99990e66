"""Writes localcluster/apiserver/protobuf_messages.json: the protobuf layout of the built-in kinds the local
API server decodes from `application/vnd.kubernetes.protobuf` request bodies.

The layout is Kubernetes' wire format, read from the `generated.proto` files (message and field numbers and
types) and the `types.go` files (which Go fields are pointers or lack `omitempty`, i.e. whose zero value a
client means) of checkouts of k8s.io/api and k8s.io/apimachinery at the version the server emulates:

    python scripts/gen_protobuf_messages.py ~/src/k8s.io/api ~/src/k8s.io/apimachinery

Only messages reachable from ROOTS are written. Each field is `[json name, type, flags]`: type is a
scalar (`string`, `bytes`, `int`, `bool`, `double`), `msg:<full message name>`, or `map:<value type>`;
flags has `r` for repeated and `z` where a zero value is meaningful (a Go pointer or a field without
omitempty).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOTS = (
    "k8s.io.api.core.v1.Namespace",
    "k8s.io.api.core.v1.Node",
    "k8s.io.api.core.v1.Pod",
    "k8s.io.api.core.v1.Service",
    "k8s.io.api.core.v1.Endpoints",
    "k8s.io.api.core.v1.ConfigMap",
    "k8s.io.api.core.v1.Secret",
    "k8s.io.api.core.v1.ServiceAccount",
    "k8s.io.api.core.v1.Event",
    "k8s.io.api.events.v1.Event",
    "k8s.io.api.coordination.v1.Lease",
    "k8s.io.api.rbac.v1.Role",
    "k8s.io.api.rbac.v1.RoleBinding",
    "k8s.io.api.rbac.v1.ClusterRole",
    "k8s.io.api.rbac.v1.ClusterRoleBinding",
    "k8s.io.api.policy.v1.PodDisruptionBudget",
    "k8s.io.api.networking.v1.NetworkPolicy",
    "k8s.io.api.apps.v1.Deployment",
    "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "k8s.io.apimachinery.pkg.runtime.Unknown",
)
# Decoded by hand in protobuf.py (their JSON form is not their message form).
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
}
SCALARS = {"string": "string", "bytes": "bytes", "bool": "bool", "double": "double", "float": "double"}
SCALARS.update({t: "int" for t in ("int32", "int64", "uint32", "uint64", "sint32", "sint64")})

_FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
_MAP = re.compile(r"^\s*map<\s*string\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")
_GO_FIELD = re.compile(
    r"^\s*(?:\w+\s+)?(\*?)[\w.\[\]*]+\s+`[^`]*json:\"([^\",]*)([^\"]*)\"[^`]*protobuf:\"\w+,(\d+),"
)


def parse_proto(text: str) -> dict[str, dict[int, tuple[str, str, bool]]]:
    package = re.search(r"^package ([\w.]+);", text, re.M)
    assert package
    messages: dict[str, dict[int, tuple[str, str, bool]]] = {}
    current: dict[int, tuple[str, str, bool]] | None = None
    for line in text.splitlines():
        start = re.match(r"^message (\w+) \{", line)
        if start:
            current = messages.setdefault(f"{package.group(1)}.{start.group(1)}", {})
            continue
        if current is None:
            continue
        if line.startswith("}"):
            current = None
        elif field := _FIELD.match(line):
            current[int(field.group(4))] = (field.group(3), field.group(2), field.group(1) == "repeated")
        elif entry := _MAP.match(line):
            current[int(entry.group(3))] = (entry.group(2), f"map:{entry.group(1)}", False)
    return {name: fields for name, fields in messages.items()}


def meaningful_zeros(text: str) -> dict[str, set[int]]:
    """Per Go struct: the protobuf numbers of fields that are pointers or lack omitempty."""
    out: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in text.splitlines():
        start = re.match(r"^type (\w+) struct \{", line)
        if start:
            current = out.setdefault(start.group(1), set())
            continue
        if current is None:
            continue
        if line.startswith("}"):
            current = None
        elif field := _GO_FIELD.match(line):
            pointer, _name, options, number = field.groups()
            if pointer or "omitempty" not in options:
                current.add(int(number))
    return out


def resolve(type_name: str, package: str, messages: dict[str, object]) -> str:
    if type_name in SCALARS:
        return SCALARS[type_name]
    type_name = type_name.lstrip(".")
    full = type_name if "." in type_name else f"{package}.{type_name}"
    assert full in messages or full in SPECIAL, f"unknown message {full}"
    return f"msg:{full}"


def main(api: Path, apimachinery: Path) -> None:
    messages: dict[str, dict[int, tuple[str, str, bool]]] = {}
    zeros: dict[str, set[int]] = {}
    for root in (api, apimachinery):
        for proto in sorted(root.rglob("generated.proto")):
            parsed = parse_proto(proto.read_text())
            messages.update(parsed)
            go_zeros: dict[str, set[int]] = {}
            for go in proto.parent.glob("types*.go"):
                go_zeros.update(meaningful_zeros(go.read_text()))
            for name in parsed:
                zeros[name] = go_zeros.get(name.rsplit(".", 1)[1], set())
    out: dict[str, dict[str, list[str]]] = {}
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name in out or name in SPECIAL:
            continue
        package = name.rsplit(".", 1)[0]
        fields: dict[str, list[str]] = {}
        for number, (json_name, type_name, repeated) in sorted(messages[name].items()):
            if type_name.startswith("map:"):
                kind = "map:" + resolve(type_name[4:], package, messages)
            else:
                kind = resolve(type_name, package, messages)
            for part in (kind.removeprefix("map:"),):
                if part.startswith("msg:"):
                    pending.append(part[4:])
            flags = ("r" if repeated else "") + ("z" if number in zeros.get(name, ()) else "")
            fields[str(number)] = [json_name, kind, flags]
        out[name] = fields
    target = Path(__file__).resolve().parents[1] / "localcluster" / "apiserver" / "protobuf_messages.json"
    target.write_text(json.dumps(dict(sorted(out.items())), indent=0, separators=(",", ":")) + "\n")
    print(f"{len(out)} messages written to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
