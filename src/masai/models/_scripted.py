"""Deterministic models for offline runs and tests (like PydanticAI's TestModel/FunctionModel)."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from ..exceptions import ConfigError, ScriptExhausted
from ._base import Decision, Model, ModelRequest

__all__ = ("FunctionModel", "ScriptedModel")

Turn = Mapping[str, Any] | Decision | str
_PIECES = re.compile(r"\s*\S+|\s+")


async def stream_answer(request: ModelRequest, decision: Decision, delay: float) -> None:
    """Feed a decision's answer to the request word by word, as a real model would, and count
    tokens roughly (4 characters each) so usage reporting works offline too."""
    prompt = sum(len(m.content) for m in request.messages)
    request.usage.add(prompt // 4 + 1, len(decision.model_dump_json()) // 4 + 1)
    request.answer.preview(
        satisfied=decision.satisfied,
        has_tool=bool(decision.calls),
        delegates=bool(decision.delegate_to_agent),
        reasoning=decision.reasoning,
    )
    for piece in _PIECES.findall(decision.answer or ""):
        await request.answer.delta(piece)
        await asyncio.sleep(delay)


def _decision(turn: Turn, where: str) -> Decision:
    try:
        return Decision.parse(turn)
    except Exception as exc:
        raise ConfigError(f"{where} is not a valid decision: {exc}") from exc


class ScriptedModel(Model):
    """Plays back a list of turns: each call (any component, any agent) takes the next one.

    A turn is a mapping of decision fields (``reasoning``, ``satisfied``, ``tool``,
    ``tool_input``, ``tool_calls``, ``delegate_to_agent``, ``answer``). Answers are streamed a
    word at a time (``token_delay`` seconds apart), so token streaming works offline.
    """

    def __init__(
        self, turns: Iterable[Turn], *, name: str = "scripted", token_delay: float = 0.0
    ) -> None:
        self.name = name
        self.token_delay = token_delay
        self._turns = deque(_decision(t, f"turn {i}") for i, t in enumerate(turns))
        #: Every request seen, in order (for tests and debugging).
        self.requests: list[ModelRequest] = []

    @property
    def remaining(self) -> int:
        return len(self._turns)

    async def decide(self, request: ModelRequest) -> Decision:
        self.requests.append(request)
        if not self._turns:
            raise ScriptExhausted(
                f"{self.name}: no turn left for call {len(self.requests)} "
                f"({request.component} of agent {request.agent_name!r})"
            )
        decision = self._turns.popleft()
        await stream_answer(request, decision, self.token_delay)
        return decision


class FunctionModel(Model):
    """Calls ``fn(request)`` (sync or async) for each turn; it returns a turn as above. An
    unusable return value is a ``ModelOutputError``, as malformed output from a real model."""

    def __init__(
        self,
        fn: Callable[[ModelRequest], Turn | Awaitable[Turn]],
        *,
        name: str | None = None,
        token_delay: float = 0.0,
    ) -> None:
        self.fn = fn
        self.name = name or str(getattr(fn, "__name__", "function"))
        self.token_delay = token_delay

    async def decide(self, request: ModelRequest) -> Decision:
        turn = self.fn(request)
        if inspect.isawaitable(turn):
            turn = await turn
        decision = Decision.parse(turn)  # unusable → ModelOutputError
        await stream_answer(request, decision, self.token_delay)
        return decision
