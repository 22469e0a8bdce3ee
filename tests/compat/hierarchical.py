"""A supervised team as MASAI's guide writes it: SupervisorConfig with its seven fields in
order, the {status, task_id, ...} result and the result callback."""

import asyncio

from masai.AgentManager import AgentDetails, AgentManager
from masai.MultiAgents.MultiAgent import MultiAgentSystem, SupervisorConfig

manager = AgentManager(logging=False, model_config_path="model_config.json")
manager.create_agent(
    agent_name="analyst",
    tools=[],
    agent_details=AgentDetails(capabilities=["analysis"], description="Numbers"),
)

supervisor_config = SupervisorConfig(
    model_name="gpt-4o-mini",
    temperature=0.2,
    model_category="openai",
    memory_order=20,
    memory=True,
    extra_context={"organization": "ACME"},
    supervisor_system_prompt="You coordinate the analysts of ACME.",
)


def handle_task_result(task):
    print("callback:", task["status"], task["answer"])


mas = MultiAgentSystem(
    agentManager=manager,
    supervisor_config=supervisor_config,
    heirarchical_mas_result_callback=handle_task_result,
)


async def main():
    result = await mas.initiate_hierarchical_mas("What was Q3 revenue?")
    if result["status"] == "completed":
        print("answer:", result["answer"])
    elif result["status"] == "queued":
        print(f"Task {result['task_id']} queued")
    elif result["status"] == "failed":
        print(f"Task failed: {result['error']}")
    print("task_id:", bool(result["task_id"]), result["task_id"] in mas.task_ids)
    print("original_query:", result["original_query"])


asyncio.run(main())
