"""Field paths rendered in the two spellings kube-apiserver uses for custom resources.

The OpenAPI keyword validator (kube-openapi) names map entries with a dot (`spec.labels.app`), while the
list-type and CEL validators use `field.Path`, which names them in brackets (`spec.labels[app]`). Both index
list items as `[3]`. The root itself is "<nil>", as Go prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Go prints a nil *field.Path as "<nil>"; errors about the object root carry that as their field.
NIL = "<nil>"


@dataclass(frozen=True)
class FieldPath:
    segments: tuple[tuple[str, str], ...] = ()

    def child(self, name: str) -> FieldPath:
        return FieldPath((*self.segments, ("child", name)))

    def key(self, name: str) -> FieldPath:
        return FieldPath((*self.segments, ("key", name)))

    def index(self, position: int) -> FieldPath:
        return FieldPath((*self.segments, ("index", str(position))))

    @property
    def openapi(self) -> str:
        """kube-openapi spelling: children and map keys joined with dots; empty at the root."""
        out = ""
        for kind, name in self.segments:
            out += f"[{name}]" if kind == "index" else (f".{name}" if out else name)
        return out

    def __str__(self) -> str:
        """`field.Path` spelling, used by list-type, metadata and CEL errors."""
        out = ""
        for kind, name in self.segments:
            if kind == "child":
                out += f".{name}" if out else name
            else:
                out += f"[{name}]"
        return out or NIL


ROOT = FieldPath()
