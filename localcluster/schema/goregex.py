"""Regular expressions with Go's semantics (RE2), as kube-apiserver applies `pattern` and CEL's `matches`.

Python's `re` differs where it matters for input checks: its `$` also matches before a final newline, so
`^[^\\s]+$` would let `"image:1\n"` through, and its `\\s` and `\\d` take in Unicode characters RE2's do not.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import re2


class Compiled(Protocol):
    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile (look-arounds and back-references, for instance)."""


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Compiled:
    try:
        compiled: Compiled = re2.compile(pattern)
    except re2.error as error:
        detail = error.args[0] if error.args else "invalid pattern"
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise PatternError(text) from error
    return compiled
