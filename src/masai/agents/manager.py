"""AgentManager: MASAI's registry API for creating and finding agents, with MASAI's
signatures (same names, same positional order), so MASAI programs run unchanged.

Where a MASAI option has no meaning here it is accepted and logged once (see ``_options``);
``docs/masai-compat.md`` lists every name of MASAI's API and what masai does with it.
"""

from __future__ import annotations

import logging as _logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import AgentNotFound, ConfigError
from ..memory import LOCAL_OWNER, InMemorySessionStore, SessionStore
from ..models import Message, Model
from ..models._config import ModelConfig, split_config_dict
from ._approvals import ApprovalPolicy
from ._details import AgentDetails
from ._knowledge import ContextCallable, Knowledge, callables
from ._options import AgentOptions, warn_once
from .agent import Agent

__all__ = ("AgentManager",)

logger = _logging.getLogger("masai.agents")

_COMPONENTS = ("router", "evaluator", "reflector", "planner")


class AgentManager:
    """Creates agents that share a default model, a session store and a context.

    Models come from ``model`` (ours: one object for every component of every agent, or a
    mapping per component), a per-agent ``create_agent(model=...)``, or MASAI's
    ``model_config.json`` (``model_config_path``; without one, ``$MASAI_MODEL_CONFIG`` or
    ``./model_config.json``, as MASAI's quick start assumes).

    ``streaming=True`` sends the answer text of every run, as it is written, to
    ``streaming_callback(chunk)`` (sync or async), MASAI's token streaming; masai's own event
    stream (``EnhancedStreamHandler``) works with or without it. ``chat_log`` appends each
    answered question to that file (JSON lines). ``memory_config`` (``QdrantConfig`` or a
    dict) gives the agents long-term memory (``persist_memory``), per ``user_id``.
    """

    def __init__(
        self,
        logging: bool = True,
        context: dict[str, Any] | None = None,
        model_config_path: str | os.PathLike[str] | None = None,
        chat_log: str | os.PathLike[str] | None = None,
        streaming: bool = False,
        streaming_callback: Callable[[str], Any] | None = None,
        user_id: str | int | None = None,
        memory_config: Any = None,
        categories_resolver: Callable[[Any], list[str]] | None = None,
        *,
        model: Model | Mapping[str, Model] | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        if streaming and streaming_callback is None:
            raise ConfigError("streaming=True needs a streaming_callback")
        self.model = model
        # A named file is read now (a mistake shows at once); otherwise ./model_config.json or
        # $MASAI_MODEL_CONFIG is looked for when an agent first needs it, never when every
        # agent has a model of its own.
        self._model_config = ModelConfig.load(model_config_path) if model_config_path else None
        self._look_for_config = model_config_path is None
        self.logging = logging
        self.context: dict[str, Any] = dict(context or {})
        self.chat_log = Path(chat_log) if chat_log else None
        self.streaming = streaming
        self.streaming_callback = streaming_callback if streaming else None
        self.user_id = user_id
        self.memory_config = memory_config
        self.long_term_memory: Any = None
        if memory_config is not None:
            from ..longterm import memory_from_config

            self.long_term_memory = memory_from_config(memory_config, categories_resolver)
        self.sessions: SessionStore = sessions if sessions is not None else InMemorySessionStore()
        self.agents: dict[str, Agent] = {}
        self.agent_details: dict[str, AgentDetails] = {}
        #: MASAI's attribute; masai builds prompts per step, so it holds each agent's details.
        self.agent_prompts: dict[str, str] = {}
        self._warned: set[str] = set()
        #: The agents whose models came from model_config.json (toggle_plan_mode adds theirs).
        self._from_config: set[str] = set()

    @property
    def model_config(self) -> ModelConfig | None:
        """The ``model_config.json`` in use (found on first use when no path was given)."""
        if self._look_for_config:
            self._look_for_config = False
            self._model_config = ModelConfig.load(None)
        return self._model_config

    @property
    def model_config_path(self) -> Path | None:
        return self.model_config.path if self.model_config is not None else None

    def use_sessions(self, store: SessionStore) -> None:
        """Keep conversation memory in ``store`` from now on, for the agents this manager has
        made and will make (a server swaps in a store sized by its settings)."""
        self.sessions = store
        for agent in self.agents.values():
            agent.sessions = store

    # -- models --------------------------------------------------------------------------------
    def _models_for(
        self,
        agent_name: str,
        model: Model | Mapping[str, Model] | None,
        plan: bool,
        options: AgentOptions,
        temperature: float | None,
    ) -> dict[str, Model]:
        chosen = model if model is not None else self.model
        if isinstance(chosen, Model):
            options.check_no_model_params(agent_name)
            return dict.fromkeys(_COMPONENTS, chosen)
        if isinstance(chosen, Mapping):
            options.check_no_model_params(agent_name)
            return dict(chosen)
        config = self.model_config
        if config is None:
            raise ConfigError(
                "no model: pass AgentManager(model=...), create_agent(model=...), "
                "model_config_path, or put a model_config.json in the working directory "
                "(or name one in $MASAI_MODEL_CONFIG)"
            )
        needed = [c for c in _COMPONENTS if c != "planner" or plan]
        per_component, memory = split_config_dict(options.config_dict)
        ignored = {k for c in needed for k in config.agent_options(agent_name, c)}
        ignored |= {k for opts in memory.values() for k in opts}
        if ignored:
            warn_once(
                self._warned,
                "component-memory",
                "per-component memory settings (%s) have no effect: a masai agent keeps one "
                "history, sized by create_agent(memory_order=...)",
                ", ".join(sorted(ignored)),
            )
        base = {"temperature": 0.2 if temperature is None else temperature}
        self._from_config.add(agent_name)
        return config.models_for(
            agent_name, needed, per_component, {**base, **options.model_params}
        )

    # -- agents --------------------------------------------------------------------------------
    def create_agent(
        self,
        agent_name: str,
        tools: Iterable[Any],
        agent_details: AgentDetails,
        memory_order: int = 10,
        long_context: bool = True,
        long_context_order: int = 20,
        shared_memory_order: int = 10,
        shared_long_context_order: int = 5,
        execute_multiple_tools: bool = False,
        plan: bool = False,
        temperature: float | None = None,
        context_callable: ContextCallable | Sequence[ContextCallable] | None = None,
        retain_messages_order: int = 10,
        max_tool_output_words: int | None = None,
        persist_memory: bool | None = None,
        callable_config: Mapping[str, ContextCallable | Sequence[ContextCallable]] | None = None,
        tool_registry: Any = None,
        *,
        model: Model | Mapping[str, Model] | None = None,
        max_tool_calls: int | None = 25,
        max_reflections: int = 3,
        max_steps: int = 50,
        run_timeout_seconds: float | None = None,
        tool_timeout_seconds: float | None = 120.0,
        max_tool_output_chars: int = 20_000,
        parallel_tool_calls: bool | None = None,
        approval_policy: ApprovalPolicy | None = None,
        **masai_kwargs: Any,
    ) -> Agent:
        """Create and register an agent (names are case-insensitive, stored lower-case).

        MASAI's options do what MASAI documents (``docs/masai-compat.md``); the keyword-only
        ones are masai's. ``approval_policy(tool_name, arguments) -> bool`` marks the calls
        that wait for a person's approval (besides tools made with ``requires_approval``).
        """
        name = self._new_name(agent_name, agent_details)
        given = {
            "long_context_order": long_context_order,
            "shared_memory_order": shared_memory_order,
            "shared_long_context_order": shared_long_context_order,
            "retain_messages_order": retain_messages_order,
            **masai_kwargs,
        }
        limits = {
            "max_tool_calls": max_tool_calls,
            "max_reflections": max_reflections,
            "max_steps": max_steps,
            "run_timeout_seconds": run_timeout_seconds,
        }
        options = AgentOptions.parse(given, limits, self._warned)
        if persist_memory and self.long_term_memory is None:
            raise ConfigError(
                "persist_memory=True needs AgentManager(memory_config=...) (a QdrantConfig)"
            )
        if max_tool_output_words is not None:
            max_tool_output_chars = max(int(max_tool_output_words) * 6, 100)
        all_tools = [*tools, *self._registry_tools(tool_registry)]
        models = self._models_for(name, model, plan, options, temperature)
        agent = Agent(
            name,
            models=models,
            tools=all_tools,
            details=agent_details,
            plan=plan,
            sessions=self.sessions,
            memory_order=memory_order,
            limits=options.agent_limits(tool_timeout_seconds, max_tool_output_chars),
            parallel_tool_calls=bool(
                execute_multiple_tools if parallel_tool_calls is None else parallel_tool_calls
            ),
            approval_policy=approval_policy,
            knowledge=self._knowledge(context_callable, callable_config, persist_memory),
            user_id=options.user_id if options.user_id is not None else self.user_id,
            max_tool_loop=options.max_tool_loop,
            streaming_callback=self.streaming_callback,
        )
        del long_context  # old turns leave the history; persist_memory keeps them retrievable
        self.agents[name] = agent
        self.agent_details[name] = agent_details
        self.agent_prompts[name] = agent_details.summary()
        if self.logging:
            logger.info("created agent %s with tools %s", name, list(agent.tools))
        return agent

    def _new_name(self, agent_name: str, agent_details: AgentDetails) -> str:
        if not isinstance(agent_name, str) or not agent_name.strip():
            raise ConfigError("agent_name must be a non-empty string")
        name = agent_name.strip().lower()
        if name in self.agents:
            raise ConfigError(f"agent {name!r} already exists")
        if not isinstance(agent_details, AgentDetails):
            raise ConfigError("agent_details must be an AgentDetails")
        return name

    def _knowledge(
        self,
        context_callable: ContextCallable | Sequence[ContextCallable] | None,
        callable_config: Mapping[str, ContextCallable | Sequence[ContextCallable]] | None,
        persist_memory: bool | None,
    ) -> Knowledge:
        """An agent's context sources; ``persist_memory=None`` means on with a memory."""
        return Knowledge(
            info=dict(self.context),
            on_user_query=callables(context_callable),
            per_node={k: callables(v) for k, v in (callable_config or {}).items()},
            long_term=self.long_term_memory,
            persist=self.long_term_memory is not None and persist_memory is not False,
            chat_log=self.chat_log,
        )

    @staticmethod
    def _registry_tools(registry: Any) -> list[Any]:
        """A ``ToolRegistry``'s discovery tool and the tools it can find (MASAI's dynamic
        tools): the agent sees them all and can search them by description."""
        if registry is None:
            return []
        found = getattr(registry, "get_discovery_tool", None)
        listed = getattr(registry, "all_tools", None)
        if not callable(found) or not callable(listed):
            raise ConfigError("tool_registry must be a masai.Tools.ToolRegistry.ToolRegistry")
        return [found(), *listed()]

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
        self.agent_prompts.pop(agent_name.lower(), None)

    def update_tools(
        self, new_tools: list[Any], mode: str = "append", agent_name: str | None = None
    ) -> dict[str, Any]:
        """Add to (``"append"``: a tool of the same name is replaced) or replace
        (``"overwrite"``) an agent's tools; its next step sees them. Returns its tools."""
        if not agent_name:
            raise ConfigError(f"update_tools needs agent_name, one of {sorted(self.agents)}")
        if mode not in ("append", "overwrite"):
            raise ConfigError("mode must be 'append' or 'overwrite'")
        if not isinstance(new_tools, list) or not new_tools:
            raise ConfigError("new_tools must be a non-empty list")
        agent = self.get_agent(agent_name)
        agent.set_tools(new_tools, replace=mode == "overwrite")
        return dict(agent.tools)

    def update_context(self, new_context: dict[str, Any], agent_name: str | None = None) -> None:
        """Merge ``new_context`` into the manager's context and one agent's (or all)."""
        self.context.update(new_context)
        targets = [self.get_agent(agent_name)] if agent_name else list(self.agents.values())
        for agent in targets:
            agent.set_context(new_context, mode="update")

    def toggle_plan_mode(self, agent_name: str, enable: bool | None = None, **kwargs: Any) -> bool:
        """Turn an agent's planner on or off (``None`` flips it); returns the new state."""
        agent = self.get_agent(agent_name)
        on = (not agent.plan) if enable is None else bool(enable)
        if on and "planner" not in agent.models:
            per_component, _ = split_config_dict(dict(kwargs.get("config_dict") or {}))
            config = self.model_config if agent.name in self._from_config else None
            if config is None:  # a model object: the same one plans
                agent.models["planner"] = agent.models["router"]
            else:
                agent.models.update(config.models_for(agent.name, ["planner"], per_component, {}))
        agent.plan = on
        return on

    # -- sessions (MASAI's dump/load, for an app that keeps them itself) ----------------------
    def session_key(self, agent_name: str | None = None) -> str:
        """The storage key of this manager's user (and agent): one per user, never shared."""
        if not self.user_id:
            raise ConfigError("session_key needs AgentManager(user_id=...)")
        base = f"masai:session:{self.user_id}"
        return f"{base}:{agent_name.lower()}" if agent_name else base

    def _store(self) -> InMemorySessionStore:
        if not isinstance(self.sessions, InMemorySessionStore):
            raise ConfigError("dump_session/load_session work with the in-process session store")
        return self.sessions

    def dump_session(self, agent_name: str | None = None) -> dict[str, Any]:
        """The conversation state (context and each agent's history), JSON-safe."""
        store = self._store()
        names = [self.get_agent(agent_name).name] if agent_name else list(self.agents)
        return {
            "version": 1,
            "user_id": self.user_id,
            "context": dict(self.context),
            "agents": {
                n: {
                    "history": [
                        {"role": m.role, "content": m.content}
                        for m in store.export(LOCAL_OWNER, "default", n)
                    ]
                }
                for n in names
            },
        }

    def load_session(self, session: dict[str, Any] | None) -> None:
        """Restore ``dump_session()`` output; a malformed or foreign one is ignored (logged),
        as MASAI does, so a cache miss can be passed straight in."""
        if not isinstance(session, dict) or session.get("version") != 1:
            if session is not None:
                logger.warning("load_session: ignoring a snapshot masai did not write")
            return
        if isinstance(session.get("context"), dict):
            self.update_context(session["context"])
        store = self._store()
        agents = session.get("agents")
        for name, saved in agents.items() if isinstance(agents, dict) else ():
            agent = self.agents.get(str(name).lower())
            history = saved.get("history") if isinstance(saved, dict) else None
            if agent is None or not isinstance(history, list):
                continue
            messages = [
                Message(m["role"], str(m["content"]))
                for m in history
                if isinstance(m, dict) and m.get("role") in ("user", "assistant")
            ]
            store.restore(LOCAL_OWNER, "default", agent.name, messages, agent.memory_order)

    def cleanup(self) -> None:
        """Forget every agent and this manager's local conversations (MASAI's teardown)."""
        store = self.sessions
        if isinstance(store, InMemorySessionStore):
            for name in self.agents:
                store.restore(LOCAL_OWNER, "default", name, [], 0)
        self.agents.clear()
        self.agent_details.clear()
        self.agent_prompts.clear()
