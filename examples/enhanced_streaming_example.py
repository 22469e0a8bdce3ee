"""Enhanced streaming end to end: an agent calls a tool that reports progress, and the handler
turns the run into OpenAI-style SSE chunks, printed here as they arrive.

    python examples/enhanced_streaming_example.py

Runs offline (a scripted model); swap in ``OpenAIModel("gpt-4o-mini")`` or any other model.
"""

from __future__ import annotations

import asyncio

from masai import AgentDetails, AgentManager, ScriptedModel, tool
from masai.Tools.utilities.enhanced_streaming import EnhancedStreamHandler
from masai.Tools.utilities.streaming_events import emit_custom_event


@tool("search_database")
async def search_database(query: str) -> str:
    """Search the database, reporting progress per shard."""
    for shard in range(1, 5):
        await emit_custom_event(f"Searching shard {shard}/4", {"progress": shard / 4})
        await asyncio.sleep(0.1)
    return f"4 shards searched for {query!r}: 12 matches"


model = ScriptedModel(
    [
        {
            "reasoning": "I should search first.",
            "tool": "search_database",
            "tool_input": {"query": "AI trends"},
        },
        {
            "reasoning": "The search answered it.",
            "satisfied": True,
            "answer": "There are 12 documents about AI trends.",
        },
    ],
    token_delay=0.05,
)
manager = AgentManager(model=model)
agent = manager.create_agent("researcher", [search_database], AgentDetails(["research"]))


async def main() -> None:
    handler = EnhancedStreamHandler(model="mas-ai-general", enable_token_events=True)
    async for chunk in handler.stream_agent_execution(agent, "What do we have on AI trends?"):
        print(chunk, end="", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
