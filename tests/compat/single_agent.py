"""A single agent the way MASAI's README and QUICK_START write it: model_config.json found in
the working directory, MASAI's @tool, initiate_agent and the streaming loop."""

import asyncio

from masai.AgentManager import AgentDetails, AgentManager
from masai.Tools.Tool import tool


@tool("add")
def add(a: int, b: int) -> int:
    """Add two numbers"""
    return a + b


manager = AgentManager(user_id="user_123", logging=True)

agent_details = AgentDetails(
    capabilities=["analysis", "reasoning", "problem-solving"],
    description="A helpful AI assistant",
    style="concise",
)

agent = manager.create_agent(
    agent_name="assistant",
    agent_details=agent_details,
    tools=[add],
)


async def main():
    result = await agent.initiate_agent(query="What is 2+3?", passed_from="user")
    print("answer:", result["answer"])
    print("satisfied:", result["satisfied"])
    print("nodes:", [m.get("node") for m in result["messages"] if m.get("node")])
    print("current_node:", result["current_node"])

    async for state in agent.initiate_agent_astream(query="Tell me a story", passed_from="user"):
        node_name, state_dict = state
        state_value = [v for k, v in state_dict.items()][0]
        current_node = state_value.get("current_node")
        answer = state_value.get("answer")
        tool_name = state_value.get("current_tool")
        print("node:", current_node, "tool:", tool_name, "answer:", answer)


asyncio.run(main())
