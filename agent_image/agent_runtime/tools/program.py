"""`run_program`: run a configured program as a separate OS process ("ports, not NIFs").

A program that crashes, hangs or floods its output becomes an error result for the model; it can never take
the agent down. It runs in its own session (process group) so a timeout kills everything it spawned.
"""

import asyncio
import contextlib
import os
import signal
from typing import Any, Final

from pydantic import Field, model_validator

from agent_runtime.tool_settings import RunProgramSettings
from agent_runtime.tools.base import Tool, ToolArguments, ToolContext, ToolError, ToolResult

_CHUNK: Final = 65536


class ProgramInput(ToolArguments):
    """The arguments of a program that takes none: the model is never offered `args`."""

    input: str = Field(default="", description="Text passed to the program on stdin.")

    @model_validator(mode="before")
    @classmethod
    def _no_args(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("args"):
            raise ValueError("this program takes no arguments; pass data through `input`")
        return value


class RunProgramArguments(ToolArguments):
    input: str = Field(default="", description="Text passed to the program on stdin.")
    args: list[str] = Field(default_factory=list, description="Extra command-line arguments.")


def program_environment(settings: RunProgramSettings) -> dict[str, str]:
    """Only what the settings name: `env`, and the `inheritEnv` variables of the runtime's environment.

    Never the whole environment: it holds the model API key and the message token (issue 15).
    """
    inherited = {name: os.environ[name] for name in settings.inherit_env if name in os.environ}
    return {**inherited, **settings.env}


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Keep the first `cap` bytes and keep draining the rest, so the program never blocks on a full pipe."""
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(_CHUNK):
        room = cap - len(kept)
        if len(chunk) > room:
            truncated = True
        kept.extend(chunk[: max(room, 0)])
    return bytes(kept), truncated


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
        stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program does not read its input: not our error


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


class RunProgramTool(Tool[RunProgramArguments | ProgramInput]):
    name = "run_program"

    def __init__(self, settings: RunProgramSettings) -> None:
        self._settings = settings
        self.description = settings.description
        self.arguments = RunProgramArguments if settings.allow_arguments else ProgramInput
        self._env = program_environment(settings)

    async def run(self, args: RunProgramArguments | ProgramInput, context: ToolContext) -> ToolResult:
        settings = self._settings
        extra = args.args if isinstance(args, RunProgramArguments) else []
        try:
            process = await asyncio.create_subprocess_exec(
                *settings.command,
                *extra,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=settings.working_dir,
                env=self._env,
                start_new_session=True,
            )
        except OSError as err:
            raise ToolError(f"cannot start {settings.command[0]!r}: {err.strerror}") from err
        assert process.stdin and process.stdout and process.stderr  # all three are pipes
        io = asyncio.gather(
            _feed(process.stdin, args.input.encode()),
            _read_capped(process.stdout, settings.max_output_bytes),
            _read_capped(process.stderr, settings.max_output_bytes),
            process.wait(),
        )
        try:
            _, (stdout, out_cut), (stderr, err_cut), code = await asyncio.wait_for(
                io, settings.timeout_seconds
            )
        except TimeoutError:
            _kill_group(process.pid)
            await process.wait()
            raise ToolError(f"program timed out after {settings.timeout_seconds:g}s and was killed") from None
        except asyncio.CancelledError:
            _kill_group(process.pid)
            raise
        _kill_group(process.pid)  # reap anything it left running in its group
        text = stdout.decode(errors="replace") + ("\n[stdout truncated]" if out_cut else "")
        if code == 0:
            return ToolResult(content=text)
        status = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        errors = stderr.decode(errors="replace") + ("\n[stderr truncated]" if err_cut else "")
        return ToolResult(content=f"program {status}\nstdout:\n{text}\nstderr:\n{errors}", is_error=True)
