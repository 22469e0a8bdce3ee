"""MultiAgentSystem: MASAI's API for running agents together, streamed.

The instance is configuration (the manager's agents, limits, the supervisor model); every call
builds its own run, so one instance serves concurrent users. Continuity across calls comes from
``session_id`` (each agent's history). Only direct, in-process calls (no ``context``) keep
MASAI's ``mas.state`` and, as MASAI documents, start the next decentralized run with the agent
that finished the last one; a server's runs never share it.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from .._updates import unwrap_state
from ..agents import Agent, AgentManager, RunContext
from ..exceptions import ConfigError
from ..memory import InMemorySharedStore, SharedStore
from ..models import Message, Model
from ..models._config import model_from_config
from . import _workflows
from ._run import END, MasRun

__all__ = ("MultiAgentSystem", "SupervisorConfig")

logger = logging.getLogger("masai.systems")

DEFAULT_SUPERVISOR_PROMPT = (
    "You are the supervisor of a team of AI agents. Break the user's task into sub-tasks, give "
    "each to the agent best suited, review what comes back, and answer the user when the work "
    "is done."
)


@dataclasses.dataclass
class SupervisorConfig:
    """MASAI's supervisor settings; ``model`` (ours) takes a ready model, e.g. for tests."""

    model_name: str = ""
    temperature: float = 0.2
    model_category: str = "openai"
    memory_order: int = 10
    memory: bool = True
    extra_context: dict[str, Any] | None = None
    supervisor_system_prompt: str | None = None
    model: Model | None = None

    def build(self) -> Model:
        if self.model is not None:
            return self.model
        if not self.model_name:
            raise ConfigError("SupervisorConfig needs model_name (or model)")
        return model_from_config(
            {
                "model_name": self.model_name,
                "category": self.model_category,
                "temperature": self.temperature,
            }
        )


def fresh_state() -> dict[str, Any]:
    """MASAI's ``mas.state`` before any run (assign it to reset)."""
    return {
        "last_agent_answers": [],
        "last_agent": None,
        "last_agent_input": None,
        "agent_reasoning": None,
        "pending_tasks": {},
    }


class MultiAgentSystem:
    def __init__(
        self,
        agentManager: AgentManager,  # MASAI's spelling
        supervisor_config: SupervisorConfig | None = None,
        heirarchical_mas_result_callback: Callable[[dict[str, Any]], Any] | None = None,
        agent_return_direct: bool = False,
        *,
        max_hops: int = 8,
        max_repeated_handoffs: int = 2,
        max_rounds: int = 8,
        shared_store: SharedStore | None = None,
    ) -> None:
        if not isinstance(agentManager, AgentManager):
            raise ConfigError("agentManager must be an AgentManager")
        if max_hops < 0 or max_repeated_handoffs < 1 or max_rounds < 1:
            raise ConfigError("max_hops >= 0, max_repeated_handoffs >= 1, max_rounds >= 1")
        self.agentManager = agentManager
        self.supervisor: Model | None = supervisor_config.build() if supervisor_config else None
        self.supervisor_prompt = (
            supervisor_config.supervisor_system_prompt if supervisor_config else None
        ) or DEFAULT_SUPERVISOR_PROMPT
        self.mode = "hierarchical" if self.supervisor else "decentralized"
        #: MASAI's ``SupervisorConfig.extra_context``: useful information for the supervisor.
        self.supervisor_context = dict(
            (supervisor_config.extra_context or {}) if supervisor_config else {}
        )
        #: MASAI's supervisor memory (``memory``, ``memory_order``): the last tasks and their
        #: answers, for direct in-process calls only (a server's runs never share it).
        self.supervisor_memory_order = (
            supervisor_config.memory_order if supervisor_config and supervisor_config.memory else 0
        )
        self.supervisor_history: list[Message] = []
        self.result_callback = heirarchical_mas_result_callback
        self.agent_return_direct = agent_return_direct
        self.max_hops = max_hops
        self.max_repeated_handoffs = max_repeated_handoffs
        self.max_rounds = max_rounds
        self.shared_store: SharedStore = shared_store or InMemorySharedStore()
        #: MASAI's record of the last direct (in-process) run; a server's runs, which carry
        #: their own context, never touch it, so callers never see each other's answers.
        self.state: dict[str, Any] = fresh_state()
        #: MASAI's ids of the hierarchical tasks run so far.
        self.task_ids: list[str] = []

    def _record(self, final: Mapping[str, Any], context: RunContext | None) -> None:
        """Keep ``state`` as MASAI does after a direct run (answers: the last five)."""
        if context is not None:
            return
        answers = [*self.state.get("last_agent_answers", []), final.get("answer", "")]
        self.state.update(
            last_agent=final.get("last_agent"),
            last_agent_answers=answers[-5:],
            last_agent_input=final.get("answer", ""),
            agent_reasoning=final.get("reasoning", ""),
        )
        if final.get("mode") != "hierarchical":
            return
        if final.get("task_id"):
            self.task_ids.append(str(final["task_id"]))
        if self.supervisor_memory_order > 0:
            turn = [
                Message("user", str(final.get("original_query", ""))),
                Message("assistant", str(final.get("answer", ""))),
            ]
            keep = 2 * self.supervisor_memory_order
            self.supervisor_history = [*self.supervisor_history, *turn][-keep:]

    # -- helpers -------------------------------------------------------------------------------
    def _agent(self, agent: Agent | str) -> Agent:
        if isinstance(agent, Agent):
            if self.agentManager.agents.get(agent.name) is not agent:
                raise ConfigError(f"agent {agent.name!r} is not managed by this system's manager")
            return agent
        return self.agentManager.get_agent(agent)

    def _run(
        self,
        query: str,
        session_id: str | None,
        context: RunContext | None,
        *,
        delegation: bool,
    ) -> MasRun:
        """A fresh run. Agents see co-workers to delegate to only where delegation decides the
        flow (decentralized); in a fixed sequence or under a supervisor they just do the task.
        ``context`` carries what the caller gives every agent (owner, history, deps)."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("query must be a non-empty string")
        return MasRun.start(
            query,
            session_id=session_id,
            coworkers=self.agentManager.agent_details if delegation else {},
            store=self.shared_store,
            base=context,
        )

    @staticmethod
    async def _drain(updates: AsyncIterator[tuple[str, Any]]) -> dict[str, Any]:
        final: dict[str, Any] = {}
        async for update in updates:
            final = dict(unwrap_state(update))
        return final

    # -- decentralized -------------------------------------------------------------------------
    async def initiate_decentralized_mas_astream(
        self,
        query: str,
        set_entry_agent: Agent | str,
        memory_order: int = 3,
        passed_from: str = "user",
        *,
        session_id: str | None = None,
        max_hops: int | None = None,
        context: RunContext | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """Every agent update as it happens, then ``("updates", {"__end__": final})``.

        As in MASAI, a direct call after an earlier one starts with the agent that finished
        it (``state["last_agent"]``); reset ``mas.state`` to start from ``set_entry_agent``.
        A call with ``session_id`` (masai's) always starts at ``set_entry_agent``."""
        entry = self._agent(set_entry_agent)
        last = self.state.get("last_agent")
        direct = context is None and session_id is None
        if direct and isinstance(last, str) and last in self.agentManager.agents:
            entry = self.agentManager.agents[last]
        run = self._run(query, session_id, context, delegation=True)
        try:
            async for update in _workflows.decentralized(
                self,
                run,
                entry,
                passed_from=passed_from,
                memory_order=memory_order,
                max_hops=self.max_hops if max_hops is None else max_hops,
                max_repeats=self.max_repeated_handoffs,
            ):
                yield update
            final = await run.final("decentralized")
            self._record(final[1][END], context)
            yield final
        finally:
            await run.ctx.shared.clear()

    async def initiate_decentralized_mas(
        self,
        query: str,
        set_entry_agent: Agent | str,
        memory_order: int = 3,
        passed_from: str = "user",
        *,
        session_id: str | None = None,
        max_hops: int | None = None,
        context: RunContext | None = None,
    ) -> dict[str, Any]:
        """Run to the end; the final state (answer, stop_reason, chain, answers, …)."""
        return await self._drain(
            self.initiate_decentralized_mas_astream(
                query,
                set_entry_agent,
                memory_order,
                passed_from,
                session_id=session_id,
                max_hops=max_hops,
                context=context,
            )
        )

    # -- sequential ----------------------------------------------------------------------------
    async def initiate_sequential_mas_astream(
        self,
        query: str,
        agent_sequence: Sequence[Agent | str],
        memory_order: int = 3,
        *,
        session_id: str | None = None,
        context: RunContext | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        if not agent_sequence:
            raise ConfigError("agent_sequence must name at least one agent")
        sequence = [self._agent(a) for a in agent_sequence]  # unknown names fail before running
        run = self._run(query, session_id, context, delegation=False)
        try:
            async for update in _workflows.sequential(
                self, run, sequence, memory_order=memory_order
            ):
                yield update
            final = await run.final("sequential")
            self._record(final[1][END], context)
            yield final
        finally:
            await run.ctx.shared.clear()

    async def initiate_sequential_mas(
        self,
        query: str,
        agent_sequence: Sequence[Agent | str],
        memory_order: int = 3,
        *,
        session_id: str | None = None,
        context: RunContext | None = None,
    ) -> str:
        """MASAI's contract: the last agent's answer."""
        final = await self._drain(
            self.initiate_sequential_mas_astream(
                query, agent_sequence, memory_order, session_id=session_id, context=context
            )
        )
        return str(final.get("answer", ""))

    # -- hierarchical --------------------------------------------------------------------------
    async def initiate_hierarchical_mas_astream(
        self, query: str, *, session_id: str | None = None, context: RunContext | None = None
    ) -> AsyncIterator[tuple[str, Any]]:
        if self.supervisor is None:
            raise ConfigError("hierarchical runs need MultiAgentSystem(supervisor_config=...)")
        run = self._run(query, session_id, context, delegation=False)
        try:
            async for update in _workflows.hierarchical(
                self, run, max_rounds=self.max_rounds, return_direct=self.agent_return_direct
            ):
                yield update
            final = await run.final("hierarchical")
            self._record(final[1][END], context)
            if self.result_callback is not None:
                result = self.result_callback(final[1][END])
                if inspect.isawaitable(result):
                    await result
            yield final
        finally:
            await run.ctx.shared.clear()

    async def initiate_hierarchical_mas(
        self, query: str, *, session_id: str | None = None, context: RunContext | None = None
    ) -> dict[str, Any]:
        return await self._drain(
            self.initiate_hierarchical_mas_astream(query, session_id=session_id, context=context)
        )
