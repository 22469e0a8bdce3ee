"""OrchestratedMultiAgentNetwork (OMAN): MASAI's router over several multi-agent systems.

A routing model reads each network's agents and picks the network for a query; that network
runs it decentralized from its first agent. Every step of the chosen network streams as
usual, after a ``handoff`` event from ``oman`` to the network, so a client sees the routing.

MASAI's ``delegate_task`` is a plain (blocking) call, as its guide uses it at top level;
inside async code use ``await oman.adelegate_task(query)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .._context import scoped
from ..events import emit_event
from ..exceptions import ConfigError
from ..models import Message, Model, ModelRequest
from ..models._config import model_from_config
from .mas import MultiAgentSystem

__all__ = ("OrchestratedMultiAgentNetwork",)

logger = logging.getLogger("masai.systems")

ROUTER = "oman"
#: MASAI's routing model when none is configured.
DEFAULT_LLM_CONFIG = {"model_name": "gemini-2.0-flash-001", "category": "gemini"}


class OrchestratedMultiAgentNetwork:
    """Networks are named ``Network_1``, ``Network_2``, … in the order given (MASAI's)."""

    def __init__(
        self,
        mas_instances: Sequence[MultiAgentSystem],
        network_memory_order: int = 3,
        oman_llm_config: Mapping[str, Any] | None = None,
        extra_context: Mapping[str, Any] | None = None,
        *,
        model: Model | None = None,
    ) -> None:
        if not mas_instances:
            raise ConfigError("OMAN needs at least one MultiAgentSystem")
        self.networks: dict[str, MultiAgentSystem] = {
            f"Network_{i}": mas for i, mas in enumerate(mas_instances, 1)
        }
        self.network_memory_order = network_memory_order
        self.extra_context = dict(extra_context or {})
        #: MASAI's record of recent tasks and which network took them (last N).
        self.shared_memory: dict[str, Any] = {"tasks": [], "outcomes": [], "capabilities": {}}
        config = dict(oman_llm_config or DEFAULT_LLM_CONFIG)
        config.pop("memory_order", None)  # MASAI's; the router keeps no history here
        self.oman_llm: Model = model if model is not None else model_from_config(config)

    def list_networks(self) -> list[str]:
        return list(self.networks)

    def _network_info(self) -> str:
        lines = []
        for name, mas in self.networks.items():
            lines.append(f"[{name}]")
            for agent, details in mas.agentManager.agent_details.items():
                lines.append(f"- {agent}: {details.summary()}")
        return "\n".join(lines)

    def _messages(self, query: str) -> list[Message]:
        system = (
            "You route queries to the network of agents best suited to them. NETWORKS:\n"
            f"{self._network_info()}\n\nReply with one JSON object: reasoning, "
            "delegate_to_agent (the network's name), agent_input (the query for it)."
        )
        if self.extra_context:
            system += f"\n\nUSEFUL INFO: {self.extra_context}"
        recent = self.shared_memory["tasks"][-self.network_memory_order :]
        if recent:
            system += "\n\nRECENT TASKS:\n" + "\n".join(
                f"- {t['network']}: {t['query']}" for t in recent
            )
        return [Message("system", system), Message("user", query)]

    async def route(self, query: str) -> tuple[str, str]:
        """The chosen network and the query it gets."""
        networks = list(self.networks)
        with scoped(agent=ROUTER, node=ROUTER):
            decision = await self.oman_llm.decide(
                ModelRequest(
                    component="supervisor",
                    agent_name=ROUTER,
                    messages=self._messages(query),
                    delegates=networks,
                )
            )
            chosen = next(
                (n for n in networks if n.lower() == (decision.delegate_to_agent or "").lower()),
                None,
            )
            if chosen is None:
                raise ConfigError(
                    f"OMAN's router chose {decision.delegate_to_agent!r}, not one of {networks}"
                )
            await emit_event(
                "handoff",
                {"from_agent": ROUTER, "to_agent": chosen, "reason": decision.reasoning},
            )
        return chosen, decision.agent_input or query

    async def adelegate_task(self, query: str) -> str:
        """Route ``query``, run it on the chosen network, return its answer."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("query must be a non-empty string")
        network, task = await self.route(query)
        mas = self.networks[network]
        agents = mas.agentManager.list_agents()
        if not agents:
            raise ConfigError(f"{network} has no agents")
        result = await mas.initiate_decentralized_mas(task, agents[0])
        answer = str(result.get("answer", ""))
        self._remember(query, network, answer, bool(result.get("satisfied", False)))
        return answer

    def delegate_task(self, query: str) -> str:
        """MASAI's blocking call; in async code, ``await adelegate_task(query)``."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.adelegate_task(query))
        raise ConfigError("delegate_task() blocks; inside async code use adelegate_task()")

    def _remember(self, query: str, network: str, answer: str, success: bool) -> None:
        keep = max(self.network_memory_order, 0)
        memory = self.shared_memory
        tasks = [*memory["tasks"], {"query": query, "network": network, "result": answer}]
        outcomes = [*memory["outcomes"], {"network": network, "success": success}]
        memory["tasks"], memory["outcomes"] = (
            tasks[len(tasks) - keep :],
            outcomes[len(outcomes) - keep :],
        )
