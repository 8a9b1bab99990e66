"""Built-in absolute paths, seen through an optional container root.

The project's local cluster runs pods as plain processes and tells each one its container root in
`LOCALCLUSTER_ROOT`; it rewrites paths given in the pod spec itself, but a program's own defaults (such as the
service account directory) must be prefixed by the program. In a real container the variable is unset and the
paths are used as they are.
"""

import os
from pathlib import Path
from typing import Final

CONTAINER_ROOT_ENV: Final = "LOCALCLUSTER_ROOT"


def builtin_path(path: str) -> Path:
    root = os.environ.get(CONTAINER_ROOT_ENV)
    return Path(root) / path.lstrip("/") if root else Path(path)
