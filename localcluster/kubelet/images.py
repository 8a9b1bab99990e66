"""Images are never pulled: a container runs as a local process, and its image only names a command.

Resolution, in the order Kubernetes gives a container's entrypoint precedence:
- ``command`` given: ``command + args`` (the image is irrelevant);
- otherwise the image's repository is looked up in an :class:`ImageTable` (glob rules, first match wins) and
  ``rule.command + args`` runs; no rule means the image "cannot be pulled" (``ErrImagePull``).
``python``/``python3``/``python3.X`` as the program name run the Python that runs the local cluster.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?")


class ImagePullError(Exception):
    """The image maps to no local command (reported as ErrImagePull / ImagePullBackOff)."""


class ContainerCannotRunError(Exception):
    """The program could not be started (reported as a terminated state with reason ContainerCannotRun)."""


@dataclass(frozen=True)
class ImageRule:
    """Run ``command`` for images whose repository (the name without tag or digest) matches ``pattern``."""

    pattern: str
    command: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> ImageRule:
        """Parse ``PATTERN=COMMAND ARGS...`` (the CLI's ``--image`` form)."""
        pattern, sep, command = text.partition("=")
        words = command.split()
        if not sep or not pattern.strip() or not words:
            raise ValueError(
                f"image rule {text!r} must look like PATTERN=COMMAND, e.g. '*my-app*=python -m my_app'"
            )
        return cls(pattern.strip(), tuple(words))


DEFAULT_IMAGE_RULES: tuple[ImageRule, ...] = (
    ImageRule("*agent-supervisor*operator*", ("python", "-m", "agent_supervisor", "operator")),
    ImageRule("*agent-supervisor*agent*", ("python", "-m", "agent_runtime")),
)


def image_repository(image: str) -> str:
    """``ghcr.io/org/app:1.2@sha256:..`` -> ``ghcr.io/org/app``."""
    name = image.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    last = last.split(":", 1)[0]
    return f"{head}{slash}{last}"


class ImageTable:
    """Maps image names to local commands (ordered glob rules)."""

    def __init__(self, rules: Sequence[ImageRule] = DEFAULT_IMAGE_RULES) -> None:
        self.rules = tuple(rules)

    def entrypoint(self, image: str) -> tuple[str, ...]:
        repository = image_repository(image)
        for rule in self.rules:
            if fnmatch.fnmatchcase(repository, rule.pattern):
                return rule.command
        raise ImagePullError(
            f'Failed to pull image "{image}": the local cluster pulls no images and no image rule matches '
            f'"{repository}"; give the container a command, or add an image rule (see docs/local-cluster.md)'
        )


def container_argv(container: Mapping[str, Any], images: ImageTable) -> list[str]:
    """The container's argv before ``$(VAR)`` expansion and program lookup."""
    command: list[str] = list(container.get("command") or [])
    args: list[str] = list(container.get("args") or [])
    if command:
        return command + args
    return [*images.entrypoint(str(container.get("image", ""))), *args]


def resolve_program(argv: Sequence[str], search_path: str | None) -> list[str]:
    """Map Python names to this interpreter and find the program on ``search_path`` like exec would."""
    if not argv:
        raise ContainerCannotRunError(
            "no command specified: the container has neither a command nor an image rule"
        )
    program = argv[0]
    if _PYTHON_NAME.fullmatch(program):
        return [sys.executable, *argv[1:]]
    if "/" in program:
        return list(argv)
    found = shutil.which(program, path=search_path)
    if found is None:
        raise ContainerCannotRunError(f'exec: "{program}": executable file not found in $PATH')
    return [found, *argv[1:]]
