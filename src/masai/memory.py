"""Memory: each agent's conversation history per session, and a run's shared key/value memory.

Both sit behind small store interfaces (in-process here; a Redis store plugs in the same way),
and both are keyed so that two sessions or two runs never see each other's data.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ._context import current_scope
from .events import emit_event
from .models import Message

__all__ = (
    "LOCAL_OWNER",
    "InMemorySessionStore",
    "InMemorySharedStore",
    "SessionStore",
    "SharedMemory",
    "SharedStore",
)


#: The owner of sessions created without one: the only user of an in-process program, and of a
#: keyless server (which only listens on loopback).
LOCAL_OWNER = "local"


class SessionStore(Protocol):
    """Conversation history per (owner, session, agent).

    The owner is part of every key: two principals naming the same session id get two
    sessions, so an id is never a way into someone else's history.
    """

    async def load(self, owner: str, session_id: str, agent: str) -> list[Message]: ...

    async def append(
        self, owner: str, session_id: str, agent: str, messages: Sequence[Message], keep: int
    ) -> None: ...


def _size(message: Message) -> int:
    # The text's UTF-8 size plus what a message and its slot cost in CPython, roughly.
    return len(message.content.encode("utf-8", "surrogatepass")) + 120


class _History:
    __slots__ = ("bytes", "messages", "used")

    def __init__(self, keep: int, now: float) -> None:
        self.messages: deque[Message] = deque(maxlen=max(keep, 0))
        self.bytes = 0
        self.used = now


class InMemorySessionStore:
    """Process-local history, bounded three ways so a long-running server's memory is too:
    ``max_bytes`` of message text in all, ``max_sessions`` histories, and ``ttl`` seconds
    unused. Past a bound the least recently used histories go first."""

    def __init__(
        self,
        max_sessions: int = 10_000,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        ttl: float | None = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1 or max_bytes < 1 or (ttl is not None and ttl <= 0):
            raise ValueError("max_sessions and max_bytes must be >= 1, ttl > 0 or None")
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[tuple[str, str, str], _History] = OrderedDict()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    def stats(self) -> dict[str, int]:
        """``{"sessions", "bytes", "max_bytes"}``: what ``/healthz`` reports."""
        return {"sessions": len(self._data), "bytes": self.bytes, "max_bytes": self.max_bytes}

    async def load(self, owner: str, session_id: str, agent: str) -> list[Message]:
        now = self._clock()
        self._expire(now)
        history = self._data.get((owner, session_id, agent))
        if history is None:
            return []
        history.used = now
        self._data.move_to_end((owner, session_id, agent))
        return list(history.messages)

    async def append(
        self, owner: str, session_id: str, agent: str, messages: Sequence[Message], keep: int
    ) -> None:
        now = self._clock()
        key = (owner, session_id, agent)
        history = self._data.get(key)
        if history is None or history.messages.maxlen != max(keep, 0):
            fresh = _History(keep, now)
            if history is not None:
                self._drop(key)
                for message in history.messages:
                    self._add(fresh, message)
            history = self._data[key] = fresh
        for message in messages:
            self._add(history, message)
        history.used = now
        self._data.move_to_end(key)
        self._expire(now)
        while self._data and (len(self._data) > self.max_sessions or self.bytes > self.max_bytes):
            self._drop(next(iter(self._data)))

    def export(self, owner: str, session_id: str, agent: str) -> list[Message]:
        """The history, synchronously (MASAI's ``dump_session`` is a plain call)."""
        history = self._data.get((owner, session_id, agent))
        return list(history.messages) if history is not None else []

    def restore(
        self, owner: str, session_id: str, agent: str, messages: Sequence[Message], keep: int
    ) -> None:
        """Replace the history, synchronously (MASAI's ``load_session``); nothing to keep
        forgets it."""
        if (owner, session_id, agent) in self._data:
            self._drop((owner, session_id, agent))
        if keep <= 0 or not messages:
            return
        history = self._data[(owner, session_id, agent)] = _History(keep, self._clock())
        for message in messages:
            self._add(history, message)

    def _add(self, history: _History, message: Message) -> None:
        if history.messages.maxlen == 0:
            return
        if len(history.messages) == history.messages.maxlen:
            gone = history.messages[0]
            history.bytes -= _size(gone)
            self.bytes -= _size(gone)
        history.messages.append(message)
        history.bytes += _size(message)
        self.bytes += _size(message)

    def _drop(self, key: tuple[str, str, str]) -> None:
        history = self._data.pop(key)
        self.bytes -= history.bytes

    def _expire(self, now: float) -> None:
        """Least recently used first, so the expired ones are at the front."""
        if self.ttl is None:
            return
        while self._data:
            key, oldest = next(iter(self._data.items()))
            if now - oldest.used < self.ttl:
                return
            self._drop(key)


class SharedStore(Protocol):
    """Key/value storage for shared memory, one namespace per run."""

    async def get(self, namespace: str, key: str) -> Any:
        """The value, or ``None`` when the key is not set."""

    async def set(self, namespace: str, key: str, value: Any) -> None: ...

    async def items(self, namespace: str) -> dict[str, Any]: ...

    async def clear(self, namespace: str) -> None: ...


class InMemorySharedStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    async def get(self, namespace: str, key: str) -> Any:
        return self._data.get(namespace, {}).get(key)

    async def set(self, namespace: str, key: str, value: Any) -> None:
        self._data.setdefault(namespace, {})[key] = value

    async def items(self, namespace: str) -> dict[str, Any]:
        return dict(self._data.get(namespace, {}))

    async def clear(self, namespace: str) -> None:
        self._data.pop(namespace, None)


class SharedMemory:
    """What the agents of one run share. Every write is streamed as a ``memory_update`` event
    attributed to the agent that made it."""

    def __init__(self, store: SharedStore | None = None, namespace: str = "run") -> None:
        self.store: SharedStore = store if store is not None else InMemorySharedStore()
        self.namespace = namespace
        self._lock = asyncio.Lock()

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self.store.get(self.namespace, key)
        return default if value is None else value

    async def set(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key:
            raise ValueError("shared memory keys are non-empty strings")
        async with self._lock:  # the event order is the write order
            await self.store.set(self.namespace, key, value)
            agent = current_scope().agent
            await emit_event("memory_update", {"key": key, "value": value, "agent": agent})

    async def items(self) -> dict[str, Any]:
        return await self.store.items(self.namespace)

    async def clear(self) -> None:
        await self.store.clear(self.namespace)
