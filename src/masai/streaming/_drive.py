"""Turning "run this agent" into a coroutine a stream can execute.

masai's own agents emit every event themselves (reasoning as each decision is parsed, tokens as
the model writes, the answer at the end); the stream only has to drive them. Any other object
with ``agent_name`` and MASAI's ``initiate_agent_astream`` (for instance an agent from the
original MASAI) is supported the way the reference did it: reasoning and the final answer are
derived from the state updates it yields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .._context import agent_scope, scoped
from .._updates import unwrap_state
from ..events import emit_event

__all__ = ("agent_runner", "last_update", "unwrap_state")


async def last_update(outcome: Any) -> Any:
    """What a run's work returned: awaited if it is a coroutine, else iterated to its last
    update (a stream of updates, MASAI's shape)."""
    if not hasattr(outcome, "__anext__"):
        return await outcome
    final = None
    async for update in outcome:
        final = update
    return final


def agent_runner(
    agent: Any, query: str, passed_from: str = "user", **kwargs: Any
) -> Callable[[], Awaitable[Any]]:
    astream = getattr(agent, "initiate_agent_astream", None)
    if not callable(astream):
        raise TypeError(
            f"{type(agent).__name__} cannot be streamed: it has no initiate_agent_astream()"
        )
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")

    if getattr(agent, "__masai_emits_events__", False):

        async def drive() -> Any:
            final = None
            async for update in astream(query, passed_from=passed_from, **kwargs):
                final = update
            return unwrap_state(final)

        return drive

    name = str(getattr(agent, "agent_name", None) or type(agent).__name__)

    async def derive() -> Any:
        with agent_scope(name):
            return await derive_events(astream(query, passed_from=passed_from, **kwargs))

    return derive


async def derive_events(updates: AsyncIterator[Any]) -> Mapping[str, Any] | None:
    """Reasoning whenever it changes, the answer once at the end (with ``satisfied``)."""
    final: Mapping[str, Any] | None = None
    last_reasoning = None
    answer = None
    async for update in updates:
        state = unwrap_state(update)
        if not isinstance(state, Mapping) or not state:
            continue
        final = state
        reasoning = state.get("reasoning")
        if reasoning and reasoning != last_reasoning:
            last_reasoning = reasoning
            with scoped(node=state.get("current_node")):
                await emit_event("reasoning", {"reasoning": reasoning})
        if state.get("answer"):
            answer = state["answer"]
    if answer and final is not None:
        with scoped(node=final.get("current_node")):
            await emit_event(
                "answer", {"answer": answer, "satisfied": bool(final.get("satisfied", False))}
            )
    return final
