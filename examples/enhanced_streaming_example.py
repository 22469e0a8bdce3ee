"""Enhanced streaming in a few lines: a tool reports progress, the handler turns the run into
OpenAI-style SSE chunks, printed here as they arrive.

    python examples/enhanced_streaming_example.py
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from masai.Tools.utilities.enhanced_streaming import EnhancedStreamHandler
from masai.Tools.utilities.streaming_events import (
    emit_custom_event,
    emit_tool_call,
    emit_tool_output,
)


async def search_database(query: str) -> str:
    for step in range(1, 5):
        await emit_custom_event(f"Searching shard {step}/4", {"progress": step / 4})
        await asyncio.sleep(0.2)
    return f"4 shards searched for {query!r}"


class MinimalAgent:
    """Anything with ``agent_name`` and MASAI's ``initiate_agent_astream`` can be streamed."""

    agent_name = "researcher"

    async def initiate_agent_astream(
        self, query: str, passed_from: str = "user", **_: Any
    ) -> AsyncIterator[Any]:
        yield (
            "updates",
            {"router": {"reasoning": "I should search first", "current_node": "router"}},
        )
        await emit_tool_call("search_database", {"query": query}, node="execute_tool")
        output = await search_database(query)
        await emit_tool_output("search_database", output, node="execute_tool")
        yield (
            "updates",
            {
                "evaluator": {
                    "reasoning": "The search answered it",
                    "answer": output,
                    "satisfied": True,
                    "current_node": "evaluator",
                }
            },
        )


async def main() -> None:
    handler = EnhancedStreamHandler(model="mas-ai-general")
    async for chunk in handler.stream_agent_execution(MinimalAgent(), "AI trends"):
        print(chunk, end="", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
