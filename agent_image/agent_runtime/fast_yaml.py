"""`yaml.safe_load` through libyaml when PyYAML has it (its wheels do): the same documents and errors, parsed
in C. The pure-Python loader took 10-30 ms of an incarnation's CPU before /readyz for the runtime config and
the kubeconfig alone (issue 12), more than the rest of the start together."""

from typing import Any

import yaml

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """What `yaml.safe_load(text)` returns; raises yaml.YAMLError as it does."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader, chosen above
