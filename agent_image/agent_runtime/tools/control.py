"""`finish` ends the task; `crash` (tests and demos only) makes the agent exit as if it had crashed."""

from pydantic import Field

from agent_runtime.tools.base import CrashRequestedError, Tool, ToolArguments, ToolContext, ToolResult


class FinishArguments(ToolArguments):
    result: str = Field(description="The final result of the task.")


class FinishTool(Tool[FinishArguments]):
    name = "finish"
    arguments = FinishArguments
    description = "Finish the current task and report its final result."

    async def run(self, args: FinishArguments, context: ToolContext) -> ToolResult:
        return ToolResult(content="task finished", finish_result=args.result)


class CrashArguments(ToolArguments):
    reason: str = Field(default="requested", description="Why the agent crashes.")


class CrashTool(Tool[CrashArguments]):
    name = "crash"
    arguments = CrashArguments
    description = "Crash this agent on purpose (for testing supervision). Never use it otherwise."

    async def run(self, args: CrashArguments, context: ToolContext) -> ToolResult:
        raise CrashRequestedError(args.reason)
