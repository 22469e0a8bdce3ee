"""What a run carries besides its messages, reachable from tools via ``get_run_context()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from .._context import current_scope
from ..memory import LOCAL_OWNER, SharedMemory
from ..models import Message, Usage
from ._approvals import Approvals
from ._details import AgentDetails
from ._journal import Journal

__all__ = ("RunContext", "get_run_context")


@dataclasses.dataclass(kw_only=True)
class RunContext:
    """One run's context, shared by the agents of a multi-agent run (never across runs).

    ``coworkers`` are the agents the running agent may hand the task to (set by a multi-agent
    system); ``agent_path`` the agents enclosing this run, outermost first; ``intermediate``
    marks a run whose answer feeds another agent rather than the user (its answer and tokens
    carry ``metadata.intermediate``); ``usage`` adds up every model call of the run; ``deps``
    is whatever the application wants its tools to reach (a database handle, the user).

    ``owner`` and ``session_id`` name the conversation memory the agents read and add to (a
    server sets the owner to the caller's principal, so one principal never sees another's
    session). ``history``, when given, is the conversation so far supplied by the caller (an
    OpenAI-style client sends it with every request): it replaces the stored history, and
    ``remember=False`` keeps the turn out of the store.

    ``approvals`` is the channel to whoever approves tool calls that need a person (set by
    whatever runs the agent and can reach one, such as a server's ``Runs``); without it such
    calls are denied, never run unapproved.

    ``journal``, when given, makes the run durable (see ``masai.agents.Journal``): completed
    steps are recorded, and a re-run of the run after a crash replays them instead of calling
    the model or the tools again. Nested and multi-agent runs share it through ``child``.
    """

    session_id: str = "default"
    owner: str = LOCAL_OWNER
    history: tuple[Message, ...] | None = None
    remember: bool = True
    shared: SharedMemory = dataclasses.field(default_factory=SharedMemory)
    coworkers: Mapping[str, AgentDetails] = dataclasses.field(default_factory=dict)
    agent_path: tuple[str, ...] = ()
    intermediate: bool = False
    usage: Usage = dataclasses.field(default_factory=Usage)
    deps: Any = None
    approvals: Approvals | None = None
    journal: Journal | None = None
    #: Told of each model call of the run (model name, seconds): a server's metrics.
    on_model_call: Callable[[str, float], None] | None = None

    def child(self, **changes: Any) -> RunContext:
        return dataclasses.replace(self, **changes)


def get_run_context() -> RunContext | None:
    """The context of the agent run the caller is part of (inside a tool), else ``None``."""
    run = current_scope().run
    return run if isinstance(run, RunContext) else None
