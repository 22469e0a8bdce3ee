"""A decentralized team as MASAI's multi-agent guide writes it: hand-offs, the result's keys,
mas.state, and the streaming loop over initiate_decentralized_mas_astream."""

import asyncio

from masai.AgentManager import AgentDetails, AgentManager
from masai.MultiAgents.MultiAgent import MultiAgentSystem

manager = AgentManager(logging=False, model_config_path="model_config.json")

researcher = manager.create_agent(
    agent_name="researcher",
    tools=[],
    agent_details=AgentDetails(
        capabilities=["research", "analysis"],
        description="Research specialist",
        style="detailed",
    ),
)
writer = manager.create_agent(
    agent_name="writer",
    tools=[],
    agent_details=AgentDetails(
        capabilities=["writing", "content creation", "summarization"],
        description="Specializes in content creation and writing",
        style="clear and engaging",
    ),
)

mas = MultiAgentSystem(agentManager=manager)


async def run_decentralized():
    result = await mas.initiate_decentralized_mas(
        query="Research AI trends and write a summary",
        set_entry_agent=researcher,
        memory_order=3,
        passed_from="user",
    )
    print("answer:", result["answer"])
    print("last_agent:", result["last_agent"])
    print("reasoning:", result["reasoning"])
    print("current_node:", result["current_node"])
    print("messages:", len(result["messages"]) > 0)
    print("state.last_agent:", mas.state["last_agent"])
    print("state.answers:", mas.state["last_agent_answers"])

    mas.state = {
        "last_agent_answers": [],
        "last_agent": None,
        "last_agent_input": None,
        "agent_reasoning": None,
        "pending_tasks": {},
    }
    async for state in mas.initiate_decentralized_mas_astream(
        query="Complex task", set_entry_agent=researcher, memory_order=3
    ):
        node_name, state_dict = state
        state_value = list(state_dict.values())[0]
        print(
            "Node:", state_value["current_node"], "Agent:", state_value.get("current_agent", "N/A")
        )
        if "answer" in state_value:
            print("Answer:", state_value["answer"])


asyncio.run(run_decentralized())
