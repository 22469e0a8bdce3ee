"""Shared pieces of the provider-adapter tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from masai.models import AnswerStream, Message, ModelRequest, ToolSpec
from masai.models._retry import RetryPolicy

FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01)
SEARCH = ToolSpec(
    "search",
    "Search the web.",
    {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
)
CLOCK = ToolSpec("clock", "The time now.", {"type": "object", "properties": {}})
# Escapes of every kind, so that small pieces split them: \" \\ \n \t \u00e9 and a surrogate pair.
ANSWER = 'Line one\nShe said "hi" \\ then\ttabbed — café, naïve, 😀 and 🎉; the end.'


class Recorder:
    """An AnswerStream emit callback that keeps what reached the client."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    async def __call__(self, text: str) -> None:
        self.pieces.append(text)


def decision_json(**fields: Any) -> str:
    """A decision as a model writes it: every field, in schema order, non-ASCII escaped."""
    full = {
        "reasoning": "",
        "satisfied": False,
        "tool": None,
        "tool_input": None,
        "delegate_to_agent": None,
        "answer": None,
    }
    return json.dumps({**full, **fields})


def make_request(
    *,
    emit: Recorder | None = None,
    messages: Sequence[Message] = (Message("system", "You are a test."), Message("user", "Hi")),
    tools: Sequence[ToolSpec] = (),
    delegates: Sequence[str] = (),
    parallel: bool = False,
) -> ModelRequest:
    return ModelRequest(
        component="router",
        agent_name="tester",
        messages=messages,
        tools=tools,
        delegates=delegates,
        parallel_tool_calls=parallel,
        answer=AnswerStream(emit),
    )


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)
