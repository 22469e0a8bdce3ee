"""The answer text of a decision as it is generated, as ``token`` and ``reasoning`` events."""

from __future__ import annotations

from ..events import emit_event
from ..models import AnswerStream

__all__ = ("answer_events",)


def answer_events(*, intermediate: bool = False) -> AnswerStream:
    """An AnswerStream whose text goes out as ``token`` and ``reasoning`` events."""
    if not intermediate:
        return AnswerStream(_emit_token, _emit_reasoning)

    async def emit_intermediate_token(text: str) -> None:
        await emit_event("token", {"content": text}, {"intermediate": True})

    return AnswerStream(emit_intermediate_token, _emit_reasoning)


async def _emit_token(text: str) -> None:
    await emit_event("token", {"content": text})


async def _emit_reasoning(text: str) -> None:
    await emit_event("reasoning", {"reasoning": text})
