"""The answer text of a decision as it is generated, as ``token`` and ``reasoning`` events."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from .._context import current_sink
from ..events import StreamingEvent, clear_streaming_callback, emit_event, set_streaming_callback
from ..models import AnswerStream

__all__ = ("answer_events", "forward_answer")


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


@contextlib.contextmanager
def forward_answer(callback: Callable[[str], Any] | None) -> Iterator[None]:
    """MASAI's ``streaming_callback``: while an agent step runs with no event stream of its
    own (a plain program), its answer text goes to ``callback`` as it is written; a step
    whose model does not stream sends its answer whole. Entered per step, never across a
    yield, so the binding never leaks into the caller's code."""
    if callback is None or current_sink() is not None:
        yield
        return
    streamed = False

    async def forward(event: StreamingEvent) -> None:
        nonlocal streamed
        text = None
        if event.event_type == "token" and not event.metadata.get("intermediate"):
            text, streamed = event.data.get("content"), True
        elif event.event_type == "answer" and not streamed:
            text = event.data.get("answer")
        if text:
            result = callback(text)
            if inspect.isawaitable(result):
                await result

    token = set_streaming_callback(forward)
    try:
        yield
    finally:
        clear_streaming_callback(token)
