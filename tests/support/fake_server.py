"""What the fake provider servers share: requests are recorded, replies come from a script."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class DroppedConnection(Exception):
    """Raised inside a streaming body: the server aborts the connection mid-response."""


@dataclasses.dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


class ScriptedFake(Generic[R]):
    """Records every request and answers each with the next scripted reply (``no_reply()``
    once the script runs out)."""

    def __init__(self, no_reply: Callable[[], R]) -> None:
        self.requests: list[Recorded] = []
        self.url = ""
        self._replies: collections.deque[R] = collections.deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._no_reply = no_reply

    def reset(self) -> None:
        """Forget recorded requests and unused replies (between tests sharing a server)."""
        with self._lock:
            self._replies.clear()
            self.requests.clear()

    def script(self, *replies: R) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    def _next(self) -> R:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        return self._no_reply()


async def before_step(reply: Any, step: int) -> None:
    """A scripted stream's controls before ``step``: cut the connection, or hold at a gate
    (bounded, so a failing test that never opens it cannot hang)."""
    if step == reply.drop_at:
        raise DroppedConnection
    if reply.gate is not None and step == reply.gate_at:
        await asyncio.to_thread(reply.gate.wait, 10)
