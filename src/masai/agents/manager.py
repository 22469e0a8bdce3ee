"""AgentManager: MASAI's registry API for creating and finding agents."""

from __future__ import annotations

import json
import logging as _logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..exceptions import AgentNotFound, ConfigError
from ..memory import InMemorySessionStore, SessionStore
from ..models import Model
from ..models._config import model_from_config
from ._approvals import ApprovalPolicy
from ._details import AgentDetails
from .agent import Agent, AgentLimits

__all__ = ("AgentManager",)

logger = _logging.getLogger("masai.agents")

_COMPONENTS = ("router", "evaluator", "reflector", "planner")
#: MASAI's keyword names, accepted so ported code runs unchanged.
_ALIASES = {
    "max_total_tool_calls": "max_tool_calls",
    "max_reflection_count": "max_reflections",
    "max_recursion_limit": "max_steps",
    "execute_multiple_tools": "parallel_tool_calls",
}


class AgentManager:
    """Creates agents that share a default model, a session store and (optionally) a context.

    Models come from ``model`` (one object for every component of every agent), a per-agent
    ``create_agent(model=...)``, or MASAI's JSON config (``model_config_path``) mapping
    ``"all"`` or an agent name to ``{"router"|"evaluator"|"reflector"|"planner":
    {"model_name", "category", ...}}``.
    """

    def __init__(
        self,
        model: Model | Mapping[str, Model] | None = None,
        model_config_path: str | Path | None = None,
        *,
        logging: bool = True,
        context: dict[str, Any] | None = None,
        sessions: SessionStore | None = None,
        user_id: str | int | None = None,
    ) -> None:
        self.model = model
        self.model_config_path = Path(model_config_path) if model_config_path else None
        self._config: dict[str, Any] | None = None
        if self.model_config_path is not None:
            self._config = self._read_config(self.model_config_path)
        self.logging = logging
        self.context = dict(context or {})
        self.sessions: SessionStore = sessions if sessions is not None else InMemorySessionStore()
        self.user_id = user_id
        self.agents: dict[str, Agent] = {}
        self.agent_details: dict[str, AgentDetails] = {}

    def use_sessions(self, store: SessionStore) -> None:
        """Keep conversation memory in ``store`` from now on, for the agents this manager has
        made and will make (a server swaps in a store sized by its settings)."""
        self.sessions = store
        for agent in self.agents.values():
            agent.sessions = store

    @staticmethod
    def _read_config(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"model config file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"model config {path} must be a JSON object")
        return data

    def _models_for(
        self, agent_name: str, model: Model | Mapping[str, Model] | None, plan: bool
    ) -> dict[str, Model]:
        chosen = model if model is not None else self.model
        if isinstance(chosen, Model):
            return dict.fromkeys(_COMPONENTS, chosen)
        if isinstance(chosen, Mapping):
            return dict(chosen)
        if self._config is not None:
            entry = self._config.get(agent_name, self._config.get("all"))
            if not isinstance(entry, dict):
                raise ConfigError(
                    f"no model configuration for agent {agent_name!r} in "
                    f"{self.model_config_path} (add an {agent_name!r} or 'all' entry)"
                )
            needed = [c for c in _COMPONENTS if c != "planner" or plan]
            missing = [c for c in needed if c not in entry]
            if missing:
                raise ConfigError(f"model config for {agent_name!r} lacks {missing}")
            return {c: model_from_config(entry[c]) for c in needed}
        raise ConfigError(
            "no model: pass AgentManager(model=...), create_agent(model=...) or model_config_path"
        )

    def create_agent(
        self,
        agent_name: str,
        tools: Iterable[Any],
        agent_details: AgentDetails,
        *,
        model: Model | Mapping[str, Model] | None = None,
        plan: bool = False,
        memory_order: int = 10,
        max_tool_calls: int | None = 25,
        max_reflections: int = 3,
        max_steps: int = 50,
        run_timeout_seconds: float | None = None,
        tool_timeout_seconds: float | None = 120.0,
        max_tool_output_chars: int = 20_000,
        parallel_tool_calls: bool = False,
        approval_policy: ApprovalPolicy | None = None,
        **masai_kwargs: Any,
    ) -> Agent:
        """Create and register an agent (names are case-insensitive, stored lower-case).

        ``approval_policy(tool_name, arguments) -> bool`` marks the calls of this agent that
        wait for a person's approval (besides those of tools made with ``requires_approval``).
        """
        options: dict[str, Any] = {
            "max_tool_calls": max_tool_calls,
            "max_reflections": max_reflections,
            "max_steps": max_steps,
            "parallel_tool_calls": parallel_tool_calls,
        }
        for key, value in masai_kwargs.items():
            if key == "max_tool_output_words":
                max_tool_output_chars = int(value) * 10
            elif key in _ALIASES:
                options[_ALIASES[key]] = value
            else:
                accepted = sorted([*options, *_ALIASES, "max_tool_output_words"])
                raise ConfigError(f"create_agent() got unknown option {key!r}; known: {accepted}")
        if not isinstance(agent_name, str) or not agent_name.strip():
            raise ConfigError("agent_name must be a non-empty string")
        name = agent_name.strip().lower()
        if name in self.agents:
            raise ConfigError(f"agent {name!r} already exists")
        if not isinstance(agent_details, AgentDetails):
            raise ConfigError("agent_details must be an AgentDetails")
        agent = Agent(
            name,
            models=self._models_for(name, model, plan),
            tools=tools,
            details=agent_details,
            plan=plan,
            sessions=self.sessions,
            memory_order=memory_order,
            limits=AgentLimits(
                max_tool_calls=options["max_tool_calls"],
                max_reflections=options["max_reflections"],
                max_steps=options["max_steps"],
                run_timeout_seconds=run_timeout_seconds,
                tool_timeout_seconds=tool_timeout_seconds,
                max_tool_output_chars=max_tool_output_chars,
            ),
            parallel_tool_calls=bool(options["parallel_tool_calls"]),
            approval_policy=approval_policy,
        )
        self.agents[name] = agent
        self.agent_details[name] = agent_details
        if self.logging:
            logger.info("created agent %s with tools %s", name, list(agent.tools))
        return agent

    def get_agent(self, agent_name: str) -> Agent:
        try:
            return self.agents[agent_name.lower()]
        except KeyError:
            raise AgentNotFound(
                f"no agent named {agent_name!r}; known: {sorted(self.agents)}"
            ) from None

    def list_agents(self) -> list[str]:
        return list(self.agents)

    def remove_agent(self, agent_name: str) -> None:
        self.agents.pop(agent_name.lower(), None)
        self.agent_details.pop(agent_name.lower(), None)
