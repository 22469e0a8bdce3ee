"""Tools and context as MASAI's tools guide and AgentManager reference write them: LangChain
tools, context_callable, callable_config, shared context, update_tools/update_context,
MASAI's create_agent options, and session dump/load."""

import asyncio

from langchain_core.tools import tool

from masai.AgentManager import AgentDetails, AgentManager


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order by id."""
    return f"order {order_id}: shipped"


@tool
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"order {order_id}: refunded"


def user_profile(query):
    return {"customer": "Ada", "tier": "gold", "asked": query}


async def router_hint(query):
    return "Prefer looking orders up before answering."


manager = AgentManager(logging=False, context={"store": "ACME shop"}, user_id="u1")
agent = manager.create_agent(
    "support",
    [lookup_order],
    AgentDetails(capabilities=["orders"], description="Customer support", style="brief"),
    memory_order=6,
    temperature=0.1,
    context_callable=user_profile,
    callable_config={"router": [router_hint]},
    max_tool_loop=2,
    max_total_tool_calls=5,
    config_dict={"router_temperature": 0.0, "evaluator_memory_order": 4},
)


async def main():
    result = await agent.initiate_agent("Where is order 42?", "user")
    print("answer:", result["answer"])
    print("tool:", result["current_tool"], result["tool_output"])

    tools = manager.update_tools([refund], mode="append", agent_name="support")
    print("tools:", sorted(tools))
    manager.update_context({"promotion": "free shipping"}, agent_name="support")

    session = manager.dump_session()
    print("history:", [m["role"] for m in session["agents"]["support"]["history"]])
    print("session_key:", manager.session_key("support"))
    manager.load_session(session)

    again = await agent.initiate_agent("Refund order 42 please", "user")
    print("answer:", again["answer"])


asyncio.run(main())
