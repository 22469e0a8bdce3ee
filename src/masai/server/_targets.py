"""What a server can run: agents and multi-agent systems, by name."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal

from ..agents import Agent, AgentManager, RunContext
from ..exceptions import AgentNotFound, ConfigError
from ..memory import SessionStore, SharedStore
from ..streaming import last_update
from ..systems import MultiAgentSystem
from ..tooling import ToolThreads, use_tool_threads

__all__ = ("Registry", "Target", "work_of")

Mode = Literal["decentralized", "sequential", "hierarchical"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Target:
    """One runnable thing: an agent, or a system with its workflow."""

    name: str
    description: str
    agent: Agent | None = None
    system: MultiAgentSystem | None = None
    mode: Mode | None = None
    entry_agent: str | None = None
    sequence: Sequence[str] = ()

    @property
    def kind(self) -> Literal["agent", "system"]:
        return "agent" if self.agent is not None else "system"

    def updates(
        self,
        query: str,
        *,
        session_id: str | None = None,
        entry_agent: str | None = None,
        context: RunContext | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """The run's updates; ``context`` carries the owner, session and history (a server
        sets them per request), ``session_id`` overrides its session."""
        if self.agent is not None:
            return self.agent.initiate_agent_astream(
                query, "user", session_id=session_id, context=context
            )
        assert self.system is not None
        if self.mode == "sequential":
            return self.system.initiate_sequential_mas_astream(
                query, list(self.sequence), session_id=session_id, context=context
            )
        if self.mode == "hierarchical":
            return self.system.initiate_hierarchical_mas_astream(
                query, session_id=session_id, context=context
            )
        entry = entry_agent or self.entry_agent
        if entry is None:
            raise ConfigError(f"system {self.name!r} needs an entry agent")
        return self.system.initiate_decentralized_mas_astream(
            query, entry, session_id=session_id, context=context
        )


def work_of(
    target: Target, query: str, entry_agent: str | None, pool: ToolThreads
) -> Callable[[RunContext], Awaitable[Any]]:
    """A run of ``target`` on ``query`` as ``Runs`` executes it (given the run's context):
    its sync tools on ``pool``, its result the last update."""

    async def work(ctx: RunContext) -> Any:
        use_tool_threads(pool)  # (this task's own context)
        return await last_update(target.updates(query, entry_agent=entry_agent, context=ctx))

    return work


class Registry:
    """The agents (from one manager) and systems a server exposes."""

    def __init__(self, manager: AgentManager, *, default: str | None = None) -> None:
        self.manager = manager
        self.targets: dict[str, Target] = {}
        for name, agent in manager.agents.items():
            self.targets[name] = Target(
                name=name, description=manager.agent_details[name].summary(), agent=agent
            )
        self.default = default

    def add_system(
        self,
        name: str,
        system: MultiAgentSystem,
        *,
        mode: Mode,
        description: str = "",
        entry_agent: str | None = None,
        sequence: Sequence[str] = (),
    ) -> None:
        if name in self.targets:
            raise ConfigError(f"the name {name!r} is already taken")
        agents = self.manager.agents
        if mode == "decentralized" and (entry_agent or "").lower() not in agents:
            raise ConfigError(f"system {name!r}: entry_agent must be one of {sorted(agents)}")
        if mode == "sequential" and (
            not sequence or any(a.lower() not in agents for a in sequence)
        ):
            raise ConfigError(f"system {name!r}: sequence must name agents of {sorted(agents)}")
        if mode == "hierarchical" and system.supervisor is None:
            raise ConfigError(f"system {name!r}: hierarchical needs a supervisor")
        self.targets[name] = Target(
            name=name,
            description=description or f"{mode} system",
            system=system,
            mode=mode,
            entry_agent=entry_agent.lower() if entry_agent else None,
            sequence=[a.lower() for a in sequence],
        )

    def use_stores(self, sessions: SessionStore, shared: SharedStore) -> None:
        """Keep conversations and multi-agent shared memory in these stores (a shared
        backend's), for every agent and system."""
        self.manager.use_sessions(sessions)
        for target in self.targets.values():
            if target.system is not None:
                target.system.shared_store = shared

    def get(self, name: str | None, kind: Literal["agent", "system"] | None = None) -> Target:
        name = name or self.default_for(kind)
        target = self.targets.get(name.lower())
        if target is None or (kind is not None and target.kind != kind):
            known = sorted(n for n, t in self.targets.items() if kind in (None, t.kind))
            raise AgentNotFound(f"no {kind or 'agent or system'} named {name!r}; known: {known}")
        return target

    def default_for(self, kind: Literal["agent", "system"] | None) -> str:
        if self.default and (kind is None or self.targets[self.default].kind == kind):
            return self.default
        for name, target in self.targets.items():
            if kind is None or target.kind == kind:
                return name
        raise AgentNotFound(f"this server has no {kind or 'target'}")

    async def aclose(self) -> None:
        models = {id(m): m for a in self.manager.agents.values() for m in a.models.values()}
        models |= {
            id(t.system.supervisor): t.system.supervisor
            for t in self.targets.values()
            if t.system is not None and t.system.supervisor is not None
        }
        for model in models.values():
            await model.aclose()
