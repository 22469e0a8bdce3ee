"""A minimal MASAI-shaped agent: ``agent_name`` plus ``initiate_agent_astream``.

It drives the handlers the way an agent from the original MASAI would, and calls tools the way
MASAI's ``execute_tool`` did (``emit_tool_call`` → run → ``emit_tool_output``).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from masai.events import emit_tool_call, emit_tool_output

Step = dict[str, Any] | Callable[[str], Awaitable[None]]


class StepAgent:
    def __init__(self, name: str, steps: list[Step]) -> None:
        self.agent_name = name
        self.steps = steps

    async def initiate_agent_astream(
        self, query: str, passed_from: str | None = None, **_: Any
    ) -> AsyncIterator[Any]:
        for step in self.steps:
            if isinstance(step, dict):
                yield ("updates", {step.get("current_node", "router"): dict(step)})
            else:
                await step(query)

    async def initiate_agent(self, query: str, passed_from: str | None = None) -> Any:
        final = None
        async for update in self.initiate_agent_astream(query, passed_from):
            final = update[1]
        return final


async def call_tool(tool: Any, name: str, args: dict[str, Any]) -> Any:
    """Run a plain function (sync in a worker thread) or a LangChain tool, emitting its events."""
    await emit_tool_call(name, args, node="execute_tool")
    if hasattr(tool, "ainvoke"):
        result = await tool.ainvoke(args)
    elif inspect.iscoroutinefunction(tool):
        result = await tool(**args)
    else:
        result = await asyncio.to_thread(tool, **args)
    await emit_tool_output(name, result, node="execute_tool")
    return result


def tool_step(tool: Any, name: str, args: dict[str, Any]) -> Callable[[str], Awaitable[None]]:
    async def step(_query: str) -> None:
        await call_tool(tool, name, args)

    return step
