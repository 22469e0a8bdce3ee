"""An Orchestrated Multi-Agent Network as MASAI's OMAN guide writes it: a blocking
delegate_task at top level routes each query to one of the networks."""

from masai.AgentManager import AgentDetails, AgentManager
from masai.MultiAgents.MultiAgent import MultiAgentSystem
from masai.OMAN.oman import OrchestratedMultiAgentNetwork

finance = AgentManager(logging=False, model_config_path="model_config.json")
finance.create_agent("accountant", [], AgentDetails(["finance"], "Numbers and revenue"))
support = AgentManager(logging=False, model_config_path="model_config.json")
support.create_agent("helper", [], AgentDetails(["support"], "Customer questions"))

oman = OrchestratedMultiAgentNetwork(
    mas_instances=[MultiAgentSystem(agentManager=finance), MultiAgentSystem(agentManager=support)],
    network_memory_order=5,
    oman_llm_config={"model_name": "gpt-4o-mini", "category": "openai", "temperature": 0.2},
)

print("networks:", oman.list_networks())
result = oman.delegate_task(query="What is our Q3 revenue?")
print("answer:", result)
print("memory:", [t["network"] for t in oman.shared_memory["tasks"]])
