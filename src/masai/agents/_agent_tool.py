from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from .._context import current_scope
from ..tooling import Tool
from ._run_context import RunContext

if TYPE_CHECKING:
    from .agent import Agent

__all__ = ("AgentTool",)


class _TaskArgs(BaseModel):
    task: str = Field(description="The task for the agent, with all the context it needs.")


class AgentTool(Tool):
    """Calls an agent as a tool: the task in, its final answer out."""

    def __init__(self, agent: Agent, *, name: str | None = None, description: str | None = None):
        super().__init__(
            name or agent.name,
            description or f"Ask the {agent.name} agent ({agent.details.summary()}).",
            _TaskArgs,
        )
        self.agent = agent

    async def _call(self, arguments: dict[str, Any]) -> Any:
        scope = current_scope()
        parent = scope.run if isinstance(scope.run, RunContext) else RunContext()
        # The caller's run, nested under the calling agent; the answer is a tool result.
        context = parent.child(coworkers={}, agent_path=scope.agent_path, intermediate=True)
        final = await self.agent.initiate_agent(
            arguments["task"], passed_from=scope.agent or "user", context=context
        )
        return final["answer"]
